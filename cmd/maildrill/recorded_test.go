package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "re-record testdata/runs (MAILDRILL_DOCKER=1 for the Dovecot runs) and rewrite their expected.txt")

// runsDir holds recorded runs of the flagship, one folder per target:
// events.jsonl.gz and truth.jsonl.gz as `maildrill run --events --truth`
// wrote them, and expected.txt, what `maildrill replay` judges from them.
// The detectors' benchmark reads the same logs.
const runsDir = "../../testdata/runs"

var recordedRuns = []struct {
	dir     string
	target  string
	profile string
}{
	{"ministry-overnight/embedded", "embedded", ""},
	{"ministry-overnight/dovecot-stock", "dovecot", "stock"},
	{"ministry-overnight/dovecot-enhanced", "dovecot", "enhanced"},
}

// TestRecordedRuns replays each recorded run and checks the verdicts and
// alerts against expected.txt: what each target lets the rule pack see,
// checked on every machine, Docker or not. Where the target can run here
// (embedded always, Dovecot with MAILDRILL_DOCKER=1) a live run today must
// give the same text, so the recordings cannot drift from the code.
func TestRecordedRuns(t *testing.T) {
	for _, rr := range recordedRuns {
		t.Run(rr.dir, func(t *testing.T) {
			dir := filepath.Join(runsDir, rr.dir)
			live := rr.target == "embedded" || os.Getenv("MAILDRILL_DOCKER") == "1"
			events, truth := filepath.Join(dir, "events.jsonl.gz"), filepath.Join(dir, "truth.jsonl.gz")
			expected := filepath.Join(dir, "expected.txt")
			if *update {
				if !live {
					t.Skip("set MAILDRILL_DOCKER=1 (a Docker daemon) to re-record the Dovecot runs")
				}
				tmp := t.TempDir()
				judged := runAndJudge(t, rr.target, rr.profile, tmp)
				require.NoError(t, os.MkdirAll(dir, 0o755))
				gzipTo(t, filepath.Join(tmp, "events.jsonl"), events)
				gzipTo(t, filepath.Join(tmp, "truth.jsonl"), truth)
				require.NoError(t, os.WriteFile(expected, []byte(judged), 0o644))
			}
			want, err := os.ReadFile(expected)
			require.NoError(t, err, "record it with: go test ./cmd/maildrill -run TestRecordedRuns -update")
			require.Equal(t, string(want), replayAndJudge(t, events, truth, t.TempDir()), "replaying %s", dir)
			if !live {
				t.Logf("%s: replayed only (a live run needs MAILDRILL_DOCKER=1)", rr.dir)
				return
			}
			if !*update {
				require.Equal(t, string(want), runAndJudge(t, rr.target, rr.profile, t.TempDir()),
					"a live run on %s no longer judges as its recording: re-record with go test ./cmd/maildrill -run TestRecordedRuns -update (MAILDRILL_DOCKER=1) and review the difference", rr.dir)
			}
		})
	}
}

// runAndJudge runs the flagship live on a target, leaving its logs in dir.
func runAndJudge(t *testing.T, target, profile, dir string) string {
	t.Helper()
	args := []string{"run", "ministry-overnight", "-q", "--target", target,
		"--events", filepath.Join(dir, "events.jsonl"), "--truth", filepath.Join(dir, "truth.jsonl"), "--json", filepath.Join(dir, "report.json")}
	if profile != "" {
		args = append(args, "--profile", profile)
	}
	return judgedText(t, dir, args)
}

func replayAndJudge(t *testing.T, events, truth, dir string) string {
	t.Helper()
	return judgedText(t, dir, []string{"replay", "--events", events, "--truth", truth, "--json", filepath.Join(dir, "report.json"), "ministry-overnight"})
}

// judgedText runs the command and returns its verdict table, without the
// wall time, followed by the alert count of every rule that fired.
func judgedText(t *testing.T, dir string, args []string) string {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	if code := exitCode(err, io.Discard); code != exitOK && code != exitFailed {
		t.Fatalf("%v: exit %d: %v\n%s", args, code, err, errb.String())
	}
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if i := strings.Index(l, " of scenario time in "); i >= 0 {
			l = l[:i] + " of scenario time"
		}
		b.WriteString(strings.TrimRight(l, " ") + "\n")
	}
	rep := readReport(t, filepath.Join(dir, "report.json"))
	require.Len(t, rep.Scenarios, 1)
	byRule := map[string]int{}
	for _, a := range rep.Scenarios[0].Alerts {
		byRule[a.Title]++
	}
	titles := make([]string, 0, len(byRule))
	for r := range byRule {
		titles = append(titles, r)
	}
	sort.Strings(titles)
	b.WriteString("\nalerts by rule:\n")
	for _, r := range titles {
		fmt.Fprintf(&b, "%4d  %s\n", byRule[r], r)
	}
	return b.String()
}

// gzipTo compresses src into dst reproducibly (no name, no time).
func gzipTo(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	require.NoError(t, err)
	_, err = zw.Write(data)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(dst, buf.Bytes(), 0o644))
}

// A truncated gzip log is bad input that names the file, the line reached
// and the cause, never a panic or a silent short replay.
func TestReplayDamagedGzip(t *testing.T) {
	dir := filepath.Join(runsDir, "ministry-overnight/embedded")
	data, err := os.ReadFile(filepath.Join(dir, "events.jsonl.gz"))
	require.NoError(t, err)
	cut := filepath.Join(t.TempDir(), "cut.jsonl.gz")
	require.NoError(t, os.WriteFile(cut, data[:len(data)/2], 0o644))
	var out, errb bytes.Buffer
	err = run(context.Background(), []string{"replay", "--events", cut, "--truth", filepath.Join(dir, "truth.jsonl.gz"), "ministry-overnight"}, &out, &errb)
	require.Equal(t, exitBadInput, exitCode(err, io.Discard), "%v", err)
	require.Contains(t, err.Error(), cut+":")
	require.Contains(t, err.Error(), "gzip stream damaged")

	err = run(context.Background(), []string{"rules", "eval", cut}, &out, &errb)
	require.Equal(t, exitBadInput, exitCode(err, io.Discard), "%v", err)
	require.Contains(t, err.Error(), "gzip stream damaged")
}
