package report

import (
	"bytes"
	"context"
	"fmt"
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
	"github.com/maildrill/maildrill/scenarios/run"
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
		chromedp.Env("TMPDIR="+t.TempDir()), // its singleton socket, left when it is killed
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
	assert.Equal(t, 7, alerts)
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
	res, err := run.Run(context.Background(), sc, run.Options{Events: &times})
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

// TestHTMLAlertTable opens the report in headless Chromium: the table of
// unexpected alerts has a row per noisy rule with its counts, the
// drill-downs are closed (their event ids not shown) until one is opened,
// and then the events behind each alert are on the page, without any
// tooltip. With -update it photographs the table for the docs, from a
// real run (docs/screenshots/report-alerts.png).
func TestHTMLAlertTable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "report.html")
	f, err := os.Create(file)
	require.NoError(t, err)
	require.NoError(t, WriteHTML(f, Build([]Run{fixture(t)}, fixedTime)))
	require.NoError(t, f.Close())
	ctx := openInChromium(t, file)

	type row struct {
		Rule                             string
		Alerts, Attacker, Staff, Unknown string
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]row](`[...document.querySelectorAll('#noise-report-fixture tr.noise-rule')].map(r => ({
		Rule: r.querySelector('.rule').innerText, Alerts: r.querySelector('.alerts').innerText,
		Attacker: r.querySelector('.attacker').innerText, Staff: r.querySelector('.staff').innerText, Unknown: r.querySelector('.unknown').innerText}))`))
	require.NoError(t, err)
	assert.ElementsMatch(t, []row{
		{"IMAP Bulk Attachment Download (count)", "1", "1", "0", "0"},
		{"IMAP Off-Hours Access", "1", "0", "1", "0"},
		{"SMTP AUTH With Cleartext Credentials", "1", "0", "0", "1"},
	}, rows)

	visible := func() string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#noise-report-fixture').innerText`))
		require.NoError(t, err)
		return s
	}
	closed := visible()
	assert.NotContains(t, closed, "10.20.1.5", "drill-downs start closed")
	assert.NotContains(t, closed, "bob@interieur.test")

	// Open the off-hours rule's drill-down: its event is on the page.
	idx, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll('#noise-report-fixture tr.noise-rule .rule')].findIndex(td => td.innerText === 'IMAP Off-Hours Access')`))
	require.NoError(t, err)
	require.GreaterOrEqual(t, idx, 0)
	sel := fmt.Sprintf(`#drill-report-fixture-%d > summary`, idx)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))))
	opened := visible()
	for _, s := range []string{"s1", "imap.login", "bob@interieur.test", "10.20.1.5", "success", "23:20:00", "staff", "a false positive of the must_not_fire expectation"} {
		assert.Contains(t, opened, s)
	}
	assert.NotContains(t, opened, "185.220.101.34", "the other drill-downs stay closed")
	titles, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#noise-report-fixture [title]').length`))
	require.NoError(t, err)
	assert.Zero(t, titles, "nothing essential hides in a tooltip")

	// The timeline crosses midnight: its axis carries the dates.
	dates, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#timeline-report-fixture text.axis.date')].map(e => e.textContent)`))
	require.NoError(t, err)
	assert.Equal(t, []string{"Thu 11 Dec", "Fri 12 Dec"}, dates)

	if *update {
		screenshotAlerts(t)
	}
}

// screenshotAlerts runs scenarios/testdata/verdicts/noise.yaml (staff
// working late beside a brute force), opens the first drill-down of its
// alert table and photographs the table.
func screenshotAlerts(t *testing.T) {
	sc, err := scenarios.ParseFile("../testdata/verdicts/noise.yaml")
	require.NoError(t, err)
	var times eventLog
	res, err := run.Run(context.Background(), sc, run.Options{Events: &times})
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "alerts.html")
	f, err := os.Create(file)
	require.NoError(t, err)
	require.NoError(t, WriteHTML(f, Build([]Run{{Result: res, EventTimes: times.times}}, time.Now())))
	require.NoError(t, f.Close())
	ctx := openInChromium(t, file)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#drill-noise-accounting-0 > summary`))))
	png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(`#noise-noise-accounting`)))
	require.NoError(t, err)
	saveScreenshot(t, "report-alerts.png", png)
}
