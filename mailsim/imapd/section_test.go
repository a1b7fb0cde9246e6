package imapd

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBodySectionMatchesGoIMAP(t *testing.T) {
	fast := 0
	for name, msg := range binaryCorpus() {
		for _, p := range binaryPaths {
			for _, sp := range []imap.PartSpecifier{imap.PartSpecifierNone, imap.PartSpecifierText, imap.PartSpecifierMIME, imap.PartSpecifierHeader} {
				for _, partial := range []*imap.SectionPartial{nil, {Offset: 0, Size: 5}, {Offset: 100, Size: 1000}, {Offset: 1 << 30, Size: 4}} {
					item := &imap.FetchItemBodySection{Part: p, Specifier: sp, Partial: partial}
					want := imapserver.ExtractBodySection(strings.NewReader(msg), item)
					got, done := bodySection([]byte(msg), item)
					// nil and empty are the same on the wire (~{0}).
					require.True(t, bytes.Equal(want, got), "%s part %v %q partial %v: go-imap %q, mailsim %q", name, p, sp, partial, want, got)
					if len(p) > 0 && sp == imap.PartSpecifierNone && len(got) > 0 {
						fast++
					}
					done()
				}
			}
		}
	}
	// The pooled path is taken, not only go-imap's.
	assert.Greater(t, fast, 20)
}

// A part's body is answered as a slice of the message itself.
func TestBodySectionIsASliceOfTheMessage(t *testing.T) {
	for name, msg := range binaryCorpus() {
		raw := []byte(msg)
		item := &imap.FetchItemBodySection{Part: []int{2}}
		got, done := bodySection(raw, item)
		done()
		if len(got) == 0 {
			continue
		}
		require.Equal(t, imapserver.ExtractBodySection(bytes.NewReader(raw), item), got, name)
		off := bytes.Index(raw, got)
		require.GreaterOrEqual(t, off, 0, name)
		assert.Same(t, &raw[off], &got[0], "%s: no copy", name)
		assert.Equal(t, len(got), cap(got), "%s: an append cannot write into the message", name)
	}
}

func TestSliceOf(t *testing.T) {
	raw := make([]byte, 200_000)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range raw {
		raw[i] = 'a' + byte(rng.IntN(26))
	}
	copy(raw[100_000:], raw[8:8+sliceChunk]) // a first chunk found twice
	cases := map[string]struct {
		body string
		at   int // -1: not a slice
	}{
		"empty":              {"", 0},
		"short, first place": {string(raw[2:6]), 2},
		"across chunks":      {string(raw[5 : 5+3*sliceChunk+17]), 5},
		"the end":            {string(raw[len(raw)-sliceChunk-1:]), len(raw) - sliceChunk - 1},
		"whole":              {string(raw), 0},
		"first chunk twice":  {string(raw[100_000 : 100_000+sliceChunk+100]), -1},
		"first chunk once":   {string(raw[8 : 8+sliceChunk+100]), 8},
		"not in it":          {string(raw[50:60]) + "0", -1},
		"past the end":       {string(raw[len(raw)-10:]) + "a", -1},
	}
	for name, c := range cases {
		got, ok := sliceOf(raw, strings.NewReader(c.body))
		if c.at < 0 {
			assert.False(t, ok, name)
			continue
		}
		require.True(t, ok, name)
		assert.Equal(t, c.body, string(got), name)
		if len(got) > 0 {
			assert.Same(t, &raw[c.at], &got[0], name)
		}
	}
	// A body that fails is not a slice.
	for _, err := range []error{errors.New("broken"), io.ErrUnexpectedEOF} {
		_, ok := sliceOf(raw, io.MultiReader(bytes.NewReader(raw[:10]), iotest.ErrReader(err)))
		assert.False(t, ok, "%v", err)
		_, ok = sliceOf(raw, io.MultiReader(bytes.NewReader(raw[:3*sliceChunk]), iotest.ErrReader(err)))
		assert.False(t, ok, "%v", err)
	}
}

// The copying way (when a section is not found in its message): a
// recycled buffer larger than the next section leaves nothing of the
// previous one in it, and a section that fails is nothing.
func TestCopySectionReusesBuffer(t *testing.T) {
	c := binaryCorpus()
	big, small := []byte(c["pdf"]), []byte(c["qp"])
	for range 3 {
		body, ok := openSection(big, []int{2})
		require.True(t, ok)
		got, done := copySection(body, len(big))
		require.Equal(t, imapserver.ExtractBodySection(bytes.NewReader(big), &imap.FetchItemBodySection{Part: []int{2}}), got)
		done()
		body, ok = openSection(small, []int{2})
		require.True(t, ok)
		got, done = copySection(body, len(small))
		require.Equal(t, "caf=C3=A9 =\r\nend", string(got))
		done()
	}
	got, done := copySection(iotest.ErrReader(errors.New("broken")), 10)
	done()
	assert.Nil(t, got)
}

func FuzzBodySection(f *testing.F) {
	for _, msg := range binaryCorpus() {
		f.Add([]byte(msg), uint8(2), uint8(0))
	}
	f.Fuzz(func(t *testing.T, msg []byte, a, b uint8) {
		p := []int{int(a%4) + 1}
		if b%4 != 0 {
			p = append(p, int(b%4))
		}
		item := &imap.FetchItemBodySection{Part: p}
		want := imapserver.ExtractBodySection(bytes.NewReader(msg), item)
		got, done := bodySection(msg, item)
		defer done()
		if !bytes.Equal(want, got) {
			t.Fatalf("part %v: go-imap %q, mailsim %q", p, want, got)
		}
	})
}
