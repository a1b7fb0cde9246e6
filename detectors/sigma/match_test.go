package sigma

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type mcase struct {
	name  string
	det   string // detection body (indented two spaces)
	ev    tev
	match bool
}

func runCases(t *testing.T, cases []mcase, o Options) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := mustMatcher(t, detection(c.det), o)
			assert.Equal(t, c.match, m.Match(c.ev), "event %v", c.ev)
		})
	}
}

func TestPlainValues(t *testing.T) {
	runCases(t, []mcase{
		{"exact case-insensitive", "  sel:\n    f: Hello\n  condition: sel", tev{"f": "hELLO"}, true},
		{"exact mismatch", "  sel:\n    f: Hello\n  condition: sel", tev{"f": "Hello!"}, false},
		{"missing field", "  sel:\n    f: Hello\n  condition: sel", tev{"g": "Hello"}, false},
		{"star wildcard", "  sel:\n    f: 'prog*.exe'\n  condition: sel", tev{"f": "PROGA.exe"}, true},
		{"star matches empty", "  sel:\n    f: 'prog*.exe'\n  condition: sel", tev{"f": "prog.exe"}, true},
		{"question wildcard", "  sel:\n    f: 'prog?.exe'\n  condition: sel", tev{"f": "progA.exe"}, true},
		{"question needs one char", "  sel:\n    f: 'prog?.exe'\n  condition: sel", tev{"f": "prog.exe"}, false},
		{"question counts a rune", "  sel:\n    f: 'caf?'\n  condition: sel", tev{"f": "café"}, true},
		{"escaped star is literal", "  sel:\n    f: 'a\\*b'\n  condition: sel", tev{"f": "a*b"}, true},
		{"escaped star no wildcard", "  sel:\n    f: 'a\\*b'\n  condition: sel", tev{"f": "axxb"}, false},
		{"escaped question", "  sel:\n    f: 'a\\?'\n  condition: sel", tev{"f": "ab"}, false},
		{"single backslash plain", "  sel:\n    f: 'C:\\Windows'\n  condition: sel", tev{"f": `c:\windows`}, true},
		{"double backslash before star is backslash + wildcard", "  sel:\n    f: 'a\\\\*'\n  condition: sel", tev{"f": `a\xyz`}, true},
		{"triple backslash star is backslash + star", "  sel:\n    f: 'a\\\\\\*'\n  condition: sel", tev{"f": `a\*`}, true},
		{"triple backslash star no wildcard", "  sel:\n    f: 'a\\\\\\*'\n  condition: sel", tev{"f": `a\zz`}, false},
		{"four backslashes are two", "  sel:\n    f: 'a\\\\\\\\b'\n  condition: sel", tev{"f": `a\\b`}, true},
		{"list is OR", "  sel:\n    f: [a, b]\n  condition: sel", tev{"f": "B"}, true},
		{"map is AND", "  sel:\n    f: a\n    g: b\n  condition: sel", tev{"f": "a", "g": "c"}, false},
		{"list of maps is OR", "  sel:\n    - f: a\n    - g: b\n  condition: sel", tev{"g": "b"}, true},
		{"integer equals number", "  sel:\n    EventID: 4624\n  condition: sel", tev{"EventID": float64(4624)}, true},
		{"integer equals numeric string", "  sel:\n    EventID: 4624\n  condition: sel", tev{"EventID": "4624"}, true},
		{"string number equals number", "  sel:\n    EventID: '4624'\n  condition: sel", tev{"EventID": 4624}, true},
		{"bool value", "  sel:\n    tls: false\n  condition: sel", tev{"tls": false}, true},
		{"bool value mismatch", "  sel:\n    tls: false\n  condition: sel", tev{"tls": true}, false},
		{"empty string", "  sel:\n    f: ''\n  condition: sel", tev{"f": ""}, true},
		{"empty string not missing", "  sel:\n    f: ''\n  condition: sel", tev{}, false},
		{"null matches missing", "  sel:\n    f: null\n  condition: sel", tev{}, true},
		{"null matches null", "  sel:\n    f: null\n  condition: sel", tev{"f": nil}, true},
		{"null not value", "  sel:\n    f: null\n  condition: sel", tev{"f": "x"}, false},
		{"list field any element", "  sel:\n    names: '*.zip'\n  condition: sel", tev{"names": []any{"a.pdf", "b.ZIP"}}, true},
		{"non-ascii case fold", "  sel:\n    f: 'DONNÉES*'\n  condition: sel", tev{"f": "données secrètes"}, true},
		{"keywords contain", "  keywords:\n    - 'evilservice'\n    - 'svchost.exe -n evil'\n  condition: keywords", tev{"msg": "started EVILSERVICE now"}, true},
		{"keywords miss", "  keywords:\n    - 'evilservice'\n  condition: keywords", tev{"msg": "benign"}, false},
		{"keywords all", "  keywords:\n    '|all':\n      - 'OabVirtualDirectory'\n      - ' -ExternalUrl '\n  condition: keywords", tev{"a": "Set-OabVirtualDirectory x", "b": "y -ExternalUrl z"}, true},
		{"keywords all needs both", "  keywords:\n    '|all':\n      - 'OabVirtualDirectory'\n      - ' -ExternalUrl '\n  condition: keywords", tev{"a": "Set-OabVirtualDirectory x"}, false},
	}, Options{})
}

func TestModifiers(t *testing.T) {
	ts := "2025-12-11T23:40:00+01:00"
	runCases(t, []mcase{
		{"contains", "  sel:\n    f|contains: secret\n  condition: sel", tev{"f": "TOP SECRET doc"}, true},
		{"contains miss", "  sel:\n    f|contains: secret\n  condition: sel", tev{"f": "public"}, false},
		{"startswith", "  sel:\n    f|startswith: adm\n  condition: sel", tev{"f": "Administrator"}, true},
		{"startswith miss", "  sel:\n    f|startswith: adm\n  condition: sel", tev{"f": "xadm"}, false},
		{"endswith", "  sel:\n    f|endswith: '\\cmd.exe'\n  condition: sel", tev{"f": `C:\Windows\System32\CMD.EXE`}, true},
		{"endswith miss", "  sel:\n    f|endswith: '.exe'\n  condition: sel", tev{"f": "a.exe.txt"}, false},
		{"contains keeps inner wildcard", "  sel:\n    f|contains: 'a*c'\n  condition: sel", tev{"f": "xxabbbcxx"}, true},
		{"contains all", "  sel:\n    f|contains|all: [foo, bar]\n  condition: sel", tev{"f": "bar and foo"}, true},
		{"contains all needs each", "  sel:\n    f|contains|all: [foo, bar]\n  condition: sel", tev{"f": "foo only"}, false},
		{"cased", "  sel:\n    f|cased: Secret\n  condition: sel", tev{"f": "secret"}, false},
		{"cased match", "  sel:\n    f|cased|contains: Secret\n  condition: sel", tev{"f": "a Secret"}, true},
		{"re", "  sel:\n    f|re: '^TEXT \"[a-z]+\"$'\n  condition: sel", tev{"f": `TEXT "abc"`}, true},
		{"re case-sensitive by default", "  sel:\n    f|re: '^abc$'\n  condition: sel", tev{"f": "ABC"}, false},
		{"re i", "  sel:\n    f|re|i: '^abc$'\n  condition: sel", tev{"f": "ABC"}, true},
		{"re m", "  sel:\n    f|re|m: '^b$'\n  condition: sel", tev{"f": "a\nb\nc"}, true},
		{"re without m", "  sel:\n    f|re: '^b$'\n  condition: sel", tev{"f": "a\nb\nc"}, false},
		{"re s", "  sel:\n    f|re|s: 'a.c'\n  condition: sel", tev{"f": "a\nc"}, true},
		{"re without s", "  sel:\n    f|re: 'a.c'\n  condition: sel", tev{"f": "a\nc"}, false},
		{"re unanchored", "  sel:\n    f|re: 'b+'\n  condition: sel", tev{"f": "abbbc"}, true},
		{"cidr v4", "  sel:\n    ip|cidr: 10.20.0.0/16\n  condition: sel", tev{"ip": "10.20.3.4"}, true},
		{"cidr v4 outside", "  sel:\n    ip|cidr: 10.20.0.0/16\n  condition: sel", tev{"ip": "10.21.3.4"}, false},
		{"cidr v6", "  sel:\n    ip|cidr: '2001:db8::/32'\n  condition: sel", tev{"ip": "2001:db8::1"}, true},
		{"cidr list", "  sel:\n    ip|cidr: [192.168.0.0/16, 10.0.0.0/8]\n  condition: sel", tev{"ip": "10.1.1.1"}, true},
		{"cidr not an ip", "  sel:\n    ip|cidr: 10.0.0.0/8\n  condition: sel", tev{"ip": "host"}, false},
		{"base64", "  sel:\n    f|base64: 'cmd'\n  condition: sel", tev{"f": "Y21k"}, true},
		{"base64 is case-sensitive", "  sel:\n    f|base64: 'cmd'\n  condition: sel", tev{"f": "y21K"}, false},
		{"base64 contains", "  sel:\n    f|base64|contains: 'http://'\n  condition: sel", tev{"f": "xxaHR0cDovLw==yy"}, true},
		{"base64offset offset 0", "  sel:\n    f|base64offset|contains: 'http://'\n  condition: sel", tev{"f": "aHR0cDovL3d3dw=="}, true},
		{"base64offset offset 1", "  sel:\n    f|base64offset|contains: 'http://'\n  condition: sel", tev{"f": "IGh0dHA6Ly93d3c="}, true},
		{"base64offset offset 2", "  sel:\n    f|base64offset|contains: 'http://'\n  condition: sel", tev{"f": "ICBodHRwOi8vd3d3"}, true},
		{"base64offset miss", "  sel:\n    f|base64offset|contains: 'http://'\n  condition: sel", tev{"f": "Zm9vYmFy"}, false},
		{"utf16le", "  sel:\n    f|utf16le: 'cmd'\n  condition: sel", tev{"f": "c\x00m\x00d\x00"}, true},
		{"wide", "  sel:\n    f|wide: 'cmd'\n  condition: sel", tev{"f": "c\x00m\x00d\x00"}, true},
		{"utf16be", "  sel:\n    f|utf16be: 'cmd'\n  condition: sel", tev{"f": "\x00c\x00m\x00d"}, true},
		{"utf16 has BOM", "  sel:\n    f|utf16: 'cmd'\n  condition: sel", tev{"f": "\xff\xfec\x00m\x00d\x00"}, true},
		{"wide base64", "  sel:\n    f|wide|base64: 'cmd'\n  condition: sel", tev{"f": "YwBtAGQA"}, true},
		{"windash slash", "  sel:\n    f|windash|contains: ' -exec '\n  condition: sel", tev{"f": "x /exec y"}, true},
		{"windash en dash", "  sel:\n    f|windash|contains: ' -exec '\n  condition: sel", tev{"f": "x \u2013exec y"}, true},
		{"windash dash", "  sel:\n    f|windash|contains: ' -exec '\n  condition: sel", tev{"f": "x -exec y"}, true},
		{"windash miss", "  sel:\n    f|windash|contains: ' -exec '\n  condition: sel", tev{"f": "x +exec y"}, false},
		{"lt", "  sel:\n    n|lt: 10\n  condition: sel", tev{"n": float64(9)}, true},
		{"lt equal", "  sel:\n    n|lt: 10\n  condition: sel", tev{"n": float64(10)}, false},
		{"lte", "  sel:\n    n|lte: 10\n  condition: sel", tev{"n": float64(10)}, true},
		{"gt", "  sel:\n    n|gt: 10\n  condition: sel", tev{"n": float64(11)}, true},
		{"gt string number", "  sel:\n    n|gt: 10\n  condition: sel", tev{"n": "11"}, true},
		{"gte", "  sel:\n    n|gte: 10\n  condition: sel", tev{"n": 10}, true},
		{"gte miss", "  sel:\n    n|gte: 10\n  condition: sel", tev{"n": 9.5}, false},
		{"gt not a number", "  sel:\n    n|gt: 10\n  condition: sel", tev{"n": "many"}, false},
		{"exists true", "  sel:\n    f|exists: true\n  condition: sel", tev{"f": nil}, true},
		{"exists true missing", "  sel:\n    f|exists: true\n  condition: sel", tev{}, false},
		{"exists false", "  sel:\n    f|exists: false\n  condition: sel", tev{}, true},
		{"neq", "  sel:\n    f|neq: a\n  condition: sel", tev{"f": "b"}, true},
		{"neq equal", "  sel:\n    f|neq: a\n  condition: sel", tev{"f": "A"}, false},
		{"neq list differs from all", "  sel:\n    f|neq: [a, b]\n  condition: sel", tev{"f": "b"}, false},
		{"neq list none", "  sel:\n    f|neq: [a, b]\n  condition: sel", tev{"f": "c"}, true},
		{"neq missing field", "  sel:\n    f|neq: a\n  condition: sel", tev{}, false},
		{"neq number", "  sel:\n    n|neq: 5\n  condition: sel", tev{"n": float64(6)}, true},
		{"fieldref equal", "  sel:\n    user.name|fieldref: mailbox.owner\n  condition: sel", tev{"user.name": "A@x", "mailbox.owner": "a@X"}, true},
		{"fieldref differs", "  sel:\n    user.name|fieldref: mailbox.owner\n  condition: sel", tev{"user.name": "a", "mailbox.owner": "b"}, false},
		{"fieldref neq", "  sel:\n    user.name|fieldref|neq: mailbox.owner\n  condition: sel", tev{"user.name": "a", "mailbox.owner": "b"}, true},
		{"fieldref neq same", "  sel:\n    user.name|fieldref|neq: mailbox.owner\n  condition: sel", tev{"user.name": "a", "mailbox.owner": "a"}, false},
		{"fieldref neq missing ref", "  sel:\n    user.name|fieldref|neq: mailbox.owner\n  condition: sel", tev{"user.name": "a"}, false},
		{"fieldref cased", "  sel:\n    a|fieldref|cased: b\n  condition: sel", tev{"a": "X", "b": "x"}, false},
		{"fieldref endswith", "  sel:\n    a|fieldref|endswith: b\n  condition: sel", tev{"a": "j.dupont@interieur.test", "b": "INTERIEUR.test"}, true},
		{"hour", "  sel:\n    '@timestamp|hour': 23\n  condition: sel", tev{"@timestamp": ts}, true},
		{"hour lt", "  sel:\n    '@timestamp|hour|lt': 7\n  condition: sel", tev{"@timestamp": ts}, false},
		{"hour gte", "  sel:\n    '@timestamp|hour|gte': 20\n  condition: sel", tev{"@timestamp": ts}, true},
		{"minute", "  sel:\n    '@timestamp|minute': 40\n  condition: sel", tev{"@timestamp": ts}, true},
		{"day", "  sel:\n    '@timestamp|day': 11\n  condition: sel", tev{"@timestamp": ts}, true},
		{"week", "  sel:\n    '@timestamp|week': 50\n  condition: sel", tev{"@timestamp": ts}, true},
		{"month", "  sel:\n    '@timestamp|month': 12\n  condition: sel", tev{"@timestamp": ts}, true},
		{"year", "  sel:\n    '@timestamp|year': 2025\n  condition: sel", tev{"@timestamp": ts}, true},
		{"time on other field", "  sel:\n    when|hour: 8\n  condition: sel", tev{"when": "2025-01-01T08:05:00Z"}, true},
		{"time bad value", "  sel:\n    when|hour: 8\n  condition: sel", tev{"when": "yesterday"}, false},
	}, Options{})
}

func TestTimeModifierLocation(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	d := detection("  sel:\n    '@timestamp|hour': 0\n  condition: sel")
	ev := tev{"@timestamp": "2025-12-11T23:40:00Z"}
	assert.False(t, mustMatcher(t, d, Options{}).Match(ev), "event offset: 23h")
	assert.True(t, mustMatcher(t, d, Options{Location: paris}).Match(ev), "Paris: 00h40")
}

func TestExpand(t *testing.T) {
	o := Options{Placeholders: map[string][]string{"office_networks": {"10.20.0.0/16", "192.168.1.0/24"}, "Servers": {"srv*"}}}
	runCases(t, []mcase{
		{"cidr expand in", "  sel:\n    ip|expand|cidr: '%office_networks%'\n  condition: sel", tev{"ip": "192.168.1.9"}, true},
		{"cidr expand out", "  sel:\n    ip|expand|cidr: '%office_networks%'\n  condition: sel", tev{"ip": "8.8.8.8"}, false},
		{"cidr then expand", "  sel:\n    ip|cidr|expand: '%office_networks%'\n  condition: sel", tev{"ip": "10.20.1.1"}, true},
		{"wildcard value", "  sel:\n    host|expand: '%Servers%'\n  condition: sel", tev{"host": "SRV01"}, true},
		{"escaped percent", "  sel:\n    f|expand: '\\%plain%Servers%'\n  condition: sel", tev{"f": "%plainsrvX"}, true},
		{"without expand literal", "  sel:\n    f: '%Servers%'\n  condition: sel", tev{"f": "%servers%"}, true},
	}, o)
	_, err := Compile(mustRule(t, detection("  sel:\n    f|expand: '%nope%'\n  condition: sel")), o)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "%nope%")
	assert.Contains(t, err.Error(), "test.yml:5:")
}

func TestFieldMapping(t *testing.T) {
	o := Options{FieldMap: map[string]string{"User": "user.name", "Owner": "mailbox.owner"}}
	m := mustMatcher(t, detection("  sel:\n    User|fieldref|neq: Owner\n  condition: sel"), o)
	assert.True(t, m.Match(tev{"user.name": "a", "mailbox.owner": "b"}))
	assert.False(t, m.Match(tev{"User": "a", "Owner": "b"}))
}

func TestCompileErrors(t *testing.T) {
	cases := []struct{ name, det, want string }{
		{"unknown modifier", "  sel:\n    f|bogus: a\n  condition: sel", `unsupported value modifier "bogus"`},
		{"unknown identifier", "  sel:\n    f: a\n  condition: sel and other", `unknown search identifier "other"`},
		{"bad regex", "  sel:\n    f|re: '(?<=a)b'\n  condition: sel", "regular expression"},
		{"bad cidr", "  sel:\n    f|cidr: 'x/8'\n  condition: sel", "CIDR"},
		{"all single", "  sel:\n    f|contains|all: a\n  condition: sel", "|all needs"},
		{"gt not number", "  sel:\n    f|gt: abc\n  condition: sel", "needs a number"},
		{"re and cidr", "  sel:\n    f|re|cidr: a\n  condition: sel", "cannot be combined"},
		{"flag without re", "  sel:\n    f|i: a\n  condition: sel", "must follow |re"},
		{"of selects none", "  sel:\n    f: a\n  condition: 1 of filter*", "selects no search identifier"},
		{"aggregation", "  sel:\n    f: a\n  condition: sel | count() > 5", "correlation rule"},
		{"base64 wildcard", "  sel:\n    f|base64: 'a*'\n  condition: sel", "wildcards"},
		{"exists non bool", "  sel:\n    f|exists: yes please\n  condition: sel", "true or false"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rules, errs := ParseFile("r.yml", []byte(detection(c.det)))
			if len(errs) > 0 {
				assert.Contains(t, errs[0].Error(), c.want)
				return
			}
			_, err := Compile(rules[0], Options{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.True(t, strings.HasPrefix(err.Error(), "r.yml:"), err.Error())
		})
	}
}

func TestRequiredValues(t *testing.T) {
	cases := []struct {
		name, det string
		want      []string
		ok        bool
	}{
		{"single", "  sel:\n    event.action: imap.login\n  condition: sel", []string{"imap.login"}, true},
		{"list", "  sel:\n    event.action: [imap.login, SMTP.auth]\n  condition: sel", []string{"imap.login", "smtp.auth"}, true},
		{"and other", "  sel:\n    event.action: imap.login\n  f:\n    x: 1\n  condition: sel and not f", []string{"imap.login"}, true},
		{"or unknown", "  sel:\n    event.action: imap.login\n  f:\n    x: 1\n  condition: sel or f", nil, false},
		{"wildcard", "  sel:\n    event.action: 'imap.*'\n  condition: sel", nil, false},
		{"1 of", "  sel1:\n    event.action: a\n  sel2:\n    event.action: b\n  condition: 1 of sel*", []string{"a", "b"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := mustMatcher(t, detection(c.det), Options{})
			got, ok := m.RequiredValues("event.action")
			assert.Equal(t, c.ok, ok)
			if c.ok {
				assert.Equal(t, c.want, got)
			}
		})
	}
}

func TestMatchIndexedAgreesWithMatch(t *testing.T) {
	m := mustMatcher(t, detection("  sel:\n    - event.action: IMAP.Login\n      x: 1\n    - event.action: [imap.fetch, imap.select]\n  filter:\n    event.action|cased: imap.select\n  condition: sel and not filter"), Options{})
	m.SetIndexField("event.action")
	for _, ev := range []tev{
		{"event.action": "imap.login", "x": 1}, {"event.action": "imap.login"}, {"event.action": "imap.fetch"},
		{"event.action": "imap.select"}, {"event.action": "IMAP.SELECT"}, {"event.action": "other", "x": 1},
	} {
		ix := strings.ToLower(ev["event.action"].(string))
		assert.Equal(t, m.Match(ev), m.MatchIndexed(ev, ix), "%v", ev)
	}
}

func TestMultiContains(t *testing.T) {
	d := detection("  sel:\n    c|contains:\n      - 'TAJ'\n      - 'fichier'\n      - 'mot de passe'\n      - '*x?z'\n  condition: sel")
	m := mustMatcher(t, d, Options{})
	for v, want := range map[string]bool{
		`TEXT "taj"`: true, `SUBJECT "Fichiers"`: true, `BODY "MOT DE PASSE"`: true, `BODY "mot de pass"`: false,
		"axyz": true, "": false, "données taj": true, "données": false, "FICHIER é": true, "x": false,
	} {
		assert.Equal(t, want, m.Match(tev{"c": v}), v)
	}
	neq := mustMatcher(t, detection("  sel:\n    c|contains|neq: [abc, def]\n  condition: sel"), Options{})
	assert.True(t, neq.Match(tev{"c": "xyz"}))
	assert.False(t, neq.Match(tev{"c": "xDEFy"}))
	n := mustMatcher(t, detection("  sel:\n    c|contains: ['12', '45']\n  condition: sel"), Options{})
	assert.True(t, n.Match(tev{"c": float64(4567)}))
}

// An item with one matcher, called directly (itemM.one, itemM.ref), decides
// as the generic path over its groups, for fieldref items under |neq
// (|all inside) and the others, on events read by name and by number.
func TestOneMatcherAsGroups(t *testing.T) {
	sels := []string{"a|fieldref: b", "a|fieldref|neq: b", "a|fieldref|contains: b", "a|fieldref|neq|startswith: b",
		"a: x", "a|neq: x", "a|contains: x", "a|re: '^x'", "a|contains|all: [x, y]"}
	vals := []any{"x", "X", "xy", "y", "", nil, 3.0, "3", []any{"x", "y"}, []string{"y"}}
	for _, sel := range sels {
		m := mustMatcher(t, detection("  sel:\n    "+sel+"\n  condition: sel\n"), Options{})
		it := m.searches["sel"].maps[0][0]
		generic := *it
		generic.one, generic.ref = nil, nil
		for _, a := range vals {
			for _, b := range vals {
				ev := tev{}
				if a != nil {
					ev["a"] = a
				}
				if b != nil {
					ev["b"] = b
				}
				if got, want := it.matchEv(ev, nil), generic.matchEv(ev, nil); got != want {
					t.Errorf("%s on a=%v b=%v: %v, over its groups %v", sel, a, b, got, want)
				}
				fev := finderEv{ev}
				if got, want := it.matchEv(fev, fev), generic.matchEv(fev, fev); got != want {
					t.Errorf("%s on a=%v b=%v read by number: %v, over its groups %v", sel, a, b, got, want)
				}
			}
		}
	}
}

// finderEv is a tev read by number (the numbers of its names).
type finderEv struct{ tev }

func (e finderEv) FieldByID(id FieldID, name string) (any, bool) {
	if n, _ := FieldIDOf(name); n != id {
		panic("FieldByID: " + name + " is not numbered so")
	}
	return e.Field(name)
}
