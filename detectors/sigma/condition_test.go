package sigma

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseConditionPrecedence(t *testing.T) {
	cases := []struct{ in, want string }{
		{"a", "a"},
		{"a or b and c", "(a or (b and c))"},
		{"a and b or c", "((a and b) or c)"},
		{"not a and b", "(not a and b)"},
		{"not a or not b", "(not a or not b)"},
		{"a and (b or c)", "(a and (b or c))"},
		{"not (a or b)", "not (a or b)"},
		{"1 of sel* and not 1 of filter*", "(1 of sel* and not 1 of filter*)"},
		{"all of them", "all of them"},
		{"1 of them", "1 of them"},
		{"all of selection*", "all of selection*"},
		{"1 of selection* and keywords", "(1 of selection* and keywords)"},
		{"selection1 and (keywords1 or keywords2)", "(selection1 and (keywords1 or keywords2))"},
		{"keywords and not filters", "(keywords and not filters)"},
		{"A AND NOT B", "(A and not B)"},
		{"not not a", "not not a"},
		{"any of sel*", "1 of sel*"},
		{"2 of sel*", "2 of sel*"},
		{"((a))", "a"},
		{"a or b or c", "((a or b) or c)"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			e, err := ParseCondition(c.in)
			require.NoError(t, err)
			assert.Equal(t, c.want, e.String())
		})
	}
}

func TestParseConditionErrors(t *testing.T) {
	cases := []struct {
		in   string
		off  int
		want string
	}{
		{"", 0, "empty"},
		{"a and", 5, "unexpected end"},
		{"(a or b", 7, "missing )"},
		{"a b", 2, "unexpected \"b\""},
		{"a )", 2, "unexpected \")\""},
		{"x of sel", 0, "must be 1, all"},
		{"1 of", 4, "after 'of'"},
		{"1 of (a)", 5, "after 'of'"},
		{"sel | count() > 4", 4, "correlation rule"},
		{"a & b", 2, "unexpected character"},
		{"and", 0, "unexpected \"and\""},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			_, err := ParseCondition(c.in)
			require.Error(t, err)
			ce, ok := err.(*CondError)
			require.True(t, ok)
			assert.Equal(t, c.off, ce.Offset)
			assert.Contains(t, ce.Msg, c.want)
		})
	}
}

func TestConditionEvaluation(t *testing.T) {
	det := `  selection1:
    a: 1
  selection2:
    b: 1
  filter_x:
    c: 1
  _private:
    d: 1
`
	cases := []struct {
		cond string
		ev   tev
		want bool
	}{
		{"selection1 or selection2", tev{"b": 1}, true},
		{"selection1 and selection2", tev{"b": 1}, false},
		{"selection1 and not filter_x", tev{"a": 1, "c": 1}, false},
		{"selection1 and not filter_x", tev{"a": 1}, true},
		{"1 of selection*", tev{"b": 1}, true},
		{"all of selection*", tev{"b": 1}, false},
		{"all of selection*", tev{"a": 1, "b": 1}, true},
		{"1 of them", tev{"c": 1}, true},
		{"1 of them", tev{"d": 1}, false}, // _private is not part of them
		{"all of them", tev{"a": 1, "b": 1, "c": 1}, true},
		{"_private", tev{"d": 1}, true},
		{"2 of them", tev{"a": 1, "c": 1}, true},
		{"2 of them", tev{"a": 1}, false},
		{"not (selection1 or selection2)", tev{"c": 1}, true},
		{"selection1 or selection2 and filter_x", tev{"a": 1}, true},
		{"(selection1 or selection2) and filter_x", tev{"a": 1}, false},
		{"1 of selection* and not 1 of filter*", tev{"a": 1, "c": 1}, false},
	}
	for _, c := range cases {
		t.Run(c.cond, func(t *testing.T) {
			m := mustMatcher(t, detection(det+"  condition: "+c.cond), Options{})
			assert.Equal(t, c.want, m.Match(c.ev))
		})
	}
	t.Run("condition list is OR", func(t *testing.T) {
		m := mustMatcher(t, detection(det+"  condition:\n    - selection1\n    - selection2"), Options{})
		assert.True(t, m.Match(tev{"b": 1}))
		assert.False(t, m.Match(tev{"c": 1}))
	})
}

// The examples of the Sigma rules specification, section Detection.
func TestSpecDetectionExamples(t *testing.T) {
	cases := []struct {
		name string
		det  string
		ev   tev
		want bool
	}{
		{"list of strings", "  keywords:\n    - 'EVILSERVICE'\n    - 'svchost.exe -n evil'\n  condition: keywords", tev{"m": "svchost.exe -n evil"}, true},
		{"list of maps 1", "  selection:\n    - Image|endswith: '\\\\example.exe'\n    - Description|contains: 'Test executable'\n  condition: selection", tev{"Image": `C:\\example.exe`}, true},
		{"list of maps 2", "  selection:\n    - Image|endswith: '\\\\example.exe'\n    - Description|contains: 'Test executable'\n  condition: selection", tev{"Description": "a Test executable"}, true},
		{"maps EventLog", "  selection:\n    EventLog: Security\n    EventID:\n      - 517\n      - 1102\n  condition: selection", tev{"EventLog": "Security", "EventID": 1102}, true},
		{"maps EventLog other id", "  selection:\n    EventLog: Security\n    EventID:\n      - 517\n      - 1102\n  condition: selection", tev{"EventLog": "Security", "EventID": 4624}, false},
		{"ticket", "  selection:\n    EventLog: Security\n    EventID: 4769\n    TicketOptions: '0x40810000'\n    TicketEncryption: '0x17'\n  condition: selection", tev{"EventLog": "security", "EventID": "4769", "TicketOptions": "0x40810000", "TicketEncryption": "0x17"}, true},
		{"null filter", "  selection:\n    EventID: 4738\n  filter:\n    PasswordLastSet: null\n  condition: selection and not filter", tev{"EventID": 4738, "PasswordLastSet": "x"}, true},
		{"null filter hit", "  selection:\n    EventID: 4738\n  filter:\n    PasswordLastSet: null\n  condition: selection and not filter", tev{"EventID": 4738}, false},
		{"empty and null", "  selection_main:\n    FieldA: 'something'\n  selection_empty1:\n    FieldB: ''\n  selection_empty2:\n    FieldB: null\n  condition: selection_main and 1 of selection_empty*", tev{"FieldA": "something", "FieldB": ""}, true},
		{"exists", "  selection:\n    EventID: 4738\n    PasswordLastSet|exists: true\n  condition: selection", tev{"EventID": 4738, "PasswordLastSet": ""}, true},
		{"all keywords", "  keywords_cmdlet:\n    '|all':\n      - 'OabVirtualDirectory'\n      - ' -ExternalUrl '\n  condition: keywords_cmdlet", tev{"c": "Set-OabVirtualDirectory -ExternalUrl x"}, true},
		{"prog?.exe", "  sel:\n    Image: 'prog?.exe'\n  condition: sel", tev{"Image": "progB.exe"}, true},
		{"antivirus_V*.exe", "  sel:\n    Image: 'antivirus_V*.exe'\n  condition: sel", tev{"Image": "antivirus_V21.2.1.exe"}, true},
		{"cidr example", "  sel:\n    DestinationIp|cidr: 10.0.0.0/8\n  condition: sel", tev{"DestinationIp": "10.9.8.7"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := mustMatcher(t, detection(c.det), Options{})
			assert.Equal(t, c.want, m.Match(c.ev))
		})
	}
}
