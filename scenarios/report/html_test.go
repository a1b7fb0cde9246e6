package report

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/scenarios"
)

func TestHTMLSelfContained(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteHTML(&buf, Build([]Run{fixture(t)}, fixedTime)))
	page := buf.String()
	// Nothing loaded from elsewhere: no script, no link, no src, no url().
	for _, bad := range []string{"<script", "<link", " src=", "url(", "@import"} {
		assert.NotContains(t, page, bad)
	}
	for _, u := range regexp.MustCompile(`https?://[^"' )<]+`).FindAllString(page, -1) {
		assert.Equal(t, "http://www.w3.org/2000/svg", u, "only the SVG namespace may be a URL")
	}
	assert.Contains(t, page, `id="timeline-report-fixture"`)
	assert.Contains(t, page, `id="timeline-report-fixture-attack"`, "the attack is a small part of the run: zoomed")
	assert.Contains(t, page, "A spray from an exit node", "the narrative")

	// An outside SIEM's alert is drawn apart.
	fx := fixture(t)
	fx.Result.Alerts[1].Type = "outside"
	buf.Reset()
	require.NoError(t, WriteHTML(&buf, Build([]Run{fx}, fixedTime)))
	assert.Contains(t, buf.String(), `<circle class="alert outside lvl-high"`)
}

// chromiumPath finds Debian's chromium; CI installs it, and
// MAILDRILL_REQUIRE_TOOLS=1 turns its absence into a failure.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("MAILDRILL_REQUIRE_TOOLS") != "" {
		t.Fatal("chromium not found: apt-get install chromium")
	}
	t.Skip("chromium not found (apt-get install chromium)")
	return ""
}

// openInChromium opens an HTML file in headless Chromium.
func openInChromium(t *testing.T, file string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1300, 1000), chromedp.Flag("hide-scrollbars", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel)
	abs, err := filepath.Abs(file)
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("file://"+abs), chromedp.WaitVisible(chromedp.CSS("svg.timeline"))))
	return ctx
}

// TestHTMLInChromium opens the report in headless Chromium: the timeline
// SVG has a band per expectation (red for the failed ones), the alerts and
// the attacker's steps; the verdict table has a row per expectation. With
// -update it refreshes the screenshots in docs/screenshots/.
func TestHTMLInChromium(t *testing.T) {
	file := filepath.Join(t.TempDir(), "report.html")
	f, err := os.Create(file)
	require.NoError(t, err)
	require.NoError(t, WriteHTML(f, Build([]Run{fixture(t)}, fixedTime)))
	require.NoError(t, f.Close())
	ctx := openInChromium(t, file)

	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+"`"+sel+"`"+`).length`))
		require.NoError(t, err, sel)
		return n
	}
	bands := count(`#timeline-report-fixture rect.band`)
	failedBands := count(`#timeline-report-fixture rect.band[fill="#c62828"]`)
	alerts := count(`#timeline-report-fixture path.alert`)
	steps := count(`#timeline-report-fixture rect.step`)
	rows := count(`#verdicts-report-fixture tbody tr`)
	failedRows := count(`#verdicts-report-fixture td.fail`)
	svgWidth, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelector('#timeline-report-fixture').getBoundingClientRect().width`))
	require.NoError(t, err)
	tableText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#verdicts-report-fixture`)))
	require.NoError(t, err)
	assert.Equal(t, 7, bands, "a band per expectation")
	assert.Equal(t, 5, failedBands, "misses in red")
	assert.Equal(t, 6, alerts)
	assert.Equal(t, 3, steps)
	assert.Equal(t, 7, rows)
	assert.Equal(t, 5, failedRows)
	assert.Greater(t, svgWidth, 800.0, "the timeline is laid out at page width")
	for _, s := range []string{"MET", "MISSED", "LATE", "EARLY", "TOO MANY", "FALSE POSITIVE", "3m0s"} {
		assert.Contains(t, tableText, s)
	}

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(png, []byte("\x89PNG")), "a PNG screenshot")
	if *update {
		saveScreenshot(t, "report-verdicts.png", png)
		screenshotLibraryRun(t, "ministry-overnight")
	}
}

func saveScreenshot(t *testing.T, name string, png []byte) {
	t.Helper()
	dir := filepath.Join("..", "..", "docs", "screenshots")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), png, 0o644))
}

// screenshotLibraryRun runs a library scenario and photographs its report
// for the docs.
func screenshotLibraryRun(t *testing.T, name string) {
	sc, err := scenarios.Load(name)
	require.NoError(t, err)
	var times eventLog
	res, err := scenarios.Run(context.Background(), sc, scenarios.Options{Events: &times})
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), name+".html")
	f, err := os.Create(file)
	require.NoError(t, err)
	require.NoError(t, WriteHTML(f, Build([]Run{{Result: res, EventTimes: times.times}}, time.Now())))
	require.NoError(t, f.Close())
	ctx := openInChromium(t, file)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	saveScreenshot(t, "report-"+name+".png", png)
}

// eventLog keeps the event times of Options.Events (one JSON line a write).
type eventLog struct{ times []time.Time }

func (e *eventLog) Write(p []byte) (int, error) {
	if i := strings.Index(string(p), `"@timestamp":"`); i >= 0 {
		rest := string(p[i+len(`"@timestamp":"`):])
		if j := strings.IndexByte(rest, '"'); j > 0 {
			if ts, err := time.Parse(time.RFC3339Nano, rest[:j]); err == nil {
				e.times = append(e.times, ts)
			}
		}
	}
	return len(p), nil
}

// TestWindowsAcrossMidnightShowDates: a window within one day reads as
// times of day; one that crosses midnight or spans days carries its dates
// (the HTML verdict table and the CLI's silent windows).
func TestWindowsAcrossMidnightShowDates(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	night1 := time.Date(2025, 12, 12, 2, 10, 0, 0, paris)
	from, to := Span(night1, night1.Add(2*time.Hour), paris, "15:04:05")
	assert.Equal(t, "02:10:00", from)
	assert.Equal(t, "04:10:00", to)
	from, to = Span(night1, night1.Add(26*time.Hour), paris, "15:04:05")
	assert.Equal(t, "Fri 12 Dec 02:10:00", from)
	assert.Equal(t, "Sat 13 Dec 04:10:00", to)

	r := verdictRow(Verdict{Rule: "r", Kind: "fire", Result: "met", Passed: true, Anchor: "night1",
		WindowStart: night1, WindowEnd: night1.Add(24*time.Hour + 2*time.Hour)}, paris)
	assert.Equal(t, "after night1: Fri 12 Dec 02:10:00 – Sat 13 Dec 04:10:00", r.Window)
}
