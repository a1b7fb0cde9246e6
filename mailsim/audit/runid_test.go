package audit

import (
	"strings"
	"testing"
)

func TestCheckRunID(t *testing.T) {
	for _, ok := range []string{"md-ministry-overnight-1a2b3c4d", "ci#42", "équipe-bleue", strings.Repeat("x", MaxRunIDBytes)} {
		if err := CheckRunID(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for bad, want := range map[string]string{
		"":                                   "empty",
		"a b":                                "no spaces",
		"a\nBcc: x@example.org":              "no spaces, control",
		"x\x1b[31m":                          "control",
		"a\u202eb":                           "format characters",
		"a\xffb":                             "not UTF-8",
		strings.Repeat("x", MaxRunIDBytes+1): "at most 128",
	} {
		err := CheckRunID(bad)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", bad, err, want)
		}
	}
}
