package imapd

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// --- normalisation -----------------------------------------------------------

var statusLine = regexp.MustCompile(`^(\S+) (OK|NO|BAD|BYE|PREAUTH)(?: \[([^\]]*)\])?`)

// normalise rewrites a response line so that what legitimately differs
// between servers compares equal: the human-readable text of status
// responses, capability lists, UIDVALIDITY values, the order of FETCH
// items, of flags and of STATUS items, quoted strings versus atoms.
func normalise(l string, keepUID bool) string {
	if m := statusLine.FindStringSubmatch(l); m != nil {
		out := m[1] + " " + m[2]
		if m[3] != "" || strings.Contains(m[0], "[") {
			out += " [" + normaliseCode(m[3]) + "]"
		}
		return out
	}
	toks, err := tokenize(l)
	if err != nil {
		return l
	}
	v := parseValues(&toks)
	// * n FETCH (...), * STATUS box (...), * FLAGS (...), * LIST (...) ...
	if len(v) >= 4 && v[0].atom == "*" && strings.EqualFold(v[2].atom, "FETCH") && v[3].isList {
		v[3].list = sortPairs(v[3].list)
		if !keepUID {
			v[3].list = dropPair(v[3].list, "UID")
		}
	} else if len(v) >= 4 && v[0].atom == "*" && strings.EqualFold(v[1].atom, "STATUS") && v[3].isList {
		v[3].list = sortPairs(v[3].list)
		for i := 0; i+1 < len(v[3].list); i += 2 {
			if strings.EqualFold(v[3].list[i].atom, "UIDVALIDITY") {
				v[3].list[i+1] = value{atom: "$UV"}
			}
		}
	} else if len(v) >= 3 && v[0].atom == "*" && (strings.EqualFold(v[1].atom, "FLAGS") || strings.EqualFold(v[1].atom, "LIST") || strings.EqualFold(v[1].atom, "LSUB")) && v[2].isList {
		sortAtoms(v[2].list)
	}
	return renderValues(v)
}

func normaliseCode(code string) string {
	f := strings.SplitN(code, " ", 2)
	name := strings.ToUpper(f[0])
	switch name {
	case "CAPABILITY":
		return "CAPABILITY"
	case "UIDVALIDITY":
		return "UIDVALIDITY $UV"
	case "APPENDUID", "COPYUID":
		if len(f) == 2 {
			g := strings.SplitN(f[1], " ", 2)
			if len(g) == 2 {
				return name + " $UV " + g[1]
			}
		}
	case "PERMANENTFLAGS":
		if len(f) == 2 {
			toks, err := tokenize(f[1])
			if err == nil {
				v := parseValues(&toks)
				if len(v) == 1 && v[0].list != nil {
					sortAtoms(v[0].list)
					return name + " " + renderValues(v)
				}
			}
		}
	}
	return code
}

type token struct {
	kind byte // '(' ')' 'a' atom, 's' string
	text string
}

// tokenize splits a response line; an atom may hold a [...] section with
// spaces and parentheses inside (BODY[HEADER.FIELDS (FROM)]).
func tokenize(l string) ([]token, error) {
	var out []token
	for i := 0; i < len(l); {
		c := l[i]
		switch {
		case c == ' ':
			i++
		case c == '(' || c == ')':
			out = append(out, token{kind: c})
			i++
		case c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(l) && l[j] != '"'; j++ {
				if l[j] == '\\' && j+1 < len(l) {
					j++
					switch l[j] {
					case 'r':
						b.WriteByte('\r')
						continue
					case 'n':
						b.WriteByte('\n')
						continue
					case 'x':
						if j+2 < len(l) {
							if n, err := strconv.ParseUint(l[j+1:j+3], 16, 8); err == nil {
								b.WriteByte(byte(n))
								j += 2
								continue
							}
						}
					}
				}
				b.WriteByte(l[j])
			}
			if j >= len(l) {
				return nil, fmt.Errorf("unterminated string")
			}
			out = append(out, token{kind: 's', text: b.String()})
			i = j + 1
		default:
			j, depth := i, 0
			for ; j < len(l); j++ {
				if l[j] == '[' {
					depth++
				} else if l[j] == ']' {
					depth--
				} else if depth == 0 && (l[j] == ' ' || l[j] == '(' || l[j] == ')') {
					break
				}
			}
			out = append(out, token{kind: 'a', text: l[i:j]})
			i = j
		}
	}
	return out, nil
}

type value struct {
	atom   string
	str    *string
	list   []value
	isList bool
}

func parseValues(toks *[]token) []value {
	var out []value
	for len(*toks) > 0 {
		t := (*toks)[0]
		*toks = (*toks)[1:]
		switch t.kind {
		case '(':
			l := parseValues(toks)
			if l == nil {
				l = []value{}
			}
			out = append(out, value{list: l, isList: true})
		case ')':
			return out
		case 's':
			s := t.text
			out = append(out, value{str: &s})
		default:
			out = append(out, value{atom: t.text})
		}
	}
	return out
}

// isAtomText says whether a quoted string could have been sent as an atom
// with the same meaning.
func isAtomText(s string) bool {
	if s == "" || strings.EqualFold(s, "NIL") {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`(){%*"\]`, r) || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func renderValue(v value) string {
	switch {
	case v.isList:
		return "(" + renderValues(v.list) + ")"
	case v.str != nil:
		s := *v.str
		if isAtomText(s) {
			return s
		}
		if dateDayFixed.MatchString(s) {
			s = "0" + s[1:] // date-day-fixed: " 1-Dec-2025" is "01-Dec-2025"
		}
		return quoteNorm(s)
	}
	if strings.Contains(v.atom, "[") {
		// A section's header field names may be quoted or atoms.
		return sectionQuoted.ReplaceAllString(v.atom, "$1")
	}
	return v.atom
}

var (
	dateDayFixed  = regexp.MustCompile(`^ [1-9]-[A-Z][a-z]{2}-[0-9]{4} `)
	sectionQuoted = regexp.MustCompile(`"([A-Za-z0-9-]+)"`)
)

func renderValues(vs []value) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = renderValue(v)
	}
	return strings.Join(parts, " ")
}

// sortPairs sorts a "key value key value" list by key.
func sortPairs(l []value) []value {
	if len(l)%2 != 0 {
		return l
	}
	type pair struct{ k, v value }
	ps := make([]pair, 0, len(l)/2)
	for i := 0; i < len(l); i += 2 {
		if strings.EqualFold(l[i].atom, "FLAGS") && l[i+1].isList {
			sortAtoms(l[i+1].list)
		}
		ps = append(ps, pair{l[i], l[i+1]})
	}
	sort.SliceStable(ps, func(i, j int) bool { return strings.ToUpper(ps[i].k.atom) < strings.ToUpper(ps[j].k.atom) })
	out := make([]value, 0, len(l))
	for _, p := range ps {
		out = append(out, p.k, p.v)
	}
	return out
}

// dropPair removes key and its value from a "key value" list.
func dropPair(l []value, key string) []value {
	for i := 0; i+1 < len(l); i += 2 {
		if strings.EqualFold(l[i].atom, key) {
			return append(l[:i:i], l[i+2:]...)
		}
	}
	return l
}

func sortAtoms(l []value) {
	sort.SliceStable(l, func(i, j int) bool { return strings.ToUpper(renderValue(l[i])) < strings.ToUpper(renderValue(l[j])) })
}
