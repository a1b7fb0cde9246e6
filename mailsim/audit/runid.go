package audit

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// MaxRunIDBytes bounds a run id given by the user.
const MaxRunIDBytes = 128

// CheckRunID refuses a run id that cannot label events everywhere they
// go: event ids (ID-N), mail-log lines, X-Maildrill-Run headers, file
// names of recordings. It must be 1 to MaxRunIDBytes bytes of UTF-8 with
// no space, control or format character.
func CheckRunID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("empty")
	case len(id) > MaxRunIDBytes:
		return fmt.Errorf("%d bytes: at most %d", len(id), MaxRunIDBytes)
	case !utf8.ValidString(id):
		return fmt.Errorf("%q: not UTF-8", id)
	}
	for _, r := range id {
		if unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return fmt.Errorf("%q: no spaces, control or format characters (e.g. md-ci-42)", id)
		}
	}
	return nil
}
