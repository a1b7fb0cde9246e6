package sigma

import (
	"math/rand/v2"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The automaton of reM decides as regexp.MatchString on ASCII text.
func TestReDFAAgreesWithRegexp(t *testing.T) {
	exprs := []string{
		`\\[a-zA-Z0-9]{1,32}\.[a-zA-Z0-9]{1,6}\.[ "']{1}`,
		`\s[a-fA-F0-9]{64}\s[a-fA-F0-9]{16}`,
		`\s-[FTd]\s`,
		`(?i)iex\s*\(`,
		`(?i)(new-object|net\.webclient).{0,20}download`,
		`(?s)a.b`,
		`a.b`,
		`(?m)ab+c`,
		`[^a-z]{3}x`,
		`(?i)k`,
		`x*`,
		`(a|b)*c{2,3}`,
		`(?i)[\x00-\x1f]{2}`,
		`(?:[0-9]{1,3}\.){3}[0-9]{1,3}`,
		`(?i)\bcmd\b`, // empty-width: the regexp package decides
		`^abc$`,
	}
	alpha := "aAbBcCdDxXkKsSfF0129 .\\\"'-\n\t(){}iIeEnNwWoOlLtT"
	r := rand.New(rand.NewPCG(1, 2))
	var texts []string
	for i := 0; i < 4000; i++ {
		n := r.IntN(90)
		var b strings.Builder
		for j := 0; j < n; j++ {
			b.WriteByte(alpha[r.IntN(len(alpha))])
		}
		texts = append(texts, b.String())
	}
	hex := "0123456789abcdefABCDEF"
	for i := 0; i < 200; i++ {
		var b strings.Builder
		b.WriteString("jpsetup.exe ")
		for j := 0; j < 60+r.IntN(10); j++ {
			b.WriteByte(hex[r.IntN(len(hex))])
		}
		b.WriteByte(" \t"[r.IntN(2)])
		for j := 0; j < 10+r.IntN(10); j++ {
			b.WriteByte(hex[r.IntN(len(hex))])
		}
		texts = append(texts, b.String())
	}
	texts = append(texts, "", "a\nb", "xa\nbx", "C:\\a.b.\"", "rundll32 \\abc.de. x", "IEX (", "new-object net.webclient).download")
	covered := 0
	for _, expr := range exprs {
		re := regexp.MustCompile(expr)
		m := newReM(re)
		if m.dfa != nil {
			covered++
		}
		for _, s := range texts {
			if got, want := m.match(s, nil), re.MatchString(s); got != want {
				t.Fatalf("%s on %q: %v, regexp says %v", expr, s, got, want)
			}
		}
		// non-ASCII text goes to the regexp package
		for _, s := range []string{"\u212a", "ſ", "é\\ab.cd.'"} {
			if got, want := m.match(s, nil), re.MatchString(s); got != want {
				t.Fatalf("%s on %q: %v, regexp says %v", expr, s, got, want)
			}
		}
	}
	if covered != len(exprs)-2 {
		t.Fatalf("%d of %d expressions have an automaton, want %d", covered, len(exprs), len(exprs)-2)
	}
}

// An expression whose automaton would grow past maxReStates still
// decides correctly (through the regexp package).
func TestReDFAFull(t *testing.T) {
	re := regexp.MustCompile(`a[ab]{12}c`) // 2^13 subsets
	m := newReM(re)
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 300; i++ {
		b := make([]byte, 200)
		for j := range b {
			b[j] = "ab"[r.IntN(2)]
		}
		b = append(b, 'c')
		if got, want := m.match(string(b), nil), re.MatchString(string(b)); got != want {
			t.Fatalf("%q: %v, regexp says %v", b, got, want)
		}
	}
	if !m.dfa.full {
		t.Fatal("the automaton never reached its bound")
	}
}

// States holding many instructions (`.{1000,}`: up to a thousand each)
// fill the automaton's instruction bound; the regexp package decides.
func TestReDFAInstructionBound(t *testing.T) {
	re := regexp.MustCompile(`.{1000,}`)
	m := newReM(re)
	for _, n := range []int{10, 999, 1000, 1500, 999} {
		s := strings.Repeat("x", n)
		if got, want := m.match(s, nil), re.MatchString(s); got != want {
			t.Fatalf("%d bytes: %v, regexp says %v", n, got, want)
		}
	}
	if !m.dfa.full || m.dfa.insts > maxReInsts {
		t.Fatalf("full %v with %d instructions held", m.dfa.full, m.dfa.insts)
	}
}

// FuzzReDFA: the automaton decides as regexp.MatchString, whatever the
// expression and the text.
func FuzzReDFA(f *testing.F) {
	f.Add(`\\[a-zA-Z0-9]{1,32}\.[a-zA-Z0-9]{1,6}\.[ "']{1}`, `C:\x.ab.'`)
	f.Add(`(?i)a.b|c+d`, "xA\nBcccD")
	f.Add(`(?s)[^a]{2,}?$`, "ab\n")
	f.Add(`(?i)BODY(\.PEEK)?\[([2-9]|[1-9][0-9]+)(\.[0-9]+)*\]`, "UID body.peek[2.1]") // a byte needed ([)
	f.Fuzz(func(t *testing.T, expr, text string) {
		if len(expr) > 100 || len(text) > 300 {
			return
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return
		}
		m := newReM(re)
		for _, s := range []string{text, strings.ToUpper(text), text + text} {
			if got, want := m.match(s, nil), re.MatchString(s); got != want {
				t.Fatalf("%q on %q: %v, regexp says %v", expr, s, got, want)
			}
		}
	})
}

// The automata of the process share one memory bound: when it is spent,
// an automaton stops growing and the regexp package decides; what an
// automaton took is given back once it is collected.
func TestReDFAMemoryShared(t *testing.T) {
	for range 5 { // earlier tests' automata give their shares back first
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	reDFAMemory.Lock()
	saved := reDFAMemory.left
	reDFAMemory.left = 40 * reStateBytes(4)
	reDFAMemory.Unlock()
	defer func() {
		reDFAMemory.Lock()
		reDFAMemory.left = saved
		reDFAMemory.Unlock()
	}()
	re := regexp.MustCompile(`a[ab]{6}c`)
	r := rand.New(rand.NewPCG(5, 6))
	texts := make([]string, 200)
	for i := range texts {
		b := make([]byte, 120)
		for j := range b {
			b[j] = "abc"[r.IntN(3)]
		}
		texts[i] = string(b)
	}
	var ms []*reM
	for range 3 {
		m := newReM(re)
		for _, s := range texts {
			if got, want := m.match(s, nil), re.MatchString(s); got != want {
				t.Fatalf("%q: %v, regexp says %v", s, got, want)
			}
		}
		ms = append(ms, m)
	}
	if ms[0].dfa == nil {
		t.Fatal("the first automaton was not made")
	}
	if last := ms[len(ms)-1].dfa; last != nil && !last.full {
		t.Fatal("the shared bound never stopped an automaton")
	}
	reDFAMemory.Lock()
	left := reDFAMemory.left
	reDFAMemory.Unlock()
	if left < 0 || left >= reStateBytes(200) {
		t.Fatalf("%d bytes left of the shared bound after filling it", left)
	}
	runtime.KeepAlive(ms)
	ms = nil
	for i := 0; i < 20; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		reDFAMemory.Lock()
		left = reDFAMemory.left
		reDFAMemory.Unlock()
		if left >= 40*reStateBytes(4) {
			return
		}
	}
	t.Fatalf("%d bytes of %d given back after the automata were collected", left, 40*reStateBytes(4))
}
