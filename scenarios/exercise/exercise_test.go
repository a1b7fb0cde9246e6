package exercise

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/scenarios"
)

// startExercise serves an exercise of sc over real HTTP on loopback.
func startExercise(t *testing.T, sc *scenarios.Scenario, speed float64, autostart bool) (*Exercise, *httptest.Server) {
	t.Helper()
	x, err := New(Config{Scenario: sc, Speed: speed, AutoStart: autostart})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewServer(x.Handler(ctx))
	t.Cleanup(func() {
		cancel()
		srv.Close()
	})
	return x, srv
}

// recorder keeps every byte an endpoint sends.
type recorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

// record GETs or POSTs url and appends the whole response (status, headers,
// body) to rec.
func record(t *testing.T, rec *recorder, method, url, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	fmt.Fprintf(rec, "%s\n", resp.Status)
	resp.Header.Write(rec)
	io.Copy(rec, resp.Body)
	return resp.StatusCode
}

// TestSOCViewLeaksNoGroundTruth plays the library's exercise scenario and
// records every byte the players' endpoints send — the page, its script
// and style, the live stream from start to end, the answers to a
// question and the take-up of an alert, refusals — and finds in it no
// ground truth: no actor, no step id, no verdict, no expectation, no
// inject id or release condition, no scenario id, title or narrative, and
// not the facilitator's token.
func TestSOCViewLeaksNoGroundTruth(t *testing.T) {
	sc, err := scenarios.Load("ministry-overnight-exercise")
	require.NoError(t, err)
	x, srv := startExercise(t, sc, 3000, false)
	fac, soc := x.Tokens()
	base := srv.URL + "/soc/" + soc + "/"
	rec := &recorder{}
	for _, p := range []string{"", "soc.js", "app.css"} {
		require.Equal(t, 200, record(t, rec, "GET", base+p, ""), p)
	}
	// The stream, from before the start to the end.
	resp, err := http.Get(base + "stream")
	require.NoError(t, err)
	defer resp.Body.Close()
	var stream recorder
	streamDone := make(chan struct{})
	alertSeen := make(chan int, 1)
	injectSeen := make(chan [2]string, 64)
	go func() {
		defer close(streamDone)
		sc := bufio.NewScanner(io.TeeReader(resp.Body, &stream))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		typ := ""
		for sc.Scan() {
			l := sc.Text()
			if v, ok := strings.CutPrefix(l, "event: "); ok {
				typ = v
				if typ == "end" {
					return
				}
			}
			if v, ok := strings.CutPrefix(l, "data: "); ok {
				switch typ {
				case "alert":
					var a socAlert
					json.Unmarshal([]byte(v), &a)
					select {
					case alertSeen <- a.N:
					default:
					}
				case "inject":
					var in socInject
					json.Unmarshal([]byte(v), &in)
					for _, q := range in.Questions {
						injectSeen <- [2]string{fmt.Sprint(in.N), q.ID}
					}
				}
			}
		}
	}()
	done := make(chan error, 1)
	go func() {
		_, err := x.Run(context.Background())
		done <- err
	}()
	_, err = x.control("start", 0)
	require.NoError(t, err)

	// The players answer the first question and take up the first alert.
	q := <-injectSeen
	require.Equal(t, 200, record(t, rec, "POST", base+"answer", fmt.Sprintf(`{"inject":%s,"question":%q,"answer":"the login events"}`, q[0], q[1])))
	select {
	case n := <-alertSeen:
		require.Equal(t, 200, record(t, rec, "POST", base+"ack", fmt.Sprintf(`{"alert":%d}`, n)))
	case <-time.After(25 * time.Second):
		t.Fatal("no alert reached the players")
	}
	// Refusals are sent too.
	assert.Equal(t, 400, record(t, rec, "POST", base+"answer", `{"inject":99,"question":"q1","answer":"x"}`))
	assert.Equal(t, 400, record(t, rec, "POST", base+"answer", `{"bogus":1}`))
	assert.Equal(t, 404, record(t, rec, "GET", srv.URL+"/soc/"+strings.Repeat("0", 32)+"/", ""))

	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(40 * time.Second):
		t.Fatal("the exercise did not end")
	}
	select {
	case <-streamDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not carry the end")
	}
	all := rec.String() + stream.String()
	require.Contains(t, stream.String(), "event: alert", "the players saw alerts")
	require.Contains(t, stream.String(), "event: event", "and the audit trail")
	require.Contains(t, stream.String(), "185.220.101.34", "including the attacker's address, as any SOC would")
	require.Contains(t, stream.String(), "event: inject", "and the injects")

	forbidden := []string{sc.ID, sc.Title, fac, `"actor"`, `"step"`, `"role"`, `"truth"`, `"verdict"`, `"expected"`,
		`"met"`, `"missed"`, `"early"`, `"late"`, `"too_many"`, `"false_positive"`, "MISSED", "must_not_fire", `"within"`, "no_alert", "on_alert",
		"maildrill-run=", "IMAP Full Mailbox Download By One Client"}
	for _, line := range strings.Split(sc.Narrative+"\n"+sc.Description, "\n") {
		if l := strings.TrimSpace(line); len(l) > 30 {
			forbidden = append(forbidden, l)
		}
	}
	for _, a := range sc.Actors {
		forbidden = append(forbidden, `"`+a.ID+`"`, a.ID+"/")
		for _, st := range a.Steps {
			if st.ID != "" {
				forbidden = append(forbidden, `"`+st.ID+`"`)
				if strings.Contains(st.ID, "-") {
					forbidden = append(forbidden, st.ID)
				}
			}
		}
	}
	for _, in := range sc.Injects {
		forbidden = append(forbidden, `"`+in.ID+`"`)
		if strings.Contains(in.ID, "-") {
			forbidden = append(forbidden, in.ID)
		}
	}
	for _, e := range sc.Expect {
		if e.Anchor != "" {
			forbidden = append(forbidden, `"`+e.Anchor+`"`)
		}
	}
	for _, f := range forbidden {
		if i := strings.Index(all, f); i >= 0 {
			lo, hi := max(0, i-120), min(len(all), i+len(f)+120)
			t.Errorf("the SOC endpoints sent %q: …%s…", f, all[lo:hi])
		}
	}
	// Every alert the players got is one of the run's, with nothing but
	// the allowed fields.
	allowed := regexp.MustCompile(`^\{"n":\d+,"t":"[^"]+","title":"[^"]+","level":"[a-z]+",("group":\{[^}]*\},)?"events":\[[^\]]*\],"shown":\d+\}$`)
	for _, l := range strings.Split(stream.String(), "\n") {
		if strings.HasPrefix(l, "data: {\"n\"") && strings.Contains(l, `"shown"`) {
			assert.Regexp(t, allowed, strings.TrimPrefix(l, "data: "))
		}
	}
	t.Logf("SOC endpoints sent %d bytes, none of %d ground-truth strings", len(all), len(forbidden))

	// The same scan finds the ground truth in the facilitator's stream: the
	// strings looked for are the ones the truth is made of.
	evs, _, _ := x.fac.since(0)
	var facStream strings.Builder
	for _, e := range evs {
		facStream.Write(e.Data)
	}
	for _, f := range []string{`"actor"`, `"attacker"`, `"spray"`, `"verdict"`, `"expected"`, "press-call", "IMAP Full Mailbox Download By One Client", "valid password found for "} {
		assert.Contains(t, facStream.String(), f, "the facilitator's view carries the truth the players' lacks")
	}
	// What the run said of itself (here: the spray finding a password) is
	// kept for the facilitator's run log and the debrief.
	x.mu.Lock()
	var found []string
	for _, n := range x.runlog {
		if strings.HasPrefix(n.Text, "valid password found for ") {
			found = append(found, n.Actor+": "+n.Text)
		}
	}
	x.mu.Unlock()
	require.NotEmpty(t, found, "the spray's find is in the run log")

	// The debrief downloads as one self-contained file.
	resp, err = http.Get(srv.URL + "/f/" + fac + "/debrief?download=1")
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Disposition"), `attachment; filename="debrief-ministry-overnight-exercise-`)
	for _, bad := range []string{"<script", "<link", " src=", "@import"} {
		assert.NotContains(t, string(page), bad, "the debrief loads nothing")
	}
	assert.Contains(t, string(page), "the login events", "the players' answer")
	assert.Regexp(t, `(?s)<table id="debrief-runlog">.*<td>`+regexp.QuoteMeta(strings.Replace(found[0], ": ", "</td><td>", 1))+`</td>`, string(page), "the run log")
	assert.Contains(t, string(page), "@media print", "printable")
}

// A reconnecting client (Last-Event-ID) gets exactly the events after
// the last one it saw; a bad Last-Event-ID is refused.
func TestStreamCatchUp(t *testing.T) {
	s := newStream()
	for i := range 5 {
		s.publish("event", map[string]int{"i": i})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(r.Context(), w, r) }))
	defer srv.Close()
	read := func(last string, want int) string {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL, nil)
		if last != "" {
			req.Header.Set("Last-Event-ID", last)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		require.NoError(t, err)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ids []string
		for len(ids) < want && sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				ids = append(ids, v)
			}
		}
		return strings.Join(ids, ",")
	}
	assert.Equal(t, "1,2,3,4,5", read("", 5))
	assert.Equal(t, "4,5", read("3", 2))
	go func() {
		time.Sleep(100 * time.Millisecond)
		s.publish("event", map[string]int{"i": 5})
	}()
	assert.Equal(t, "5,6", read("4", 2), "a live event reaches a waiting client")

	resp, err := http.Get(srv.URL + "?last=x")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 400, resp.StatusCode)
}

// The facilitator's requests are checked: a wrong token, an unknown
// action, a speed out of range, a bad body are refused with a reason and
// logged on the facilitator's view.
func TestControlRefusals(t *testing.T) {
	sc, err := scenarios.Load("ministry-overnight-exercise")
	require.NoError(t, err)
	x, srv := startExercise(t, sc, 60, false)
	fac, _ := x.Tokens()
	post := func(path, body string) (int, string) {
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, msg := post("/f/"+fac+"/control", `{"action":"fly"}`)
	assert.Equal(t, 400, code)
	assert.Contains(t, msg, `unknown action "fly"`)
	code, msg = post("/f/"+fac+"/control", `{"action":"speed","speed":-3}`)
	assert.Equal(t, 400, code)
	assert.Contains(t, msg, "want a number above 0")
	code, msg = post("/f/"+fac+"/control", `{"action":"pause"}`)
	assert.Equal(t, 400, code)
	assert.Contains(t, msg, "not running")
	code, _ = post("/f/"+fac+"/control", `not json`)
	assert.Equal(t, 400, code)
	code, _ = post("/f/wrong/control", `{"action":"start"}`)
	assert.Equal(t, 404, code)
	code, msg = post("/f/"+fac+"/note", `{"text":"  "}`)
	assert.Equal(t, 400, code)
	assert.Contains(t, msg, "note: 1 to")
	resp, err := http.Get(srv.URL + "/f/" + fac + "/debrief")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusConflict, resp.StatusCode, "no debrief before the end")
	assert.True(t, x.ctl.Clock().Paused(), "nothing refused moved the clock")

	evs, _, _ := x.fac.since(0)
	refused := 0
	for _, e := range evs {
		if e.Type == "refused" {
			refused++
		}
	}
	assert.Equal(t, 6, refused, "every refusal is on the facilitator's log")
}
