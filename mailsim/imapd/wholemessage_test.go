package imapd

import (
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/stretchr/testify/assert"
)

// Only fetches of the whole message (and nothing finer) read messages
// without keeping them in the message cache.
func TestWholeMessageOnly(t *testing.T) {
	whole := &imap.FetchItemBodySection{Peek: true}
	for _, tc := range []struct {
		name string
		o    imap.FetchOptions
		want bool
	}{
		{"BODY.PEEK[]", imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{whole}}, true},
		{"BODY[] and FLAGS", imap.FetchOptions{Flags: true, BodySection: []*imap.FetchItemBodySection{{}}}, true},
		{"no section", imap.FetchOptions{Envelope: true}, true},
		{"BODY[2]", imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{whole, {Part: []int{2}}}}, false},
		{"BODY[HEADER]", imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader}}}, false},
		{"BODY[]<0.100>", imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Partial: &imap.SectionPartial{Offset: 0, Size: 100}}}}, false},
		{"BINARY[]", imap.FetchOptions{BinarySection: []*imap.FetchItemBinarySection{{}}}, false},
		{"BINARY.SIZE[2]", imap.FetchOptions{BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: []int{2}}}}, false},
	} {
		assert.Equal(t, tc.want, wholeMessageOnly(&tc.o), tc.name)
	}
}
