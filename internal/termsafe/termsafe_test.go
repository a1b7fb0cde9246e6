package termsafe

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestString(t *testing.T) {
	for in, want := range map[string]string{
		"IMAP Password Spray From One Source": "IMAP Password Spray From One Source",
		"Téléchargement massif 🔥":             "Téléchargement massif 🔥",
		"red \x1b[31mtitle\x1b[0m":            `red \x1b[31mtitle\x1b[0m`,
		"hide \x1b[8m":                        `hide \x1b[8m`,
		"clipboard \x1b]52;c;ZXZpbA==\x07":    `clipboard \x1b]52;c;ZXZpbA==\x07`,
		"forged\n  MET     line":              `forged\n  MET     line`,
		"tab\there\rback":                     `tab\there\rback`,
		"del\x7f c1 \u009b31m":                `del\x7f c1 \u009b31m`,
		"bidi \u202egnp.exe":                  `bidi \u202egnp.exe`,
		"isolate \u2066x\u2069":               `isolate \u2066x\u2069`,
		"bad \xff\xfe utf-8":                  `bad \xff\xfe utf-8`,
		"":                                    "",
	} {
		assert.Equal(t, want, String(in), "%q", in)
	}
	assert.Equal(t, "a\n\tb \\x1b[2J", Lines("a\n\tb \x1b[2J"), "lines keep newlines and tabs")
	assert.Equal(t, `a\r`, Lines("a\r"), "not carriage returns")
}
