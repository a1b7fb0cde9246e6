package alertsrc

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/detectors"
)

var t0 = time.Date(2025, 12, 11, 23, 40, 0, 0, time.UTC)

// siemMapping reads the fake SIEM's own alert shape.
var siemMapping = Mapping{Rule: "alert.name", RuleID: "alert.id", Time: "ts", Level: "alert.severity", RunID: "context.run",
	Keys: map[string]string{"user.name": "context.user", "source.ip": "context.src"}}

// TestWebhookFakeSIEM has a separate process, built from testdata/fakesiem,
// post alerts to the webhook: one for this run, one for another run (to be
// ignored), and one that arrives only after polling has started.
func TestWebhookFakeSIEM(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "fakesiem")
	build := exec.Command("go", "build", "-o", bin, "./testdata/fakesiem")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	const runID = "md-ministry-overnight-8db0faa3"
	wh := &Webhook{Mapping: siemMapping, RunID: runID, Token: "s3cret"}
	require.NoError(t, wh.Listen("127.0.0.1:0"))
	t.Cleanup(func() { wh.Close() })

	started := filepath.Join(dir, "polling")
	siem := exec.Command(bin, "-url", wh.URL(), "-run-id", runID, "-token", "s3cret", "-start", t0.Format(time.RFC3339), "-late-after", started)
	var siemErr bytes.Buffer
	siem.Stderr = &siemErr
	require.NoError(t, siem.Start())
	done := make(chan error, 1)
	go func() { done <- siem.Wait() }()
	t.Cleanup(func() {
		if siem.ProcessState == nil {
			siem.Process.Kill()
		}
	})

	// Wait for the first post, as a run would while its attack plays.
	require.Eventually(t, func() bool { a, o, _ := wh.Counts(); return a+o == 2 }, 20*time.Second, 10*time.Millisecond)

	var mu sync.Mutex
	var perPoll []int
	alerts, err := Poll(context.Background(), []Source{wh}, PollOptions{
		Deadline: 20 * time.Second, Interval: 50 * time.Millisecond,
		Done: func(as []detectors.Alert) bool { return len(as) >= 2 },
		Progress: func(poll int, as []detectors.Alert) {
			mu.Lock()
			defer mu.Unlock()
			perPoll = append(perPoll, len(as))
			if poll == 1 {
				require.NoError(t, os.WriteFile(started, nil, 0o644))
			}
		},
	})
	require.NoError(t, err)
	require.NoError(t, <-done, siemErr.String())
	require.Len(t, alerts, 2)
	assert.Equal(t, 1, perPoll[0], "the late alert was not there when polling started")
	assert.Greater(t, len(perPoll), 1)

	a := alerts[0]
	assert.Equal(t, "Spray detected", a.Title)
	assert.Equal(t, "Spray detected", a.RuleName)
	assert.Equal(t, "high", a.Level)
	assert.Equal(t, "outside", a.Type)
	assert.True(t, a.Time.Equal(t0.Add(2*time.Minute)), a.Time)
	assert.Equal(t, map[string]string{"user.name": "director", "source.ip": "185.220.101.34"}, a.Group)
	assert.Equal(t, "Mass download", alerts[1].Title)
	assert.True(t, alerts[1].Time.Equal(t0.Add(20*time.Minute)))

	accepted, other, rejected := wh.Counts()
	assert.Equal(t, 2, accepted)
	assert.Equal(t, 1, other, "the other run's alert is ignored")
	assert.Zero(t, rejected)
}

func TestWebhookRefuses(t *testing.T) {
	wh := &Webhook{Mapping: Mapping{}, RunID: "r1", Token: "tok"}
	require.NoError(t, wh.Listen("127.0.0.1:0"))
	t.Cleanup(func() { wh.Close() })
	post := func(token, body string) int {
		req, _ := http.NewRequest(http.MethodPost, wh.URL(), strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusUnauthorized, post("", `{}`))
	assert.Equal(t, http.StatusUnauthorized, post("nope", `{}`))
	assert.Equal(t, http.StatusBadRequest, post("tok", `{not json`))
	assert.Equal(t, http.StatusBadRequest, post("tok", `{"labels":{"run_id":"r1"},"@timestamp":"2025-12-11T23:40:00Z"}`), "no rule name")
	assert.Equal(t, http.StatusAccepted, post("tok", `{"rule.name":"A","@timestamp":"2025-12-11T23:40:00Z","labels.run_id":"r1"}`+"\n"+
		`{"rule":{"name":"B"},"@timestamp":"2025-12-11T23:41:00+01:00"}`+"\n"))
	resp, err := http.Get(wh.URL())
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	a, _, rejected := wh.Counts()
	assert.Equal(t, 2, a, "JSON lines; a flat and a nested alert; no run id is accepted by default")
	assert.Equal(t, 2, rejected)
}

func TestMapping(t *testing.T) {
	m, err := ParseMapping("rule=alert.name, time=ts, time_layout=2006-01-02 15:04:05, run_id=ctx.run, key.user.name=user, level=sev")
	require.NoError(t, err)
	assert.Equal(t, Mapping{Rule: "alert.name", Time: "ts", TimeLayout: "2006-01-02 15:04:05", RunID: "ctx.run", Level: "sev",
		Keys: map[string]string{"user.name": "user"}}, m)
	_, err = ParseMapping("colour=red")
	assert.ErrorContains(t, err, "unknown name")
	_, err = ParseMapping("rule")
	assert.Error(t, err)
	_, err = ParseMapping("rule=a.name, key.user=u, rule=b.name")
	assert.ErrorContains(t, err, "rule given twice", "the first would be dropped without a word")
	_, err = ParseMapping("key.user=u,key.user=v")
	assert.ErrorContains(t, err, "key.user given twice")

	a, err := m.Convert(map[string]any{"alert": map[string]any{"name": "X"}, "ts": "2025-12-11 23:40:05", "ctx": map[string]any{"run": "r"}, "user": "dir", "sev": "low"}, "r")
	require.NoError(t, err)
	assert.True(t, a.Time.Equal(t0.Add(5*time.Second)))
	assert.Equal(t, map[string]string{"user.name": "dir"}, a.Group)
	assert.Equal(t, "X", a.RuleID, "without an id, the name")

	_, err = m.Convert(map[string]any{"alert.name": "X", "ts": "2025-12-11 23:40:05", "ctx.run": "other"}, "r")
	assert.ErrorIs(t, err, ErrOtherRun)
	strict := Mapping{RequireRunID: true}
	_, err = strict.Convert(map[string]any{"rule.name": "X", "@timestamp": "2025-12-11T23:40:00Z"}, "r")
	assert.ErrorIs(t, err, ErrOtherRun, "RequireRunID drops alerts without a run id")

	for _, c := range []struct {
		v    any
		want time.Time
	}{
		{"2025-12-11T23:40:00Z", t0}, {float64(t0.Unix()), t0}, {float64(t0.UnixMilli()), t0},
		{"1765496400", t0}, {float64(t0.Unix()) + 0.5, t0.Add(500 * time.Millisecond)},
	} {
		got, err := parseTime(c.v, "")
		require.NoError(t, err, "%v", c.v)
		assert.True(t, got.Equal(c.want), "%v: %v", c.v, got)
	}
	_, err = parseTime("yesterday", "")
	assert.ErrorContains(t, err, "RFC 3339")

	// A title is a rule name too.
	a, err = Mapping{}.Convert(map[string]any{"rule.title": "T", "@timestamp": "2025-12-11T23:40:00Z"}, "r")
	require.NoError(t, err)
	assert.Equal(t, "T", a.Title)
}

func TestFileAndCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alerts.jsonl")
	f := File{Path: path, RunID: "r1"}
	as, err := f.Alerts(context.Background())
	require.NoError(t, err)
	assert.Empty(t, as, "no file yet: no alerts")

	line := func(name, ts, run string) string {
		return `{"rule.name":"` + name + `","@timestamp":"` + ts + `","labels.run_id":"` + run + `"}` + "\n"
	}
	require.NoError(t, os.WriteFile(path, []byte(line("A", "2025-12-11T23:41:00Z", "r1")+line("B", "2025-12-11T23:42:00Z", "r2")), 0o644))
	// An export that appends late: Poll waits for it.
	go func() {
		time.Sleep(200 * time.Millisecond)
		fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err == nil {
			fh.WriteString(line("C", "2025-12-11T23:40:30Z", "r1"))
			fh.Close()
		}
	}()
	as, err = Poll(context.Background(), []Source{f}, PollOptions{Deadline: 10 * time.Second, Interval: 20 * time.Millisecond,
		Done: func(as []detectors.Alert) bool { return len(as) == 2 }})
	require.NoError(t, err)
	require.Len(t, as, 2)
	assert.Equal(t, "C", as[0].Title, "in time order")

	// A command: its output, with the run id given to it.
	c := Command{Args: []string{"sh", "-c", `printf '{"rule.name":"From %s","@timestamp":"2025-12-11T23:40:00Z","labels.run_id":"%s"}\n' "$MAILDRILL_RUN_ID" "{run_id}"`}, RunID: "r1"}
	as, err = c.Alerts(context.Background())
	require.NoError(t, err)
	require.Len(t, as, 1)
	assert.Equal(t, "From r1", as[0].Title)
	_, err = Command{Args: []string{"sh", "-c", "echo broken >&2; exit 3"}}.Alerts(context.Background())
	assert.ErrorContains(t, err, "broken")

	// The deadline ends a wait for alerts that never come, without error.
	start := time.Now()
	as, err = Poll(context.Background(), []Source{File{Path: filepath.Join(dir, "none")}}, PollOptions{Deadline: 150 * time.Millisecond, Interval: 20 * time.Millisecond,
		Done: func(as []detectors.Alert) bool { return len(as) > 0 }})
	require.NoError(t, err)
	assert.Empty(t, as)
	assert.Less(t, time.Since(start), 2*time.Second)

	// Once: the sources are asked one time, whatever Done says.
	var calls countingSource
	as, err = Poll(context.Background(), []Source{&calls}, PollOptions{Once: true, Interval: time.Millisecond,
		Done: func(as []detectors.Alert) bool { return false }})
	require.NoError(t, err)
	assert.Empty(t, as)
	assert.Equal(t, 1, calls.n)
}

type countingSource struct{ n int }

func (c *countingSource) Alerts(context.Context) ([]detectors.Alert, error) {
	c.n++
	return nil, nil
}

func TestWebhookSharedByRuns(t *testing.T) {
	wh := &Webhook{}
	require.NoError(t, wh.Listen("127.0.0.1:0"))
	t.Cleanup(func() { wh.Close() })
	body := `[{"rule.name":"A","@timestamp":"2025-12-11T23:40:00Z","labels.run_id":"r1"},
	          {"rule.name":"B","@timestamp":"2025-12-11T23:40:00Z","labels.run_id":"r2"},
	          {"rule.name":"C","@timestamp":"2025-12-11T23:40:00Z"}]`
	resp, err := http.Post(wh.URL(), "application/json", strings.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	titles := func(s Source) []string {
		as, err := s.Alerts(context.Background())
		require.NoError(t, err)
		var out []string
		for _, a := range as {
			out = append(out, a.Title)
		}
		return out
	}
	assert.Equal(t, []string{"A", "B", "C"}, titles(wh))
	assert.Equal(t, []string{"A", "C"}, titles(wh.For("r1")))
	assert.Equal(t, []string{"B", "C"}, titles(wh.For("r2")))
	wh.Mapping.RequireRunID = true
	assert.Equal(t, []string{"B"}, titles(wh.For("r2")))
}
