package imapd

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
)

func TestMailboxNameLimits(t *testing.T) {
	ts := startServer(t, serverOpts{insecure: true})
	r := dialLogin(t, ts, "agent@interieur.test")
	cases := []struct {
		cmd, want, action, reason string
	}{
		// Not valid modified UTF-7 (RFC 3501 §5.1.3): go-imap cannot
		// decode them (its own answer is "NO [SERVERBUG]"); refused like
		// any invalid name, NO [CANNOT] (RFC 5530), and audited. As a LIST
		// pattern it matches nothing and LIST answers OK, as Dovecot 2.3
		// does (audited with the reason too).
		{`LIST "" "a&b"`, "OK LIST completed", audit.IMAPList, "invalid_mailbox_name"},
		{`SELECT "a&b"`, "NO [CANNOT] Invalid mailbox name: not valid modified UTF-7", audit.IMAPSelect, "invalid_mailbox_name"},
		{`CREATE "` + strings.Repeat("x", 300) + `"`, "NO [CANNOT] Mailbox name too long", audit.IMAPCreate, "limit_mailbox_name"},
		{`CREATE "` + strings.Repeat("abcdefgh/", 120) + `x"`, "NO [CANNOT] Mailbox name too long", audit.IMAPCreate, "limit_mailbox_name"},
		// Control characters: go-imap's modified UTF-7 decoder refuses them.
		{"CREATE \"a\x01b\"", "NO [CANNOT] Invalid mailbox name: not valid modified UTF-7", audit.IMAPCreate, "invalid_mailbox_name"},
		{`CREATE "a//b"`, "NO [CANNOT] Invalid mailbox name", audit.IMAPCreate, "invalid_mailbox_name"},
		{`RENAME Sent "b` + strings.Repeat("y", 300) + `"`, "NO [CANNOT] Mailbox name too long", audit.IMAPRename, "limit_mailbox_name"},
		{"LIST \"\" \"a\x7f*\"", "OK LIST completed", audit.IMAPList, "invalid_mailbox_name"},
		{`STATUS "a/` + strings.Repeat("z", 256) + `" (MESSAGES)`, "NO [CANNOT] Mailbox name too long", audit.IMAPStatus, "limit_mailbox_name"},
	}
	for i, c := range cases {
		tag := "n" + string(rune('a'+i))
		r.send(tag + " " + c.cmd)
		lines := r.until(tag + " ")
		assert.Equal(t, tag+" "+c.want, lines[len(lines)-1], c.cmd)
	}
	r.send(`ok CREATE "Projets/2025"`)
	assert.Equal(t, "ok OK CREATE completed", r.until("ok ")[0])

	evs := ts.events(t)
	var got [][2]string
	for _, e := range evs {
		if e.Reason != "" {
			got = append(got, [2]string{e.Action, e.Reason})
		}
	}
	require.Len(t, got, len(cases))
	for i, c := range cases {
		assert.Equal(t, [2]string{c.action, c.reason}, got[i], c.cmd)
	}
}
