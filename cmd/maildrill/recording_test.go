package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/detectors/rulepack"
	"github.com/maildrill/maildrill/scenarios"
)

// readLines returns a JSON-lines file's lines.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// checkHeader checks that the truth log starts with the header of a run of
// scenario file on the embedded target with the built-in rules, and that
// the events log has none.
func checkHeader(t *testing.T, truth, events, file string) {
	t.Helper()
	lines := readLines(t, truth)
	require.NotEmpty(t, lines)
	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &raw))
	assert.EqualValues(t, 1, raw["maildrill.recording"], "the first line is the header: %s", lines[0])
	h, ok, err := scenarios.ParseRecordingHeader([]byte(lines[0]))
	require.NoError(t, err)
	require.True(t, ok)

	src, err := os.ReadFile(file)
	require.NoError(t, err)
	sum := sha256.Sum256(src)
	sc, err := scenarios.Load(file)
	require.NoError(t, err)
	pack, err := rulepack.Rules()
	require.NoError(t, err)
	var rec scenarios.TruthRecord
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &rec))

	assert.Equal(t, scenarios.RecordingFormat, h.Format)
	assert.Equal(t, sc.ID, h.ScenarioID)
	assert.Equal(t, hex.EncodeToString(sum[:]), h.ScenarioSHA256, "sha256 of the file's bytes")
	assert.Equal(t, sc.Env.Seed, h.Seed)
	assert.Equal(t, "embedded", h.Target)
	assert.Equal(t, version, h.Version)
	assert.Equal(t, len(pack), h.Rules)
	assert.Len(t, h.RulesSHA256, 64)
	assert.Equal(t, scenarios.RulesSHA256(pack), h.RulesSHA256)
	assert.Equal(t, rec.RunID, h.RunID)
	assert.True(t, strings.HasPrefix(h.RunID, "md-"+sc.ID+"-"), h.RunID)
	for _, l := range readLines(t, events) {
		assert.NotContains(t, l, "maildrill.recording", "the events log stays plain audit events")
	}
}

// TestReplayChecksRecording records a scenario and replays its recording
// as another scenario, and as another version of itself: refused (exit 2)
// naming both, unless --force. A headerless recording is checked by its
// run id.
func TestReplayChecksRecording(t *testing.T) {
	dir := t.TempDir()
	brute, miss := filepath.Join(suiteDir, "brute.yaml"), filepath.Join(suiteDir, "miss.yaml")
	events, truth := filepath.Join(dir, "ev.jsonl"), filepath.Join(dir, "tr.jsonl")
	var out, errb bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"run", brute, "-q", "--events", events, "--truth", truth}, &out, &errb), errb.String())
	checkHeader(t, truth, events, brute)

	replay := func(truth, scenario string, extra ...string) (stdout, stderr string, err error) {
		var out, errb bytes.Buffer
		args := append([]string{"replay", "--events", events, "--truth", truth, scenario}, extra...)
		err = run(context.Background(), args, &out, &errb)
		return out.String(), errb.String(), err
	}

	// Its own scenario: judged, no warning.
	stdout, stderr, err := replay(truth, brute)
	require.NoError(t, err, stderr)
	assert.Contains(t, stdout, "MET")
	assert.NotContains(t, stderr, "warning")

	// Another scenario: refused, naming both.
	stdout, _, err = replay(truth, miss)
	require.Equal(t, exitBadInput, exitCode(err, io.Discard), "%v", err)
	assert.Contains(t, err.Error(), "recorded from suite-brute (sha256 ")
	assert.Contains(t, err.Error(), "judged as suite-miss")
	assert.NotContains(t, stdout, "MET", "nothing judged")

	// --force: judged anyway, with a warning.
	stdout, stderr, err = replay(truth, miss, "--force")
	code := exitCode(err, io.Discard)
	assert.True(t, code == exitOK || code == exitFailed, "judged: exit %d: %v", code, err)
	assert.Contains(t, stdout, "suite-miss")
	assert.Contains(t, stderr, "recorded from suite-brute")

	// Another version of the same scenario (same id, other bytes).
	src, err := os.ReadFile(brute)
	require.NoError(t, err)
	edited := filepath.Join(dir, "brute-edited.yaml")
	require.NoError(t, os.WriteFile(edited, append(src, []byte("# edited after the recording\n")...), 0o644))
	_, _, err = replay(truth, edited)
	require.Equal(t, exitBadInput, exitCode(err, io.Discard), "%v", err)
	assert.Contains(t, err.Error(), "another version of suite-brute")
	_, stderr, err = replay(truth, edited, "--force")
	require.NoError(t, err, stderr)
	assert.Contains(t, stderr, "another version of suite-brute")

	// Without the header (an older recording): the run id names the
	// scenario, so another one is still refused; its own is judged with a
	// warning that its version cannot be checked.
	lines := readLines(t, truth)
	old := filepath.Join(dir, "old.jsonl")
	require.NoError(t, os.WriteFile(old, []byte(strings.Join(lines[1:], "\n")+"\n"), 0o644))
	_, _, err = replay(old, miss)
	require.Equal(t, exitBadInput, exitCode(err, io.Discard), "%v", err)
	assert.Contains(t, err.Error(), "recorded from suite-brute")
	assert.Contains(t, err.Error(), "judged as suite-miss")
	_, stderr, err = replay(old, edited)
	require.NoError(t, err, stderr)
	assert.Contains(t, stderr, "no recording header")
}

// TestRecordHeader: test --record writes the header too.
func TestRecordHeader(t *testing.T) {
	rec := t.TempDir()
	brute := filepath.Join(suiteDir, "brute.yaml")
	var out, errb bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"test", brute, "-q", "--record", rec}, &out, &errb), errb.String())
	checkHeader(t, filepath.Join(rec, "suite-brute.truth.jsonl"), filepath.Join(rec, "suite-brute.events.jsonl"), brute)
}

// A truth log written by several runs (run A.yaml B.yaml --truth F)
// holds one header per run; replay checks the one of the run it judges.
func TestReplayHeaderPerRun(t *testing.T) {
	dir := t.TempDir()
	brute, miss := filepath.Join(suiteDir, "brute.yaml"), filepath.Join(suiteDir, "miss.yaml")
	events, truth := filepath.Join(dir, "ev.jsonl"), filepath.Join(dir, "tr.jsonl")
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"run", brute, miss, "-q", "--events", events, "--truth", truth}, &out, &errb)
	require.Equal(t, exitFailed, exitCode(err, io.Discard), "%v\n%s", err, errb.String())
	f, err := os.Open(truth)
	require.NoError(t, err)
	defer f.Close()
	ids := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if h, ok, err := scenarios.ParseRecordingHeader(sc.Bytes()); ok {
			require.NoError(t, err)
			ids[h.ScenarioID] = true
		}
	}
	assert.Equal(t, map[string]bool{"suite-brute": true, "suite-miss": true}, ids)
	err = run(context.Background(), []string{"replay", "--events", events, "--truth", truth, miss}, &out, &errb)
	code := exitCode(err, io.Discard)
	assert.True(t, code == exitOK || code == exitFailed, "judged: exit %d: %v", code, err)
}

// The case: the flagship's recorded run without its header (as
// recordings were before headers) judged as brute-force is refused by its
// run id; judged as itself it is accepted with a warning.
func TestReplayHeaderlessRecordedRun(t *testing.T) {
	dir := filepath.Join(runsDir, "ministry-overnight/embedded")
	f, err := os.Open(filepath.Join(dir, "truth.jsonl.gz"))
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	data, err := io.ReadAll(zr)
	require.NoError(t, err)
	first, rest, ok := bytes.Cut(data, []byte("\n"))
	require.True(t, ok)
	require.True(t, bytes.HasPrefix(first, []byte(`{"maildrill.recording":`)), "the recording starts with its header")
	truth := filepath.Join(t.TempDir(), "truth.jsonl")
	require.NoError(t, os.WriteFile(truth, rest, 0o644))
	args := []string{"replay", "--events", filepath.Join(dir, "events.jsonl.gz"), "--truth", truth}
	var out, errb bytes.Buffer
	err = run(context.Background(), append(args, "brute-force"), &out, &errb)
	require.Equal(t, exitBadInput, exitCode(err, io.Discard), "%v", err)
	assert.Contains(t, err.Error(), "recorded from ministry-overnight")
	assert.Contains(t, err.Error(), "judged as brute-force")
	assert.Empty(t, out.String(), "nothing judged")

	out.Reset()
	errb.Reset()
	err = run(context.Background(), append(args, "ministry-overnight"), &out, &errb)
	code := exitCode(err, io.Discard)
	assert.True(t, code == exitOK || code == exitFailed, "judged: exit %d: %v", code, err)
	assert.Contains(t, out.String(), "ministry-overnight")
	assert.Contains(t, errb.String(), "no recording header")
}

// The flagship recorded on stock Dovecot logging: what stock logging cannot
// see is BLIND in every report, the rest MET (the chain by its variant on
// the logout counters), and the run passes (exit 0).
func TestReplayStockDovecotBlind(t *testing.T) {
	dir := filepath.Join(runsDir, "ministry-overnight/dovecot-stock")
	tmp := t.TempDir()
	junit, js, html := filepath.Join(tmp, "r.xml"), filepath.Join(tmp, "r.json"), filepath.Join(tmp, "r.html")
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"replay", "--events", filepath.Join(dir, "events.jsonl.gz"), "--truth", filepath.Join(dir, "truth.jsonl.gz"),
		"--junit", junit, "--json", js, "--html", html, "ministry-overnight"}, &out, &errb)
	require.Equal(t, exitOK, exitCode(err, io.Discard), "%v\n%s%s", err, out.String(), errb.String())
	assert.Equal(t, 3, strings.Count(out.String(), "BLIND   "), out.String())
	assert.Contains(t, out.String(), "by derived rule Password Spray Then Successful Login Then Bulk Session (logout counters)")
	assert.Contains(t, out.String(), "finding: 3 expectation(s) BLIND: the dovecot-stock telemetry")

	x, err := os.ReadFile(junit)
	require.NoError(t, err)
	assert.Contains(t, string(x), `skipped="3"`)
	assert.Contains(t, string(x), `<skipped message="blind: no alert: dovecot-stock telemetry cannot see this technique (blind_on)">`)
	assert.NotContains(t, string(x), "<failure")

	j, err := os.ReadFile(js)
	require.NoError(t, err)
	var rep struct {
		Passed  bool `json:"passed"`
		Summary struct {
			Results map[string]int `json:"results"`
		} `json:"summary"`
	}
	require.NoError(t, json.Unmarshal(j, &rep))
	assert.True(t, rep.Passed)
	assert.Equal(t, map[string]int{"met": 4, "blind": 3}, rep.Summary.Results)

	h, err := os.ReadFile(html)
	require.NoError(t, err)
	assert.Equal(t, 3, strings.Count(string(h), `<td class="blind">BLIND</td>`))
}
