package store

import (
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message/textproto"
	"github.com/stretchr/testify/assert"
)

// RFC 3501 §7.4.2 (RFC 9051 §7.5.2): group syntax in ENVELOPE address
// lists is a start marker (NIL NIL "name" NIL), the members, and an end
// marker (NIL NIL NIL NIL); an empty group is the two markers, not NIL.
func TestEnvelopeGroups(t *testing.T) {
	start := func(n string) imap.Address { return imap.Address{Mailbox: n} }
	end := imap.Address{}
	cases := []struct {
		in   string
		want []imap.Address
	}{
		{"undisclosed-recipients:;", []imap.Address{start("undisclosed-recipients"), end}},
		{`"Equipe projet": a@x.test, "B, Bé" <b@y.test>; , c@z.test`, []imap.Address{
			start("Equipe projet"), {Mailbox: "a", Host: "x.test"}, {Name: "B, Bé", Mailbox: "b", Host: "y.test"}, end,
			{Mailbox: "c", Host: "z.test"}}},
		{"d@w.test, Vide: ;", []imap.Address{{Mailbox: "d", Host: "w.test"}, start("Vide"), end}},
		{"=?utf-8?q?=C3=89quipe?=: e@v.test;", []imap.Address{start("Équipe"), {Mailbox: "e", Host: "v.test"}, end}},
		{"Open: f@u.test", []imap.Address{start("Open"), {Mailbox: "f", Host: "u.test"}, end}},
	}
	for _, c := range cases {
		got, ok := groupAddressList(c.in)
		assert.True(t, ok, c.in)
		assert.Equal(t, c.want, got, c.in)
	}
	for _, plain := range []string{`a@x.test, "x:y" <b@y.test>`, "<c@z.test>", `"semi;colon" <d@w.test>`} {
		_, ok := groupAddressList(plain)
		assert.False(t, ok, "no group in %s", plain)
	}
}

// RFC 5322 §3.4.1: comments and folding white space may sit inside an
// address; they are not part of it.
func TestStripCommentsAndEnvelope(t *testing.T) {
	for in, want := range map[string]string{
		"<user (comment)@ (comment) domain.org>":    "<user@domain.org>",
		`"A (not a comment)" <a (x) @ b . example>`: `"A (not a comment)" <a@b.example>`,
		"Jean (le (chef)) <jean@x.test>":            "Jean <jean@x.test>",
		"user@x.test (Display)":                     "user@x.test",
		"< user@x.test >, b (y)@z.test":             "<user@x.test>, b@z.test",
	} {
		assert.Equal(t, want, StripComments(in), in)
	}
	var h textproto.Header
	h.Set("From", "<user (comment)@ (comment) domain.org>")
	env := envelope(h)
	assert.Equal(t, []imap.Address{{Mailbox: "user", Host: "domain.org"}}, env.From)
}
