// Package termsafe makes text from outside the program safe to print on a
// terminal: rule titles, names an attacker chose, servers' replies.
package termsafe

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// String is s made safe to print on a terminal when it comes from
// outside the program: a rule's title from a rule file, a user name or a
// mailbox name an attacker chose, a server's reply. Control characters
// (newlines and tabs among them, which would forge lines or columns of a
// report), DEL, the C1 controls, the Unicode bidirectional overrides and
// isolates, and bytes that are not UTF-8 are written as Go escapes
// (\x1b, \n, \u202e): an escape sequence in such a string would otherwise
// recolour, hide or rewrite what the terminal shows, set its title or its
// clipboard. Other text, accents and emoji included, is unchanged.
func String(s string) string { return printable(s, false) }

// Lines is String keeping newlines and tabs, for a message of
// several lines (an error that joins several).
func Lines(s string) string { return printable(s, true) }

func printable(s string, lines bool) string {
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if unsafeRune(r, size, lines) {
			break
		}
		i += size
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !unsafeRune(r, size, lines) {
			b.WriteString(s[i : i+size])
		} else if r == utf8.RuneError && size == 1 {
			fmt.Fprintf(&b, `\x%02x`, s[i])
		} else {
			switch r {
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			default:
				if r < 0x80 {
					fmt.Fprintf(&b, `\x%02x`, r)
				} else {
					fmt.Fprintf(&b, `\u%04x`, r)
				}
			}
		}
		i += size
	}
	return b.String()
}

func unsafeRune(r rune, size int, lines bool) bool {
	switch {
	case r == utf8.RuneError && size == 1:
		return true
	case lines && (r == '\n' || r == '\t'):
		return false
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}
