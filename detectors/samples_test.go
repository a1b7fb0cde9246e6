package detectors

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOrphanSamples: a sample no rule file has (a misspelt or renamed
// tests/NAME.tp.jsonl) fails, naming the rule file it would need; it was
// skipped without a word.
func TestOrphanSamples(t *testing.T) {
	rule := "title: Login\nid: 0b7c8a2e-4f0e-4c1a-9a57-3c1f6f2e0d16\nlogsource: {product: maildrill, service: imap}\ndetection:\n  sel:\n    event.action: imap.login\n  condition: sel\nlevel: low\n"
	tp := `{"@timestamp":"2025-12-11T23:40:00Z","service.type":"imap","event.action":"imap.login"}` + "\n"
	tn := `{"@timestamp":"2025-12-11T23:40:00Z","service.type":"imap","event.action":"imap.logout"}` + "\n"
	fsys := fstest.MapFS{
		"pack/login.yml":               {Data: []byte(rule)},
		"pack/tests/login.tp.jsonl":    {Data: []byte(tp)},
		"pack/tests/login.tn.jsonl":    {Data: []byte(tn)},
		"pack/tests/logn.tp.jsonl":     {Data: []byte(tp)},
		"pack/tests/notes.txt":         {Data: []byte("not a sample")},
		"pack/sub/tests/gone.tn.jsonl": {Data: []byte(tn)},
	}
	res, err := RunSamples(fsys, "pack", Config{})
	require.NoError(t, err)
	var failed []string
	for _, r := range res {
		if !r.OK {
			failed = append(failed, r.Msg)
		}
	}
	assert.ElementsMatch(t, []string{
		"sample tests/logn.tp.jsonl has no rule file logn.yml beside tests/: renamed or misspelt?",
		"sample sub/tests/gone.tn.jsonl has no rule file sub/gone.yml beside tests/: renamed or misspelt?",
	}, failed)
	assert.Len(t, res, 4, "the rule's two samples and the two orphans")
}
