package yamlsafe

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/goccy/go-yaml/lexer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// billionLaughs is a 1 KB alias bomb: 9 levels of 9 aliases, 9^9 nodes.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("a: &a [x, x, x, x, x, x, x, x, x]\n")
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		b.WriteString(n + ": &" + n + " [")
		for i := 0; i < 9; i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*" + prev)
		}
		b.WriteString("]\n")
		prev = n
	}
	return b.String()
}

// allocated returns the bytes allocated while f runs.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

const memBound = 64 << 20

func nested(open, close string, n int) string {
	return strings.Repeat(open, n) + "x" + strings.Repeat(close, n)
}

func TestParseRefusesDeepNesting(t *testing.T) {
	cases := []struct {
		name      string
		src       string
		line, col int
	}{
		{"flow lists 200 KB", strings.Repeat("[", 200<<10), 1, 65},
		{"flow maps", strings.Repeat("{a: ", 5000), 1, 257},
		{"block lists on one line", strings.Repeat("- ", 50000) + "x\n", 1, 129},
		{"block mappings", func() string {
			var b strings.Builder
			for i := 0; i < 1000; i++ {
				b.WriteString(strings.Repeat(" ", i) + "k:\n")
			}
			return b.String()
		}(), 65, 65},
		{"mixed", "a:\n  b: " + strings.Repeat("[", 100), 2, 68},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			mem := allocated(func() { _, err = Parse([]byte(c.src), Limits{}) })
			var le *Error
			require.ErrorAs(t, err, &le)
			assert.Equal(t, LimitDepth, le.Limit)
			assert.Contains(t, err.Error(), "nesting deeper than 64 levels")
			assert.Equal(t, [2]int{c.line, c.col}, [2]int{le.Line, le.Col}, "position of the 65th level")
			assert.True(t, errors.Is(err, ErrLimit))
			assert.Less(t, mem, uint64(memBound), "bytes allocated")
		})
	}
}

func TestParseDepthBoundary(t *testing.T) {
	_, err := Parse([]byte(nested("[", "]", 64)), Limits{})
	require.NoError(t, err, "64 levels are allowed")
	_, err = Parse([]byte(nested("[", "]", 65)), Limits{})
	require.ErrorContains(t, err, "1:65: nesting deeper than 64 levels")
	_, err = Parse([]byte(nested("[", "]", 65)), Limits{MaxDepth: 100})
	require.NoError(t, err, "a larger MaxDepth")
}

func TestParseAcceptsOrdinaryYAML(t *testing.T) {
	for _, src := range []string{
		"",
		"a: 1\n",
		"title: x\ndetection:\n  sel:\n    - f|contains: [a, b]\n    - g: {h: [1, 2]}\n  condition: sel\n---\ntitle: y\n",
		"a:\n- x\n- y\nb:\n- z\nc: 1\n",
		"base: &b {x: 1, y: [1, 2]}\nuse: *b\nmerged:\n  <<: *b\n  z: 3\n",
		"- - - x\n  - y\n- z\n",
		"steps:\n  - repeat:\n      times: 3\n      steps:\n        - wait: 1h\n        - login: {}\n        - logout\n",
		"text: |\n  [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n",
		"q: '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[['\n",
		"# [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\na: 1\n",
	} {
		_, err := Parse([]byte(src), Limits{})
		assert.NoError(t, err, "%q", src)
	}
}

func TestParseRefusesAliasBombs(t *testing.T) {
	src := billionLaughs()
	require.Less(t, len(src), 1100)
	var err error
	mem := allocated(func() { _, err = Parse([]byte(src), Limits{}) })
	var le *Error
	require.ErrorAs(t, err, &le)
	assert.Equal(t, LimitAliasNodes, le.Limit)
	assert.Contains(t, err.Error(), "YAML aliases expand to more than 100000 nodes")
	assert.Equal(t, [2]int{6, 8}, [2]int{le.Line, le.Col}, "the alias that crosses the limit: %v", err)
	assert.Less(t, mem, uint64(memBound))

	many := "a: &a x\nb: [" + strings.Repeat("*a, ", 1500) + "*a]\n"
	_, err = Parse([]byte(many), Limits{})
	require.ErrorAs(t, err, &le)
	assert.Equal(t, LimitAliases, le.Limit)
	assert.Contains(t, err.Error(), "more than 1000 YAML aliases")
	assert.Equal(t, 2, le.Line)

	// an alias that nests a deep anchor deeper still
	deep := "a: &a " + nested("[", "]", 40) + "\nb: " + strings.Repeat("[", 30) + "*a" + strings.Repeat("]", 30) + "\n"
	_, err = Parse([]byte(deep), Limits{})
	require.ErrorAs(t, err, &le)
	assert.Equal(t, LimitDepth, le.Limit, "%v", err)
	assert.Contains(t, err.Error(), "once alias *a is expanded")
}

// goccy's parser inserts a token for each empty value, moving all the
// tokens after it: 512 Ki lines of "-" took minutes.
func TestParseRefusesManyEmptyValues(t *testing.T) {
	cases := []struct {
		name, src string
		line, col int
	}{
		{"list entries", strings.Repeat("-\n", 100<<10), 1001, 1},
		{"keys", func() string {
			var b strings.Builder
			for i := 0; i < 5000; i++ {
				fmt.Fprintf(&b, "k%d:\n", i)
			}
			return b.String()
		}(), 1001, 1},
		{"flow keys", "{" + strings.Repeat("a, ", 10000) + "}", 1, 3002},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			mem := allocated(func() { _, err = Parse([]byte(c.src), Limits{}) })
			var le *Error
			require.ErrorAs(t, err, &le)
			assert.Equal(t, LimitEmptyValues, le.Limit)
			assert.Equal(t, "more than 1000 empty values (a key or list entry with nothing after it)", le.Msg)
			assert.Equal(t, [2]int{c.line, c.col}, [2]int{le.Line, le.Col})
			assert.Less(t, mem, uint64(memBound), "bytes allocated")
		})
	}
	_, err := Parse([]byte(strings.Repeat("-\n", 1000)), Limits{})
	assert.NoError(t, err, "1000 empty values are allowed")
	_, err = Parse([]byte(strings.Repeat("- # comment\n", 1000)+"-\n"), Limits{})
	assert.Error(t, err, "comments are not values")
}

// A large file is first checked on a 64 KiB prefix: what only looks
// wrong because the prefix ends there is not refused.
func TestParsePrefixCheckIsExact(t *testing.T) {
	big := "q: '" + strings.Repeat("[", 100) + "'\nt: |\n  " + strings.Repeat("{", 100) + "\nlist:\n" + strings.Repeat("  - item\n", 10000)
	_, err := Parse([]byte(big), Limits{})
	assert.NoError(t, err, "brackets in strings")

	// 1000 empty values, then a key whose value is right after the prefix
	var b strings.Builder
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, "e%04d:\n", i)
	}
	b.WriteString("#" + strings.Repeat("x", 926) + "\n")
	for i := 0; i < 4800; i++ {
		fmt.Fprintf(&b, "k%05d:\n  v\n", i)
	}
	fmt.Fprintf(&b, "k%05d:\n", 4800)
	require.Equal(t, prefixBytes, b.Len(), "the prefix ends after a key")
	b.WriteString("  v\n" + strings.Repeat("# more\n", 1000))
	_, err = Parse([]byte(b.String()), Limits{})
	assert.NoError(t, err, "1000 empty values")
}

// endless is a reader that never ends.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '['
	}
	e.n += int64(len(p))
	return len(p), nil
}

func TestReadStopsAtTheSizeLimit(t *testing.T) {
	r := &endless{}
	_, err := Read(r, Limits{})
	var le *Error
	require.ErrorAs(t, err, &le)
	assert.Equal(t, LimitSize, le.Limit)
	assert.Equal(t, "file larger than 1 MiB (the limit for a YAML file)", err.Error())
	assert.LessOrEqual(t, r.n, int64(DefaultMaxBytes+64<<10), "read past the limit")

	data, err := Read(io.LimitReader(r, 100), Limits{MaxBytes: 100})
	require.NoError(t, err)
	assert.Len(t, data, 100)
	_, err = Read(io.LimitReader(r, 101), Limits{MaxBytes: 100})
	assert.ErrorContains(t, err, "file larger than 100 bytes")

	_, err = Parse(make([]byte, 2<<20), Limits{})
	assert.ErrorContains(t, err, "file larger than 1 MiB")
}

func FuzzParse(f *testing.F) {
	f.Add("a: 1\nb: [x, {y: z}]\n")
	f.Add("base: &b {x: 1}\nuse: *b\nm:\n  <<: *b\n")
	f.Add(billionLaughs())
	f.Add(strings.Repeat("[", 1000))
	f.Add(strings.Repeat("- ", 100) + "x\n")
	f.Add("a:\n- x\n---\nb: !!str 1\n")
	pad := "\n" + strings.Repeat("#\n", prefixBytes/2)
	small := Limits{MaxDepth: 6, MaxEmptyValues: 6}.withDefaults()
	f.Fuzz(func(t *testing.T, src string) {
		_, err := Parse([]byte(src), Limits{MaxBytes: 64 << 10})
		var le *Error
		if errors.As(err, &le) && le.Msg == "" {
			t.Fatalf("limit error without a message: %#v", le)
		}
		// what the prefix check refuses, the whole file's check refuses
		if len(src) > 4<<10 {
			return
		}
		padded := src + pad
		if perr := checkPrefix([]byte(padded), small); perr != nil {
			ferr := checkTokens(lexer.Tokenize(padded), small, false)
			if ferr == nil || ferr.Error() != perr.Error() {
				t.Fatalf("prefix check: %v; whole file: %v", perr, ferr)
			}
		}
	})
}

// A UTF-8 byte order mark is dropped (YAML allows one at the start, and
// editors on Windows write it); UTF-16 and UTF-32 text, and a NUL byte
// anywhere, are refused with what to do, never parsed into a first key
// that begins with U+FEFF or into garbage.
func TestText(t *testing.T) {
	f, err := Parse([]byte("\xEF\xBB\xBFid: x\ntitle: y\n"), Limits{})
	require.NoError(t, err)
	n, err := Tree(f.Docs[0].Body, TreeOptions{})
	require.NoError(t, err)
	assert.NotNil(t, n.Get("id"), "the first key is id, not U+FEFF id")

	for name, tc := range map[string]struct {
		data, msg string
		line, col int
	}{
		"UTF-16 LE":          {"\xFF\xFEi\x00d\x00", "UTF-16 text (it starts with a byte order mark): save it as UTF-8", 0, 0},
		"UTF-16 BE":          {"\xFE\xFF\x00i\x00d", "UTF-16 text", 0, 0},
		"UTF-32 LE":          {"\xFF\xFE\x00\x00i\x00\x00\x00", "UTF-32 text", 0, 0},
		"UTF-32 BE":          {"\x00\x00\xFE\xFF\x00\x00\x00i", "UTF-32 text", 0, 0},
		"UTF-16 without BOM": {"i\x00d\x00:\x00", "a NUL byte", 1, 2},
		"a NUL on line 2":    {"id: x\ntité: a\x00b\n", "a NUL byte", 2, 8},
	} {
		_, err := Parse([]byte(tc.data), Limits{})
		var e *Error
		require.ErrorAs(t, err, &e, name)
		assert.Equal(t, Encoding, e.Limit, name)
		assert.Contains(t, e.Msg, tc.msg, name)
		assert.Equal(t, [2]int{tc.line, tc.col}, [2]int{e.Line, e.Col}, name)
	}
}
