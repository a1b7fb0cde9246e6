package imapd

import (
	"bytes"
	"strings"
	"testing"

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

// A recycled buffer larger than the next section leaves nothing of the
// previous one in it.
func TestBodySectionReusesBuffer(t *testing.T) {
	c := binaryCorpus()
	big, small := []byte(c["pdf"]), []byte(c["qp"])
	item := &imap.FetchItemBodySection{Part: []int{2}}
	for range 3 {
		got, done := bodySection(big, item)
		require.Equal(t, imapserver.ExtractBodySection(bytes.NewReader(big), item), got)
		done()
		got, done = bodySection(small, item)
		require.Equal(t, "caf=C3=A9 =\r\nend", string(got))
		done()
	}
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
