package detectors

import (
	"errors"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/detectors/sigma"
)

// TestSigmaHQ loads every rule of a checkout of github.com/SigmaHQ/sigma
// (rules*/ and deprecated/ directories) and reports how many the engine
// loads and refuses, and why. Run it with
//
//	MAILDRILL_SIGMAHQ_DIR=/path/to/sigma go test -run TestSigmaHQ -v ./detectors/
//
// It fails only on a panic or an error without a file position.
func TestSigmaHQ(t *testing.T) {
	dir := os.Getenv("MAILDRILL_SIGMAHQ_DIR")
	if dir == "" {
		t.Skip("set MAILDRILL_SIGMAHQ_DIR to a checkout of github.com/SigmaHQ/sigma")
	}
	rules, parseErrs := LoadPath(dir)
	ls := MaildrillLogsources()
	ls.MatchUnmapped = true // run every rule, whatever its logsource
	eng, err := NewEngine(rules, Config{Lenient: true, Logsources: &ls})
	require.NoError(t, err)
	refused := append(append([]error{}, parseErrs...), eng.Refused()...)
	for _, e := range refused {
		var se *sigma.Error
		if !errors.As(e, &se) && !strings.Contains(e.Error(), ".yml") {
			t.Errorf("error without a file position: %v", e)
		}
	}
	// every loaded rule must survive matching on a few events
	for i, f := range []fields{
		{"CommandLine": "powershell -enc SQBFAFgA", "Image": `C:\Windows\System32\cmd.exe`, "EventID": 4625, "User": "admin"},
		{"event.action": "imap.login", "source.ip": "10.20.0.1", "user.name": "x"},
		{},
	} {
		eng.Process(mk(t, time.Duration(i)*time.Second, "e", f))
	}
	eng.Flush()
	det, corr := eng.Rules()
	t.Logf("SigmaHQ: %d rule documents parsed, %d refused at parse, %d refused at compile; loaded %d detection + %d correlation rules",
		len(rules), len(parseErrs), len(eng.Refused()), det, corr)
	t.Logf("loaded %d of %d documents (%.1f%%)", det+corr, len(rules)+len(parseErrs), 100*float64(det+corr)/float64(len(rules)+len(parseErrs)))
	// refusal reasons
	reasons := map[string]int{}
	var samples = map[string]string{}
	clean := regexp.MustCompile(`"[^"]*"|\d+`)
	for _, e := range refused {
		msg := e.Error()
		if i := strings.Index(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		k := clean.ReplaceAllString(msg, "…")
		if len(k) > 110 {
			k = k[:110]
		}
		reasons[k]++
		samples[k] = e.Error()
	}
	keys := make([]string, 0, len(reasons))
	for k := range reasons {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return reasons[keys[i]] > reasons[keys[j]] })
	for _, k := range keys {
		t.Logf("%5d  %s\n       e.g. %s", reasons[k], k, samples[k])
	}
}
