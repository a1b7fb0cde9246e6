package imapd

import (
	"bytes"
	"regexp"
	"strings"
	"time"
)

// go-imap's decoder converts some arguments as it reads them: sequence sets
// (imapnum), dates and date-times (time.Parse), mailbox names (modified
// UTF-7). A conversion that fails is not a syntax error to go-imap but an
// error of its own, answered "NO [SERVERBUG] Internal server error" before
// the session sees the command. Those failures are the client's: Dovecot
// answers BAD, and so does the shim (fixCompletion), naming the argument.

// badArgument says which argument of a command go-imap could not convert,
// or "" when it finds none at fault (a mailbox name is left to the
// mailbox-name refusal). args is the command's first line after its name
// (after "UID" for UID commands, the sub-command included).
func badArgument(name string, args []byte) string {
	a := strings.TrimSpace(string(args))
	if strings.HasPrefix(name, "UID ") {
		if i := strings.IndexByte(a, ' '); i >= 0 {
			a = strings.TrimLeft(a[i+1:], " ")
		} else {
			a = ""
		}
		name = name[len("UID "):]
	}
	switch name {
	case "FETCH", "STORE", "COPY", "MOVE", "EXPUNGE":
		set, _, _ := strings.Cut(a, " ")
		if !validSeqSet(set) {
			return "invalid sequence set"
		}
	case "SEARCH", "SORT", "THREAD":
		return "invalid sequence set or date"
	case "APPEND":
		toks := appendTokens(a)
		if len(toks) > 1 && toks[1] != "" && toks[1][0] == '"' {
			if _, err := time.Parse(`"_2-Jan-2006 15:04:05 -0700"`, toks[1]); err != nil {
				return "invalid date-time"
			}
		}
	}
	return ""
}

// validSeqSet reports whether s is a sequence-set of RFC 9051 §9 (or "$",
// RFC 5182): comma-separated numbers or ranges of nz-number or "*", each
// number at most 4294967295.
func validSeqSet(s string) bool {
	if s == "$" {
		return true
	}
	if s == "" {
		return false
	}
	for item := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(item, ":")
		if !seqNumber(lo) || (isRange && !seqNumber(hi)) {
			return false
		}
	}
	return true
}

func seqNumber(s string) bool {
	if s == "*" {
		return true
	}
	if s == "" || len(s) > 10 || s[0] < '1' || s[0] > '9' {
		return false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		n = n*10 + uint64(s[i]-'0')
	}
	return n <= 1<<32-1
}

// appendTokens splits an APPEND's arguments into the mailbox name and what
// follows it up to the message: a flag list and a date-time, when given,
// the date-time with its quotes. Good enough to find the date; the
// server parses the command.
func appendTokens(a string) []string {
	var toks []string
	for len(toks) < 3 {
		a = strings.TrimLeft(a, " ")
		if a == "" || a[0] == '{' || a[0] == '~' {
			break
		}
		var tok string
		switch a[0] {
		case '"':
			i := 1
			for i < len(a) && a[i] != '"' {
				if a[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(a) {
				return append(toks, a)
			}
			tok, a = a[:i+1], a[i+1:]
		case '(':
			i := strings.IndexByte(a, ')')
			if i < 0 {
				return append(toks, a)
			}
			tok, a = a[:i+1], a[i+1:]
		default:
			i := strings.IndexByte(a, ' ')
			if i < 0 {
				i = len(a)
			}
			tok, a = a[:i], a[i:]
		}
		if len(toks) == 1 && tok[0] == '(' {
			continue // the flags: the date, if any, comes next
		}
		toks = append(toks, tok)
	}
	return toks
}

// systemFlags are the system flags a client may set (RFC 9051 §2.3.2);
// \Recent is the server's (IMAP4rev1) and no other backslash flag is
// defined.
var systemFlags = map[string]bool{`\SEEN`: true, `\ANSWERED`: true, `\FLAGGED`: true, `\DELETED`: true, `\DRAFT`: true}

// badFlagArg returns the first flag of an APPEND or STORE that a client
// may not set (\Recent, \Foo, \*), or "": Dovecot refuses them with BAD
// before anything is stored (and before an APPEND's literal); go-imap
// stored them. args is the command's first line after its name.
func badFlagArg(name string, args []byte) string {
	a := strings.TrimSpace(string(args))
	var list string
	switch name {
	case "APPEND":
		toks := appendTokens(a) // the mailbox first
		if len(toks) == 0 {
			return ""
		}
		rest := strings.TrimLeft(a[len(toks[0]):], " ")
		if !strings.HasPrefix(rest, "(") {
			return ""
		}
		list, _, _ = strings.Cut(rest[1:], ")")
	case "STORE", "UID STORE":
		if name == "UID STORE" {
			_, a, _ = strings.Cut(a, " ")
		}
		_, a, _ = strings.Cut(strings.TrimLeft(a, " "), " ") // the set
		a = strings.TrimLeft(a, " ")
		if strings.HasPrefix(a, "(") { // (UNCHANGEDSINCE n)
			_, a, _ = strings.Cut(a, ")")
			a = strings.TrimLeft(a, " ")
		}
		item, flags, _ := strings.Cut(a, " ")
		if !strings.Contains(strings.ToUpper(item), "FLAGS") {
			return ""
		}
		list = strings.Trim(strings.TrimSpace(flags), "()")
	default:
		return ""
	}
	for _, f := range strings.Fields(list) {
		// Only a well-formed flag is judged (and echoed in the
		// response); go-imap refuses the rest as syntax errors.
		if strings.HasPrefix(f, `\`) && (f == `\*` || isAtom(f[1:])) && !systemFlags[strings.ToUpper(f)] {
			return f
		}
	}
	return ""
}

// isAtom reports whether s is an IMAP atom (RFC 9051 §9: no specials,
// spaces or controls).
func isAtom(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// emptyHeaderList matches a HEADER.FIELDS or HEADER.FIELDS.NOT section with
// no field names, which RFC 9051 §9 does not allow (header-list has one at
// least): go-imap took it for BODY[HEADER] and answered with that section,
// not the one asked for; Dovecot refuses it with BAD.
var emptyHeaderList = regexp.MustCompile(`(?i)HEADER\.FIELDS(\.NOT)?[ ]*\([ ]*\)`)

// emptyFetchItems matches a FETCH whose item list is empty ("FETCH 1 ()"),
// which RFC 9051 §9 does not allow: go-imap answered "* 1 FETCH ()", a
// response with no item, which the grammar does not allow either; Dovecot
// refuses it with BAD. It is matched against the arguments after the
// sequence set's command name (after "FETCH" for UID FETCH).
var emptyFetchItems = regexp.MustCompile(`^[^ ]+ +\( *\)( |$)`)

// fetchArgs is the arguments of a FETCH or UID FETCH: rest is the first line
// after the command name, which for UID commands starts with "FETCH".
func fetchArgs(name string, rest []byte) []byte {
	rest = bytes.TrimRight(rest, "\r\n")
	if strings.HasPrefix(name, "UID ") {
		if i := bytes.IndexByte(rest, ' '); i >= 0 {
			return bytes.TrimLeft(rest[i+1:], " ")
		}
		return nil
	}
	return rest
}
