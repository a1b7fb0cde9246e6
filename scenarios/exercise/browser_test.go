package exercise

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/scenarios"
	"github.com/maildrill/maildrill/scenarios/run"
)

var update = flag.Bool("update", false, "refresh the screenshots in docs/screenshots/")

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

// browser starts headless Chromium at projector size (1280×720) and
// returns a first tab; newTab opens more in the same browser.
func browser(t *testing.T) (first context.Context, newTab func() context.Context) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Env("TMPDIR="+t.TempDir()), // its singleton socket, left when it is killed
		chromedp.WindowSize(1280, 720), chromedp.Flag("hide-scrollbars", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	bctx, cancel = context.WithTimeout(bctx, 90*time.Second)
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate("about:blank")))
	return bctx, func() context.Context {
		ctx, cancel := chromedp.NewContext(bctx)
		t.Cleanup(cancel)
		return ctx
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	require.NoError(t, err, js)
	return v
}

// waitJS polls a JavaScript condition in the page (bounded).
func waitJS(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !eval[bool](t, ctx, js) {
		require.True(t, time.Now().Before(deadline), "waiting for %s", what)
		time.Sleep(50 * time.Millisecond)
	}
}

const drill = `
id: night-drill
title: Night drill
environment: {users: 14, messages: 20, start: 2025-12-11T23:30:00+01:00, timezone: Europe/Paris, duration: 2h}
actors:
  - id: night-visitor
    kind: attacker
    source: 185.220.101.34
    credentials: {user: secretariat, from: stolen}
    pacing: {delay: 4s}
    steps:
      - {id: spray-step, spray: {users: 12, passwords: [Hiver2025!], delay: 5s}}
      - {id: lull, wait: 30m}
      - {id: login-step, login: {}}
      - {id: search-step, search: {mailbox: INBOX, keywords: [confidentiel]}}
      - logout
expect:
  - {rule: IMAP Password Spray From One Source, after: spray-step, within: 10m}
injects:
  - id: shift
    title: Your shift begins
    text: You are on call tonight.
    release: {at: "+0s"}
    questions: [{text: What do you watch first?}]
`

// TestExerciseInChromium drives both views in headless Chromium: the
// facilitator starts the exercise, an alert reaches the players' view
// within a second of the server publishing it, a pause stops the scenario
// clock and a resume lets it run, a player answers an inject and the
// facilitator sees the answer, the players' stream is cut mid-run and the
// browser reconnects with nothing missing and nothing twice, and the
// debrief opens with the verdicts and the answer.
func TestExerciseInChromium(t *testing.T) {
	sc, err := scenarios.Parse("night-drill.yaml", []byte(drill))
	require.NoError(t, err)
	x, srv := startExercise(t, sc, 20, false)
	fac, soc := x.Tokens()
	done := make(chan error, 1)
	go func() {
		_, err := x.Run(context.Background())
		done <- err
	}()
	fctx, newTab := browser(t)
	sctx := newTab()
	require.NoError(t, chromedp.Do(fctx, chromedp.Navigate(srv.URL+"/f/"+fac+"/"), chromedp.WaitVisible("#c-start")))
	require.NoError(t, chromedp.Do(sctx, chromedp.Navigate(srv.URL+"/soc/"+soc+"/"), chromedp.WaitVisible("#alerts")))
	waitJS(t, fctx, "the script", `document.querySelectorAll('#script tbody tr').length > 0`)

	// Start.
	require.NoError(t, chromedp.Do(fctx, chromedp.Click("#c-start")))
	waitJS(t, sctx, "the clock running on the players' view", `document.querySelector('#state').textContent === 'running'`)

	// The spray's alert reaches the players: rendered within a second of
	// the server publishing it (both stamps are this machine's wall clock).
	waitJS(t, sctx, "an alert on the SOC view", `document.querySelectorAll('#alerts tbody tr').length > 0`)
	lag := eval[float64](t, sctx, `(() => { const r = document.querySelector('#alerts tbody tr'); return Number(r.dataset.rendered) - Number(r.dataset.shown); })()`)
	x.mu.Lock()
	first := x.alerts[0]
	x.mu.Unlock()
	assert.Less(t, lag, 1000.0, "the alert was on screen %v ms after it was published", lag)
	t.Logf("the first alert was on the players' screen %.0f ms after the server published it", lag)
	assert.Less(t, first.Wall.Sub(x.started), 30*time.Second)
	title := eval[string](t, sctx, `document.querySelector('#alerts tbody tr td:nth-child(4)').textContent`)
	assert.Equal(t, "IMAP Password Spray From One Source", title)
	waitJS(t, fctx, "the alert's verdict on the facilitator's view", `document.querySelectorAll('#alerts tbody tr').length > 0`)
	fv := eval[string](t, fctx, `document.querySelector('#alerts tbody tr .verdict').textContent`)
	assert.Contains(t, fv, "expected", "the facilitator sees the verdict")

	// Pause: the scenario clock stands still; resume: it runs again.
	waitJS(t, fctx, "the attacker in its lull", `document.querySelector('#actors').textContent.includes('lull')`)
	require.NoError(t, chromedp.Do(fctx, chromedp.Click(`button[data-action="pause"]`)))
	waitJS(t, sctx, "paused on the players' view", `document.querySelector('#state').textContent === 'paused'`)
	t1 := x.ctl.Clock().Now()
	shown1 := eval[string](t, sctx, `document.querySelector('#clock').textContent`)
	time.Sleep(1500 * time.Millisecond)
	assert.True(t, x.ctl.Clock().Now().Equal(t1), "paused: the scenario clock stands still")
	assert.Equal(t, shown1, eval[string](t, sctx, `document.querySelector('#clock').textContent`), "and the players' clock too")
	require.NoError(t, chromedp.Do(fctx, chromedp.Click(`button[data-action="resume"]`)))
	waitJS(t, sctx, "the players' clock moving again", `document.querySelector('#clock').textContent !== '`+shown1+`'`)
	assert.True(t, x.ctl.Clock().Now().After(t1), "resumed: the scenario clock runs")

	// A player answers the inject; the facilitator sees it.
	waitJS(t, sctx, "the inject", `document.querySelector('#inject-1 textarea') !== null`)
	require.NoError(t, chromedp.Do(sctx,
		chromedp.SendKeys("#inject-1 textarea", "failed logins by source address"),
		chromedp.Click("#inject-1 button[type=submit]")))
	waitJS(t, sctx, "the receipt", `document.querySelector('#inject-1 .receipt').textContent.includes('answer recorded')`)
	waitJS(t, fctx, "the answer on the facilitator's view", `document.querySelector('#answers').textContent.includes('failed logins by source address')`)
	// The audit trail filters: by action, then by address.
	filter := func(sel, v string) {
		t.Helper()
		require.True(t, eval[bool](t, sctx, `(() => { const e = document.querySelector('`+sel+`'); e.value = '`+v+`'; e.dispatchEvent(new Event('input', {bubbles: true})); return true; })()`))
	}
	filter("#f-action", "imap.login")
	waitJS(t, sctx, "the action filter", `(() => { const c = [...document.querySelectorAll('#events tbody tr td:nth-child(2)')]; return c.length > 0 && c.every(td => td.textContent === 'imap.login'); })()`)
	filter("#f-action", "")
	filter("#f-src", "10.99.")
	waitJS(t, sctx, "an address filter matching nothing", `document.querySelectorAll('#events tbody tr').length === 0`)
	filter("#f-src", "")
	waitJS(t, sctx, "the filters cleared", `document.querySelectorAll('#events tbody tr').length > 0`)
	// A player takes the alert up.
	require.NoError(t, chromedp.Do(sctx, chromedp.Click("#alerts button.ack")))
	waitJS(t, fctx, "the take-up", `document.querySelector('#alerts .players').textContent.includes('taken up')`)

	// The players' stream is cut mid-run: the browser reconnects with
	// Last-Event-ID and catches up.
	opens := eval[string](t, sctx, `document.body.dataset.opens`)
	x.soc.dropConnections()
	x.note("stream cut for the reconnection check")
	waitJS(t, sctx, "the reconnection", `document.body.dataset.opens !== '`+opens+`'`)

	// The run falling behind its clock is said to the facilitator, and
	// to the facilitator only.
	x.onNote(run.Note{Time: x.ctl.Clock().Now(), Kind: "pace", Text: "falling behind the clock: staff/x's action due at 23:50:00 starts 2m0s late"})
	waitJS(t, fctx, "the pace warning", `!document.querySelector('#pace').hidden && document.querySelector('#pace').textContent.includes('falling behind the clock: staff/x')`)
	// It stays in the run log, with what the actors said of themselves.
	x.onNote(run.Note{Time: x.ctl.Clock().Now(), Actor: "night-visitor", Kind: "info", Text: "budget spent: actor stops"})
	waitJS(t, fctx, "the run log", `(() => { const t = document.querySelector('#runlog').innerText; return /night-visitor\s+budget spent: actor stops/.test(t) && /the run\s+falling behind the clock/.test(t); })()`)
	assert.NotContains(t, eval[string](t, sctx, `document.body.innerText`), "falling behind", "the players' view gives nothing away")
	assert.NotContains(t, eval[string](t, sctx, `document.body.innerText`), "budget spent")

	// Skip the lull, then let the run end.
	require.NoError(t, chromedp.Do(fctx, chromedp.Click(`button[data-action="skip"]`)))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(40 * time.Second):
		t.Fatal("the exercise did not end")
	}
	waitJS(t, sctx, "the end on the players' view", `document.body.dataset.ended === '1'`)
	received := eval[string](t, sctx, `document.body.dataset.received`)
	assert.Equal(t, strconv.Itoa(x.soc.count()), received, "the players' view got every event the server sent")
	assert.Equal(t, "0", eval[string](t, sctx, `document.body.dataset.duplicates`), "and none twice")
	x.mu.Lock()
	nEvents := x.events
	x.mu.Unlock()
	require.Positive(t, nEvents)
	waitJS(t, sctx, "the audit trail table", `document.querySelectorAll('#events tbody tr').length === `+strconv.Itoa(min(nEvents, 300)))

	// The debrief.
	waitJS(t, fctx, "the debrief link", `!document.querySelector('#debrief').hidden`)
	require.NoError(t, chromedp.Do(fctx, chromedp.Click("#debrief"), chromedp.WaitVisible("#debrief-verdicts")))
	text := eval[string](t, fctx, `document.body.innerText`)
	assert.Contains(t, text, "Exercise debrief: Night drill")
	assert.Contains(t, text, "IMAP Password Spray From One Source")
	assert.Contains(t, text, "failed logins by source address", "the answer")
	assert.Contains(t, text, "stream cut for the reconnection check", "the facilitator's note")
	assert.Equal(t, 1, eval[int](t, fctx, `document.querySelectorAll('#debrief-verdicts tbody tr').length`))
	assert.Equal(t, 1, eval[int](t, fctx, `document.querySelectorAll('#debrief-acks tbody tr').length`))
	assert.Positive(t, eval[int](t, fctx, `document.querySelectorAll('svg.timeline').length`), "the verdict report's timeline")
}

func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	dir := filepath.Join("..", "..", "docs", "screenshots")
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), png, 0o644))
}

// TestExerciseScreenshots (with -update only) plays the library's
// exercise scenario and photographs both views mid-run and the debrief
// for the docs (docs/screenshots/exercise-*.png).
func TestExerciseScreenshots(t *testing.T) {
	if !*update {
		t.Skip("photographs for the docs: run with -update")
	}
	sc, err := scenarios.Load("ministry-overnight-exercise")
	require.NoError(t, err)
	x, srv := startExercise(t, sc, 300, false)
	fac, soc := x.Tokens()
	done := make(chan error, 1)
	go func() {
		_, err := x.Run(context.Background())
		done <- err
	}()
	fctx, newTab := browser(t)
	sctx := newTab()
	require.NoError(t, chromedp.Do(fctx, chromedp.Navigate(srv.URL+"/f/"+fac+"/"), chromedp.WaitVisible("#c-start")))
	require.NoError(t, chromedp.Do(sctx, chromedp.Navigate(srv.URL+"/soc/"+soc+"/"), chromedp.WaitVisible("#alerts")))
	require.NoError(t, chromedp.Do(fctx, chromedp.Click("#c-start")))
	waitJS(t, sctx, "the opening inject", `document.querySelector('#inject-1 textarea') !== null`)
	require.NoError(t, chromedp.Do(sctx, chromedp.SendKeys("#inject-1 textarea", "failed logins per source address, logins from outside the office"),
		chromedp.Click("#inject-1 button[type=submit]")))
	waitJS(t, sctx, "the first alert's inject", `document.querySelector('#inject-2') !== null`)
	require.NoError(t, chromedp.Do(sctx, chromedp.Click(`#inject-2 input[value="Block the source address"]`), chromedp.Click("#inject-2 form button[type=submit]")))
	require.NoError(t, chromedp.Do(sctx, chromedp.Click("#alerts button.ack")))
	x.note("The team blocked the spraying address within a minute of the alert.")
	waitJS(t, fctx, "the secretariat's call", `[...document.querySelectorAll('#upcoming tr.released')].some(r => r.textContent.includes('A call from the secretariat'))`)
	require.NoError(t, chromedp.Do(sctx, chromedp.SendKeys("#f-src", "185.220.101.34")))
	waitJS(t, sctx, "the filter", `document.querySelectorAll('#events tbody tr').length > 0 && [...document.querySelectorAll('#events tbody tr td:nth-child(6)')].every(td => td.textContent === '185.220.101.34')`)
	time.Sleep(300 * time.Millisecond)
	shoot(t, fctx, "exercise-facilitator.png")
	shoot(t, sctx, "exercise-soc.png")
	_, err = x.control("speed", 5000)
	require.NoError(t, err)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(60 * time.Second):
		t.Fatal("the exercise did not end")
	}
	waitJS(t, fctx, "the debrief link", `!document.querySelector('#debrief').hidden`)
	require.NoError(t, chromedp.Do(fctx, chromedp.Click("#debrief"), chromedp.WaitVisible("#debrief-verdicts")))
	shoot(t, fctx, "exercise-debrief.png")
}
