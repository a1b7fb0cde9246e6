package store

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
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

// The envelope's date is what go-imap's reading gives (net/mail through
// go-message), for the usual form read first and every other form passed
// on: with and without a day of the week, two-digit years, named zones,
// comments, folding, garbage.
func TestEnvelopeDateIsGoImaps(t *testing.T) {
	for _, v := range []string{
		"", "Mon, 2 Jan 2006 15:04:05 -0700", "Sun, 06 Dec 2026 07:31:48 +0000",
		"6 Dec 2026 07:31:48 +0100", "Sun, 6 Dec 26 07:31 -0500", "Sun, 6 Dec 2026 07:31:48 UT",
		"Sun, 6 Dec 2026 07:31:48 GMT", "Thu, 20 Nov 1997 09:55:06 MDT (MDT)",
		"Sun, 6 Dec 2026 07:31:48 +0000 (UTC)", "Sun,\r\n 6 Dec 2026 07:31:48 +0000",
		" Sun, 6 Dec 2026 07:31:48 +0000", "Sun, 6 Dec 2026 07:31:48 +0000 ", "Xyz, 6 Dec 2026 07:31:48 +0000",
		"Sun, 31 Feb 2026 07:31:48 +0000", "Sun, 6 Dec 2026 25:31:48 +0000", "yesterday", "Sun, 6 Dec 2026",
	} {
		var h textproto.Header
		if v != "" {
			h.Set("Date", v)
		}
		h.Set("From", "A <a@example.org>")
		h.Set("To", "=?utf-8?q?B=C3=A9atrice?= <b@example.org>, c@example.org")
		h.Set("Subject", "=?utf-8?q?R=C3=A9union?=")
		h.Set("Message-Id", "<1@example.org>")
		h.Set("In-Reply-To", "<0@example.org> <00@example.org>")
		want, got := imapserver.ExtractEnvelope(h), envelope(h)
		assert.True(t, want.Date.Equal(got.Date) && want.Date.Location().String() == got.Date.Location().String(), "%q: %v, go-imap %v", v, got.Date, want.Date)
		want.Date, got.Date = time.Time{}, time.Time{}
		assert.Equal(t, want, got, v)
	}
}

func FuzzEnvelopeDate(f *testing.F) {
	f.Add("Mon, 2 Jan 2006 15:04:05 -0700")
	f.Add("6 Dec 2026 07:31:48 +0100 (CET)")
	f.Fuzz(func(t *testing.T, v string) {
		var h textproto.Header
		h.Set("Date", v)
		want, _ := (&mail.Header{Header: message.Header{Header: h}}).Date()
		if got := parseDate(v); !got.Equal(want) {
			t.Fatalf("%q: %v, go-message %v", v, got, want)
		}
	})
}
