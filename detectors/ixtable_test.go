package detectors

import (
	"strconv"
	"testing"
)

// The index table finds every bucket by its key, nothing else, and
// remembers values without a bucket (up to maxMisses) without hiding a
// bucket.
func TestIxTable(t *testing.T) {
	index := map[string]*bucket{}
	for _, k := range []string{"imap.login", "imap.fetch", "smtp.deliver", "a", "", "imap.logout", "x.y.z.w.v.u.t.s",
		"b", "ab", "ba", "a\x00", "login", "fetch", "imap.fetch.items", "imap.fetch.item", "imap.fetch.itemss", "imap.fetch.itemsx"} {
		index[k] = &bucket{key: k}
	}
	tb := newIxTable(index)
	check := func() {
		t.Helper()
		for k, b := range index {
			if got := tb.get(k); got != b {
				t.Fatalf("get(%q) = %v, want its bucket", k, got)
			}
		}
	}
	check()
	for i := 0; i < 3*maxMisses; i++ {
		k := "imap.other" + strconv.Itoa(i)
		if b := tb.get(k); b != nil {
			t.Fatalf("get(%q) before addMiss = %v", k, b)
		}
		tb.addMiss(k)
		b := tb.get(k)
		if i < maxMisses && (b == nil || !b.miss) {
			t.Fatalf("get(%q) after addMiss = %v, want a miss", k, b)
		}
		if i >= maxMisses && b != nil {
			t.Fatalf("get(%q) beyond maxMisses = %v, want nil", k, b)
		}
		check()
	}
	if b := tb.get("IMAP.LOGIN"); b != nil {
		t.Fatalf("get is case-sensitive: got %v", b)
	}
	// values sharing a key's length and first and last eight bytes, or
	// its bytes but not its length, are not it
	for _, k := range []string{"imap.fetch.iXems", "imap.fetch.itXmsx", "\x00", "a\x00\x00", "imap.fetch.items\x00"} {
		if b := tb.get(k); b != nil && !b.miss {
			t.Fatalf("get(%q) = bucket %q", k, b.key)
		}
	}
	var empty ixTable
	if empty.get("x") != nil {
		t.Fatal("zero table found something")
	}
	empty.addMiss("x")
}

// Index values in other cases, unknown values (more than maxMisses) and
// non-string values select the same rules as before the table remembered
// misses: the engine's alerts are those of a fresh engine for each event.
func TestIndexMissesDoNotChangeResults(t *testing.T) {
	rules, err := testPackRules()
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(rules, testPackConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4*maxMisses; i++ {
		for _, action := range []string{"IMAP.LOGIN", "imap.unknown" + strconv.Itoa(i), "Imap.Login", "imap.login"} {
			line := `{"@timestamp":"2025-12-11T03:00:0` + strconv.Itoa(i%10) + `Z","event.id":"e` + strconv.Itoa(i) + `","event.action":"` + action +
				`","event.outcome":"success","service.type":"imap","source.ip":"203.0.113.9","user.name":"u` + strconv.Itoa(i) + `","tls.established":false}`
			ev, err := ParseJSONEvent([]byte(line), JSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			fresh, err := NewEngine(rules, testPackConfig())
			if err != nil {
				t.Fatal(err)
			}
			got, want := e.Process(ev), fresh.Process(ev)
			if len(got) != len(want) {
				t.Fatalf("%s: %d alerts, a fresh engine %d", action, len(got), len(want))
			}
			for j := range got {
				if got[j].RuleID != want[j].RuleID {
					t.Fatalf("%s: alert %d of %s, a fresh engine %s", action, j, got[j].RuleID, want[j].RuleID)
				}
			}
			if action != "imap.unknown"+strconv.Itoa(i) && len(want) == 0 {
				t.Fatalf("%s: no alert (the case should not matter)", action)
			}
		}
	}
}
