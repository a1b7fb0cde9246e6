package dovecot

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/maildrill/maildrill/mailsim/audit"
)

var now = func() time.Time { return time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC) }

// The Dovecot lines are real: captured from Debian's Dovecot 2.3.19.1
// (TestLocalDovecot with MAILDRILL_DOVECOT_CAPTURE, and a Python imaplib
// session through the PROXY listener). Each case is a session: earlier
// lines set up state (the login gives the address), the last gives want.
var cases = []struct {
	name  string
	lines []string
	want  []audit.Event // compared on the fields set here
}{
	{
		name: "stock login, log_path format",
		lines: []string{
			"Nov 27 00:43:43 imap-login: Info: Login: user=<noemie.baron@interieur.test>, method=PLAIN, rip=10.20.0.31, lip=10.20.0.25, mpid=18875, session=<pPwaWjdhAMAKFAAf>",
		},
		want: []audit.Event{{Action: "imap.login", Outcome: "success", UserName: "noemie.baron@interieur.test", SourceIP: "10.20.0.31", SessionID: "pPwaWjdhAMAKFAAf", AuthMechanism: "PLAIN", AuthCleartext: audit.Bool(true), Timestamp: time.Date(2026, 11, 27, 0, 43, 43, 0, time.UTC)}},
	},
	{
		name: "stock failed logins: one event per attempt, no reason logged",
		lines: []string{
			"Nov 27 00:43:43 imap-login: Info: Disconnected: Aborted login by logging out (auth failed, 2 attempts in 8 secs): user=<noemie.baron@interieur.test>, method=PLAIN, rip=203.0.113.7, lip=10.20.0.25, session=<W5CgWTdhWMnLAHEH>",
		},
		want: []audit.Event{
			{Action: "imap.login", Outcome: "failure", Reason: "invalid_credentials", UserName: "noemie.baron@interieur.test", SourceIP: "203.0.113.7"},
			{Action: "imap.login", Outcome: "failure", Reason: "invalid_credentials", UserName: "noemie.baron@interieur.test", SourceIP: "203.0.113.7"},
			{Action: "imap.logout", Reason: "auth failed, 2 attempts", SourceIP: "203.0.113.7"},
		},
	},
	{
		name: "enhanced failed login with auth_verbose reason and ports",
		lines: []string{
			"Nov 27 00:40:51 auth: Info: passwd-file(x@interieur.test,203.0.113.9,<HNWlTzdhVtx/AAAB>): unknown user",
			"Nov 27 00:40:53 imap-login: Info: Disconnected: Aborted login by logging out (auth failed, 1 attempts in 6 secs): user=<x@interieur.test>, method=PLAIN, rip=203.0.113.9, rport=56406, lip=10.20.0.25, lport=993, TLS, session=<HNWlTzdhVtx/AAAB>",
		},
		want: []audit.Event{
			{Action: "imap.login", Outcome: "failure", Reason: "unknown_user", UserName: "x@interieur.test", SourceIP: "203.0.113.9", SourcePort: 56406, DestPort: 993, TLS: true, ServiceName: "imaps", AuthCleartext: audit.Bool(false)},
			{Action: "imap.logout", UserName: "x@interieur.test"},
		},
	},
	{
		name: "connection without login",
		lines: []string{
			"Nov 27 00:43:35 imap-login: Info: Disconnected: Connection closed (no auth attempts in 0 secs): user=<>, rip=127.0.0.1, lip=127.0.0.1, secured, session=<WUegWTdhzuV/AAAB>",
		},
		want: []audit.Event{{Action: "imap.logout", Outcome: "success", SourceIP: "127.0.0.1", Reason: "no auth attempts", TLS: false}},
	},
	{
		name: "IMAP ID (imap_id_log)",
		lines: []string{
			"Nov 27 00:40:53 imap-login: Info: ID sent: name=Thunderbird, version=128.5.0, environment=maildrill-run=md-42: user=<>, rip=203.0.113.7, rport=51544, lip=10.20.0.25, lport=143, session=<4RL6TzdhWMnLAHEH>",
		},
		want: []audit.Event{{Action: "imap.id", ClientName: "Thunderbird", ClientVersion: "128.5.0", ClientIDRaw: "name=Thunderbird; version=128.5.0; environment=maildrill-run=md-42", SourceIP: "203.0.113.7", SourcePort: 51544}},
	},
	{
		name: "logout counters",
		lines: []string{
			"Nov 27 00:43:43 imap-login: Info: Login: user=<noemie.baron@interieur.test>, method=PLAIN, rip=10.20.0.31, lip=10.20.0.25, mpid=18875, session=<pPwaWjdhAMAKFAAf>",
			"Nov 27 00:43:43 imap(noemie.baron@interieur.test)<18875><pPwaWjdhAMAKFAAf>: Info: Disconnected: Logged out in=137 out=3060 deleted=0 expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 body_count=1 body_bytes=2015",
		},
		want: []audit.Event{
			{Action: "imap.login"},
			{Action: "imap.logout", UserName: "noemie.baron@interieur.test", SourceIP: "10.20.0.31", SessionBytesOut: 3060, SessionFetches: 1, SessionID: "pPwaWjdhAMAKFAAf"},
		},
	},
	{
		name: "mail_log copy with commas in from and subject",
		lines: []string{
			"Nov 27 00:40:57 imap(patrick.gaillard@interieur.test)<14075><4RL6TzdhWMnLAHEH>: Info: copy from INBOX: box=Exfil, uid=1, msgid=<e2805876e52954d453cc0696@interieur.test>, size=2784, vsize=2784, from=Gaël Morin <gael.morin@interieur.test>, subject=RE : Éléments, pour le point du ministre, flags=(\\Seen)",
		},
		want: []audit.Event{{Action: "imap.copy", Mailbox: "INBOX", DestMailbox: "Exfil", MessageUID: 1, MessageID: "e2805876e52954d453cc0696@interieur.test", MessageSize: 2784, MessageSubj: "RE : Éléments, pour le point du ministre", MailboxOwner: "patrick.gaillard@interieur.test", MailboxShared: audit.Bool(false)}},
	},
	{
		name: "mail_log save, expunge, mailbox create/rename/delete",
		lines: []string{
			"Nov 27 00:40:57 imap(p@interieur.test)<14075><S1>: Info: Mailbox created: Exfil",
			"Nov 27 00:40:57 imap(p@interieur.test)<14075><S1>: Info: save: box=Exfil, uid=3, msgid=<x1@b>, size=47, vsize=52, from=a@b, subject=hi, flags=()",
			"Nov 27 00:40:57 imap(p@interieur.test)<14075><S1>: Info: Mailbox renamed: Exfil -> Exfil2",
			"Nov 27 00:40:57 imap(p@interieur.test)<14075><S1>: Info: expunge: box=Exfil2, uid=3, msgid=<x1@b>, size=47, vsize=52, from=a@b, subject=hi, flags=(\\Recent)",
			"Nov 27 00:40:57 imap(p@interieur.test)<14075><S1>: Info: Mailbox deleted: Exfil2",
		},
		want: []audit.Event{
			{Action: "imap.create", Mailbox: "Exfil", UserName: "p@interieur.test"},
			{Action: "imap.append", Mailbox: "Exfil", MessageUID: 3, MessageID: "x1@b", MessageSize: 47},
			{Action: "imap.rename", Mailbox: "Exfil", DestMailbox: "Exfil2"},
			{Action: "imap.expunge", Mailbox: "Exfil2", MessageUID: 3},
			{Action: "imap.delete", Mailbox: "Exfil2"},
		},
	},
	{
		name: "mail_log flag changes",
		lines: []string{
			"Nov 27 00:40:57 imap(p@interieur.test)<14075><S1>: Info: delete: box=INBOX, uid=7, msgid=<a@b>, size=10",
			"Nov 27 00:40:57 imap(p@interieur.test)<14075><S1>: Info: flag_change: box=INBOX, uid=7, msgid=<a@b>, size=10, flags=(\\Seen \\Flagged)",
		},
		want: []audit.Event{
			{Action: "imap.store", Mailbox: "INBOX", MessageUID: 7, Flags: `+FLAGS (\Deleted)`},
			{Action: "imap.store", Mailbox: "INBOX", MessageUID: 7, Flags: `FLAGS (\Seen \Flagged)`},
		},
	},
	{
		name: "event export: UID FETCH and a shared mailbox",
		lines: []string{
			`Nov 27 00:40:57 stats: Info: {"event":"imap_command_finished","hostname":"vm","start_time":"2026-11-27T00:40:57.201573Z","end_time":"2026-11-27T00:40:57.203875Z","categories":["service:imap","imap"],"fields":{"user":"patrick.gaillard@interieur.test","local_ip":"10.20.0.25","local_port":143,"remote_ip":"203.0.113.7","remote_port":51544,"session":"4RL6TzdhWMnLAHEH","duration":2245,"cmd_tag":"FBFF7","cmd_name":"UID FETCH","cmd_input_name":"UID FETCH","cmd_args":"1:2 (UID BODY.PEEK[])","cmd_human_args":"1:2 (UID BODY.PEEK[])","tagged_reply_state":"OK","tagged_reply":"OK Fetch completed.","last_run_time":"2026-11-27T00:40:57.201580Z","running_usecs":2230,"lock_wait_usecs":701,"bytes_in":23,"bytes_out":5618,"reason_code":["imap:cmd_uid_fetch","imap:fetch_body"],"mailbox":"INBOX"}}`,
			`Nov 27 00:40:58 stats: Info: {"event":"imap_command_finished","hostname":"vm","start_time":"2026-11-27T00:40:58.198270Z","end_time":"2026-11-27T00:40:58.199578Z","categories":["service:imap","imap"],"fields":{"user":"s.lefevre@interieur.test","local_ip":"10.20.0.25","local_port":143,"remote_ip":"203.0.113.7","remote_port":51610,"session":"S9","cmd_tag":"A4","cmd_name":"EXAMINE","cmd_args":"Users/directeur/INBOX","tagged_reply_state":"OK","tagged_reply":"OK [READ-ONLY] Examine completed","bytes_out":270,"mailbox":"Users/directeur/INBOX"}}`,
			`Nov 27 00:40:58 stats: Info: {"event":"imap_command_finished","hostname":"vm","start_time":"2026-11-27T00:40:58.200060Z","end_time":"2026-11-27T00:40:58.200751Z","categories":["service:imap","imap"],"fields":{"user":"s.lefevre@interieur.test","remote_ip":"203.0.113.7","remote_port":51610,"session":"S9","cmd_name":"SEARCH","cmd_args":"TEXT \"confidentiel\"","tagged_reply_state":"OK","bytes_out":10,"mailbox":"Users/directeur/INBOX"}}`,
		},
		want: []audit.Event{
			{Action: "imap.fetch", Command: "UID FETCH", FetchItems: "UID BODY.PEEK[]", BytesOut: 5618, Mailbox: "INBOX", SourceIP: "203.0.113.7", SourcePort: 51544, DestPort: 143, UserName: "patrick.gaillard@interieur.test", Timestamp: time.Date(2026, 11, 27, 0, 40, 57, 203875000, time.UTC)},
			{Action: "imap.examine", Mailbox: "Users/directeur/INBOX", MailboxOwner: "directeur@interieur.test", MailboxShared: audit.Bool(true), ReadOnly: audit.Bool(true)},
			{Action: "imap.search", Search: `TEXT "confidentiel"`, MailboxOwner: "directeur@interieur.test", ReadOnly: audit.Bool(true)},
		},
	},
	{
		name: "syslog with a host name",
		lines: []string{
			"Dec 11 23:41:03 mail dovecot: imap-login: Login: user=<c.bernard@interieur.test>, method=PLAIN, rip=203.0.113.7, lip=10.20.0.25, mpid=2001, TLS, session=<imap-3>",
		},
		want: []audit.Event{{Action: "imap.login", UserName: "c.bernard@interieur.test", TLS: true, SessionID: "imap-3"}},
	},
	{
		name: "rsyslog RFC 3339 timestamp",
		lines: []string{
			"2025-12-11T23:41:03.250+01:00 mail dovecot: imap-login: Login: user=<c.bernard@interieur.test>, method=PLAIN, rip=203.0.113.7, lip=10.20.0.25, mpid=2001, TLS, session=<imap-3>",
		},
		want: []audit.Event{{Action: "imap.login", Timestamp: time.Date(2025, 12, 11, 22, 41, 3, 250000000, time.UTC)}},
	},
	// Postfix 3.7.11 (Debian bookworm) lines in the formats captured from the
	// container (testdata/*-container.log), submission with SASL
	// through Dovecot, delivery over LMTP and outbound.
	{
		name: "postfix submission: auth failure, send, deliveries",
		lines: []string{
			"Nov 27 01:02:11 mail postfix/submission/smtpd[2211]: connect from unknown[203.0.113.7]:51702",
			"Nov 27 01:02:11 mail postfix/submission/smtpd[2211]: Anonymous TLS connection established from unknown[203.0.113.7]:51702: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
			"Nov 27 01:02:12 mail postfix/submission/smtpd[2211]: warning: unknown[203.0.113.7]:51702: SASL PLAIN authentication failed: (reason unavailable), sasl_username=s.lefevre@interieur.test",
			"Nov 27 01:02:13 mail postfix/submission/smtpd[2211]: 4F1B2C0A12: client=unknown[203.0.113.7]:51702, sasl_method=PLAIN, sasl_username=s.lefevre@interieur.test",
			"Nov 27 01:02:13 mail postfix/cleanup[2214]: 4F1B2C0A12: message-id=<m1@interieur.test>",
			"Nov 27 01:02:13 mail postfix/qmgr[99]: 4F1B2C0A12: from=<s.lefevre@interieur.test>, size=161012, nrcpt=2 (queue active)",
			"Nov 27 01:02:13 mail postfix/lmtp[2215]: 4F1B2C0A12: to=<rh@interieur.test>, relay=mail.interieur.test[private/dovecot-lmtp], delay=0.1, delays=0.05/0/0.01/0.04, dsn=2.0.0, status=sent (250 2.0.0 <rh@interieur.test> kLq2Nx1hZ2V8AAAA Saved)",
			"Nov 27 01:02:13 mail postfix/discard[2216]: 4F1B2C0A12: to=<drop@proton.example>, relay=none, delay=0.1, delays=0.05/0/0/0, dsn=2.0.0, status=sent (proton.example)",
			"Nov 27 01:02:13 mail postfix/qmgr[99]: 4F1B2C0A12: removed",
			"Nov 27 01:02:14 mail postfix/submission/smtpd[2211]: NOQUEUE: reject: RCPT from unknown[203.0.113.7]:51702: 554 5.7.1 <x@y.example>: Relay access denied; from=<a@b.example> to=<x@y.example> proto=ESMTP helo=<desktop-7731>",
			"Nov 27 01:02:14 mail postfix/submission/smtpd[2211]: disconnect from unknown[203.0.113.7]:51702 ehlo=2 starttls=1 auth=1/2 mail=1 rcpt=2 data=1 quit=1 commands=9/10",
		},
		want: []audit.Event{
			{Action: "smtp.connect", ServiceType: "smtp", ServiceName: "submission", SourceIP: "203.0.113.7", SourcePort: 51702},
			{Action: "smtp.starttls", TLS: true},
			{Action: "smtp.auth", Outcome: "failure", UserName: "s.lefevre@interieur.test", AuthMechanism: "PLAIN", AuthCleartext: audit.Bool(false)},
			{Action: "smtp.auth", Outcome: "success", UserName: "s.lefevre@interieur.test", AuthMechanism: "PLAIN"},
			{Action: "smtp.data", SMTPMailFrom: "s.lefevre@interieur.test", MessageID: "m1@interieur.test", MessageSize: 161012, UserName: "s.lefevre@interieur.test"},
			{Action: "smtp.deliver", SMTPRcptTo: "rh@interieur.test", EmailDirection: "internal", DestDomain: "interieur.test", Outcome: "success"},
			{Action: "smtp.deliver", SMTPRcptTo: "drop@proton.example", EmailDirection: "outbound", DestDomain: "proton.example", SourceIP: "203.0.113.7", UserName: "s.lefevre@interieur.test"},
			{Action: "smtp.rcpt", Outcome: "failure", SMTPRcptTo: "x@y.example", SMTPHelo: "desktop-7731", Reason: "554 5.7.1 <x@y.example>: Relay access denied"},
			{Action: "smtp.disconnect", SourceIP: "203.0.113.7"},
		},
	},
	{
		// The enhanced profile's mime_header_checks (INFO on
		// Content-Disposition: attachment), as captured from the container:
		// a folded header shows its line break as "?".
		name: "postfix: attachments named by mime_header_checks",
		lines: []string{
			"Dec 04 13:09:08 mail postfix/submission/smtpd[172]: 89093D8B54: client=unknown[10.20.0.31]:49152, sasl_method=PLAIN, sasl_username=noemie.baron@interieur.test",
			"Dec 04 13:09:08 mail postfix/cleanup[175]: 89093D8B54: message-id=<note-1@interieur.test>",
			`Dec 04 13:09:08 mail postfix/cleanup[175]: 89093D8B54: info: header Content-Disposition: attachment;? filename="rapport final.pdf" from unknown[10.20.0.31]:49152; from=<noemie.baron@interieur.test> to=<drop@proton.example> proto=ESMTP helo=<desktop-7731>: attachment`,
			`Dec 04 13:09:08 mail postfix/cleanup[175]: 89093D8B54: warning: header Content-Disposition: attachment; filename=notes.csv from unknown[10.20.0.31]:49152; from=<noemie.baron@interieur.test> to=<drop@proton.example> proto=ESMTP helo=<desktop-7731>`,
			`Dec 04 13:09:08 mail postfix/cleanup[175]: 89093D8B54: info: header Content-Disposition: inline from unknown[10.20.0.31]:49152; from=<noemie.baron@interieur.test> to=<drop@proton.example> proto=ESMTP helo=<desktop-7731>: attachment`,
			"Dec 04 13:09:08 mail postfix/qmgr[99]: 89093D8B54: from=<noemie.baron@interieur.test>, size=1203, nrcpt=1 (queue active)",
			"Dec 04 13:09:08 mail postfix/discard[176]: 89093D8B54: to=<drop@proton.example>, relay=none, delay=0.02, delays=0.01/0/0/0, dsn=2.0.0, status=sent (proton.example)",
		},
		want: []audit.Event{
			{Action: "smtp.auth", Outcome: "success", UserName: "noemie.baron@interieur.test"},
			{Action: "smtp.data", MessageID: "note-1@interieur.test", AttachmentCount: 2, AttachmentNames: []string{"rapport final.pdf", "notes.csv"}},
			{Action: "smtp.deliver", SMTPRcptTo: "drop@proton.example", EmailDirection: "outbound", AttachmentCount: 2, AttachmentNames: []string{"rapport final.pdf", "notes.csv"}},
		},
	},
	{
		name: "noise gives nothing",
		lines: []string{
			"Nov 27 00:43:34 master: Info: Dovecot v2.3.19.1 (9b53102964) starting up for imap, lmtp (core dumps disabled)",
			`Nov 27 00:40:51 stats: Info: {"event":"auth_request_finished","fields":{"session":"x"}}`,
			"Nov 27 01:02:13 mail postfix/pickup[98]: 4F1B2C0A12: uid=0 from=<root>",
			"not a log line at all",
			"",
		},
	},
	{
		name: "container, TLS: a delegate in another's mailbox and in a shared mailbox",
		lines: []string{
			`Nov 27 01:48:14 imap-login: Info: Login: user=<gael.morin@interieur.test>, method=PLAIN, rip=10.20.0.31, rport=49152, lip=10.20.0.25, lport=143, mpid=172, TLS, session=<AUbjQDhhAMAKFAAf>`,
			`Nov 27 01:48:15 imap(gael.morin@interieur.test)<172><AUbjQDhhAMAKFAAf>: Info: flag_change: box=Users/noemie.baron/INBOX, uid=1, msgid=<f91febf47a2f416b3caccd33@interieur.test>, size=2015, vsize=2015, from="Patrick Gaillard" <patrick.gaillard@interieur.test>, subject=Formation : inscription confirmée, flags=(\Flagged \Seen)`,
			`Nov 27 01:48:15 stats: Info: {"event":"imap_command_finished","hostname":"150b035616ca","start_time":"2026-11-27T01:48:15.140979Z","end_time":"2026-11-27T01:48:15.144621Z","categories":["service:imap","imap"],"fields":{"user":"gael.morin@interieur.test","local_ip":"10.20.0.25","local_port":143,"remote_ip":"10.20.0.31","remote_port":49152,"session":"AUbjQDhhAMAKFAAf","duration":3601,"cmd_tag":"T11","cmd_name":"SELECT","cmd_input_name":"SELECT","cmd_args":"\"Shared/courrier/INBOX\"","cmd_human_args":"\"Shared/courrier/INBOX\"","tagged_reply_state":"OK","tagged_reply":"OK [READ-WRITE] Select completed","last_run_time":"2026-11-27T01:48:15.140970Z","running_usecs":3594,"lock_wait_usecs":344,"bytes_in":23,"bytes_out":380,"reason_code":["imap:cmd_select"],"mailbox":"Shared/courrier/INBOX"}}`,
		},
		want: []audit.Event{
			{Action: "imap.login", UserName: "gael.morin@interieur.test", TLS: true, AuthCleartext: audit.Bool(false), DestPort: 143, ServiceName: "imap"},
			{Action: "imap.store", UserName: "gael.morin@interieur.test", Mailbox: "Users/noemie.baron/INBOX", MailboxOwner: "noemie.baron@interieur.test", MailboxShared: audit.Bool(true), MessageUID: 1, TLS: true},
			{Action: "imap.select", UserName: "gael.morin@interieur.test", Mailbox: "Shared/courrier/INBOX", MailboxOwner: "courrier@interieur.test", MailboxShared: audit.Bool(true), TLS: true},
		},
	},
	{
		name: "postfix STARTTLS on submission (smtpd_tls_loglevel 1)",
		lines: []string{
			`Nov 27 01:48:15 mail postfix/submission/smtpd[175]: connect from unknown[10.20.0.31]:49152`,
			`Nov 27 01:48:15 mail postfix/submission/smtpd[175]: Anonymous TLS connection established from unknown[10.20.0.31]:49152: TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits) key-exchange X25519 server-signature ECDSA (prime256v1) server-digest SHA256`,
		},
		want: []audit.Event{
			{Action: "smtp.connect", SourceIP: "10.20.0.31", SourcePort: 49152, ServiceName: "submission"},
			{Action: "smtp.starttls", SourceIP: "10.20.0.31", TLS: true, ServiceName: "submission"},
		},
	},
}

func TestParseCases(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := NewParser(Options{Now: now})
			var got []*audit.Event
			for _, l := range c.lines {
				got = append(got, p.Parse(l)...)
			}
			if len(got) != len(c.want) {
				for _, e := range got {
					t.Logf("got %+v", *e)
				}
				t.Fatalf("%d events, want %d", len(got), len(c.want))
			}
			for i, w := range c.want {
				match(t, i, got[i], &w)
			}
		})
	}
}

// match compares the fields set in want.
func match(t *testing.T, i int, got, want *audit.Event) {
	t.Helper()
	if len(want.AttachmentNames) > 0 && !slices.Equal(got.AttachmentNames, want.AttachmentNames) {
		t.Errorf("event %d (%s): email.attachments.names = %q, want %q", i, got.Action, got.AttachmentNames, want.AttachmentNames)
	}
	for _, name := range fieldNames {
		wv, ok := want.Field(name)
		if !ok || name == "@timestamp" && want.Timestamp.IsZero() {
			continue
		}
		if name == "tls.established" && !want.TLS || wv == "" || wv == int64(0) {
			continue // the zero value: not asked for
		}
		if name == "@timestamp" {
			if !got.Timestamp.Equal(want.Timestamp) {
				t.Errorf("event %d (%s): @timestamp = %s, want %s", i, got.Action, got.Timestamp, want.Timestamp)
			}
			continue
		}
		gv, _ := got.Field(name)
		if gv != wv {
			t.Errorf("event %d (%s): %s = %v, want %v", i, got.Action, name, gv, wv)
		}
	}
}

var fieldNames = []string{
	"@timestamp", "event.action", "event.outcome", "event.reason", "service.type", "service.name",
	"session.id", "source.ip", "source.port", "destination.port", "tls.established", "auth.mechanism",
	"auth.cleartext", "user.name", "client.name", "client.version", "client.id", "mailbox.owner",
	"mailbox.shared", "imap.mailbox", "imap.command", "imap.readonly", "imap.search.criteria",
	"imap.fetch.items", "imap.destination_mailbox", "imap.flags", "imap.session.commands",
	"imap.session.fetches", "imap.session.bytes_out", "message.id", "message.uid", "message.size",
	"message.subject", "bytes.out", "smtp.helo", "smtp.mail_from", "smtp.rcpt_to",
	"destination.domain", "email.direction", "email.attachments.count",
}

// Events rendered by audit.SyslogLines (maildrill's own Dovecot/Postfix
// export) parse back to the same action, user and address.
func TestRoundTripSyslogExport(t *testing.T) {
	ts := time.Date(2025, 12, 11, 23, 41, 3, 0, time.UTC)
	evs := []audit.Event{
		{Action: audit.IMAPLogin, Outcome: audit.Success, ServiceType: "imap", SessionID: "imap-3", SourceIP: "203.0.113.7", UserName: "c.bernard@interieur.test", AuthMechanism: "LOGIN", TLS: true},
		{Action: audit.IMAPLogin, Outcome: audit.Failure, Reason: "unknown_user", ServiceType: "imap", SessionID: "imap-4", SourceIP: "203.0.113.7", UserName: "nobody@interieur.test", AuthMechanism: "LOGIN"},
		{Action: audit.IMAPLogin, Outcome: audit.Failure, Reason: "cleartext_disallowed", ServiceType: "imap", SessionID: "imap-5", SourceIP: "203.0.113.7", UserName: "x@interieur.test"},
		{Action: audit.IMAPExpunge, ServiceType: "imap", SessionID: "imap-3", SourceIP: "203.0.113.7", UserName: "c.bernard@interieur.test", Mailbox: "INBOX", MessageUID: 4, MessageID: "a@b", MessageSize: 12},
		{Action: audit.IMAPCopy, ServiceType: "imap", SessionID: "imap-3", SourceIP: "203.0.113.7", UserName: "c.bernard@interieur.test", Mailbox: "INBOX", DestMailbox: "Trash", MessageUID: 4},
		{Action: audit.IMAPCreate, ServiceType: "imap", SessionID: "imap-3", SourceIP: "203.0.113.7", UserName: "c.bernard@interieur.test", Mailbox: "Exfil"},
		{Action: audit.IMAPRename, ServiceType: "imap", SessionID: "imap-3", SourceIP: "203.0.113.7", UserName: "c.bernard@interieur.test", Mailbox: "Exfil", DestMailbox: "Old"},
		{Action: audit.IMAPLogout, ServiceType: "imap", SessionID: "imap-3", SourceIP: "203.0.113.7", UserName: "c.bernard@interieur.test", SessionBytesOut: 4096, SessionFetches: 3},
		{Action: audit.SMTPConnect, Outcome: audit.Success, ServiceType: "smtp", ServiceName: "submission", SessionID: "smtp-4", SourceIP: "203.0.113.7"},
		{Action: audit.SMTPAuth, Outcome: audit.Failure, ServiceType: "smtp", ServiceName: "submission", SessionID: "smtp-4", SourceIP: "203.0.113.7", UserName: "s.lefevre@interieur.test", AuthMechanism: "PLAIN"},
		{Action: audit.SMTPData, Outcome: audit.Success, ServiceType: "smtp", ServiceName: "submission", SessionID: "smtp-4", SourceIP: "203.0.113.7", UserName: "s.lefevre@interieur.test", SMTPMailFrom: "s.lefevre@interieur.test", MessageID: "m@x", MessageSize: 100},
		{Action: audit.SMTPDeliver, Outcome: audit.Success, ServiceType: "smtp", ServiceName: "submission", SessionID: "smtp-4", SourceIP: "203.0.113.7", UserName: "s.lefevre@interieur.test", SMTPRcptTo: "drop@proton.example", DestDomain: "proton.example", EmailDirection: "outbound", MessageID: "m@x"},
		{Action: audit.SMTPDisconnect, ServiceType: "smtp", ServiceName: "submission", SessionID: "smtp-4", SourceIP: "203.0.113.7"},
	}
	// Read in January: December lines are last year's.
	p := NewParser(Options{Now: func() time.Time { return time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC) }})
	for _, e := range evs {
		e.Timestamp = ts
		var got []*audit.Event
		for _, l := range audit.SyslogLines(&e, audit.SyslogOptions{Location: time.UTC}) {
			got = append(got, p.Parse(l)...)
		}
		if e.Action == audit.SMTPData && len(got) == 2 && got[0].Action == audit.SMTPAuth {
			got = got[1:] // sasl_username on the client= line: the session's first authenticated message
		}
		if e.Action == audit.IMAPLogin && e.Outcome == audit.Failure && len(got) == 2 && got[1].Action == audit.IMAPLogout {
			got = got[:1] // the failed session's end
		}
		if len(got) != 1 {
			t.Errorf("%s: %d events from %q", e.Action, len(got), audit.SyslogLines(&e, audit.SyslogOptions{}))
			continue
		}
		g := got[0]
		if g.Action != e.Action || g.UserName != e.UserName && e.UserName != "" || g.SourceIP != e.SourceIP || g.Reason != e.Reason && e.Reason != "" {
			t.Errorf("%s: got %s user=%q ip=%q reason=%q", e.Action, g.Action, g.UserName, g.SourceIP, g.Reason)
		}
		if g.Mailbox != e.Mailbox || g.DestMailbox != e.DestMailbox || g.MessageUID != e.MessageUID {
			t.Errorf("%s: mailbox %q→%q uid %d, want %q→%q %d", e.Action, g.Mailbox, g.DestMailbox, g.MessageUID, e.Mailbox, e.DestMailbox, e.MessageUID)
		}
		if g.SessionBytesOut != e.SessionBytesOut || g.SMTPRcptTo != e.SMTPRcptTo || g.EmailDirection != e.EmailDirection {
			t.Errorf("%s: got %+v", e.Action, *g)
		}
		if !g.Timestamp.Equal(ts.Truncate(time.Second)) {
			t.Errorf("%s: time %s, want %s", e.Action, g.Timestamp, ts)
		}
	}
}

// The captured logs parse without surprise: every event has an action, a
// service and a time, and the logs of the profiles give what docs/dovecot.md
// says they give.
func TestCapturedLogs(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.log")
	if len(files) == 0 {
		t.Fatal("no captured logs in testdata")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := ParseAll(strings.NewReader(string(b)), NewParser(Options{Now: now}))
		if err != nil {
			t.Fatal(err)
		}
		actions := map[string]int{}
		var last time.Time
		for _, e := range evs {
			if e.Action == "" || e.ServiceType == "" || e.Timestamp.IsZero() || e.SessionID == "" {
				t.Errorf("%s: incomplete event %+v", f, *e)
			}
			if e.Timestamp.Before(last) {
				t.Errorf("%s: %s goes back in time", f, e.Action)
			}
			last = e.Timestamp
			actions[e.Action]++
		}
		t.Logf("%s: %v", filepath.Base(f), actions)
		if actions[audit.IMAPLogin] == 0 || actions[audit.IMAPLogout] == 0 {
			t.Errorf("%s: no login or logout", f)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, c := range cases {
		for _, l := range c.lines {
			f.Add(l)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := NewParser(Options{Now: now})
		// A line alone and after a session set up: neither may panic.
		for _, l := range append(strings.Split(s, "\n"), cases[5].lines[0], s) {
			for _, e := range p.Parse(l) {
				if e.Action == "" || e.ServiceType == "" || e.Timestamp.IsZero() {
					t.Fatalf("incomplete event %+v from %q", *e, l)
				}
			}
		}
	})
}
