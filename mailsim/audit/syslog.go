package audit

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// SyslogOptions shape syslog export.
type SyslogOptions struct {
	// Host is the syslog host name (default "mail").
	Host string
	// Location is the time zone of the timestamps (default: each event's).
	Location *time.Location
}

// SyslogRecord is one mail-log line: when, on which host, from which
// program (APP-NAME, e.g. dovecot or postfix/smtpd, and its PROCID when
// the program logs one) and the message, as Dovecot or Postfix write it.
type SyslogRecord struct {
	Time   time.Time
	Host   string
	App    string
	ProcID string // "" when the program logs none (Dovecot)
	Msg    string
}

// Tag is the traditional syslog tag: APP-NAME[PROCID].
func (r SyslogRecord) Tag() string {
	if r.ProcID == "" {
		return r.App
	}
	return r.App + "[" + r.ProcID + "]"
}

// Line is the record in the traditional (RFC 3164, BSD) mail-log format.
func (r SyslogRecord) Line() string {
	return r.Time.Format(time.Stamp) + " " + r.Host + " " + r.Tag() + ": " + r.Msg
}

// SyslogLines renders an event as the lines Dovecot (login, auth,
// logout counters, mail_log plugin, event export for commands) and Postfix
// (smtpd, cleanup, qmgr, lmtp/smtp delivery) would write to the mail log,
// in the traditional syslog format, so that an outside SIEM can ingest the
// run with its stock Dovecot and Postfix parsers. Events with no
// counterpart in those logs render as no line.
func SyslogLines(e *Event, o SyslogOptions) []string {
	recs := SyslogRecords(e, o)
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Line()
	}
	return out
}

// SyslogRecords renders an event as SyslogLines does, one record per line,
// for senders that frame the header themselves (RFC 5424).
func SyslogRecords(e *Event, o SyslogOptions) []SyslogRecord {
	host := o.Host
	if host == "" {
		host = "mail"
	}
	t := e.Timestamp
	if o.Location != nil {
		t = t.In(o.Location)
	}
	var msgs []string
	switch e.ServiceType {
	case "imap":
		msgs = dovecot(e)
	case "smtp":
		msgs = postfix(e)
	}
	out := make([]SyslogRecord, len(msgs))
	for i, m := range msgs {
		tag, msg, _ := strings.Cut(m, ": ")
		app, proc := tag, ""
		if j := strings.IndexByte(tag, '['); j > 0 && strings.HasSuffix(tag, "]") {
			app, proc = tag[:j], tag[j+1:len(tag)-1]
		}
		out[i] = SyslogRecord{Time: t, Host: host, App: app, ProcID: proc, Msg: logSafe(msg)}
	}
	return out
}

// logSafe replaces what a client chose and a log line must not carry —
// control characters (a line break in a user name sent as an IMAP
// literal forged a whole "Login:" line in the mail log), C1 controls,
// bytes that are not UTF-8 — with '?', as Dovecot's str_sanitize does.
func logSafe(s string) string {
	bad := func(r rune) bool { return r < 0x20 || (r >= 0x7f && r < 0xa0) }
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || bad(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || bad(r) {
			b.WriteByte('?')
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func pid(s string, base int) int {
	h := fnv.New32a()
	h.Write([]byte(s))
	return base + int(h.Sum32()%30000)
}

func dovecotTLS(e *Event) string {
	if e.TLS {
		return ", TLS"
	}
	return ""
}

func dovecot(e *Event) []string {
	user := e.UserName
	sess := e.SessionID
	lip := "10.20.0.25"
	proc := fmt.Sprintf("dovecot: imap(%s)<%d><%s>: ", user, pid(sess, 2000), sess)
	switch e.Action {
	case IMAPLogin:
		method := e.AuthMechanism
		if method == "LOGIN" {
			method = "PLAIN" // Dovecot reports the SASL mechanism of LOGIN as PLAIN
		}
		if e.Outcome == Success {
			return []string{fmt.Sprintf("dovecot: imap-login: Login: user=<%s>, method=%s, rip=%s, lip=%s, mpid=%d%s, session=<%s>", user, method, e.SourceIP, lip, pid(sess, 2000), dovecotTLS(e), sess)}
		}
		reason := "Password mismatch"
		switch e.Reason {
		case "unknown_user":
			reason = "unknown user"
		case "cleartext_disallowed":
			return []string{fmt.Sprintf("dovecot: imap-login: Aborted login (tried to use disallowed plaintext auth): user=<%s>, rip=%s, lip=%s, session=<%s>", user, e.SourceIP, lip, sess)}
		}
		return []string{
			fmt.Sprintf("dovecot: auth: passwd-file(%s,%s,<%s>): %s", user, e.SourceIP, sess, reason),
			fmt.Sprintf("dovecot: imap-login: Disconnected (auth failed, 1 attempts): user=<%s>, method=%s, rip=%s, lip=%s%s, session=<%s>", user, method, e.SourceIP, lip, dovecotTLS(e), sess),
		}
	case IMAPLogout:
		if user == "" {
			return []string{fmt.Sprintf("dovecot: imap-login: Disconnected (no auth attempts): rip=%s, lip=%s%s, session=<%s>", e.SourceIP, lip, dovecotTLS(e), sess)}
		}
		return []string{proc + fmt.Sprintf("Logged out in=%d out=%d body_count=%d body_bytes=%d", e.SessionCommands*24, e.SessionBytesOut, e.SessionFetches, e.SessionBytesOut)}
	case IMAPID:
		if e.ClientIDRaw == "" {
			return nil
		}
		return []string{fmt.Sprintf("dovecot: imap-login: ID sent: %s: rip=%s, session=<%s>", strings.ReplaceAll(e.ClientIDRaw, "; ", ", "), e.SourceIP, sess)}
	case IMAPExpunge:
		return []string{proc + fmt.Sprintf("expunge: box=%s, uid=%d, msgid=<%s>, size=%d", e.Mailbox, e.MessageUID, e.MessageID, e.MessageSize)}
	case IMAPCopy, IMAPMove:
		return []string{proc + fmt.Sprintf("copy from %s: box=%s, uid=%d, msgid=<%s>, size=%d", e.Mailbox, e.DestMailbox, e.MessageUID, e.MessageID, e.MessageSize)}
	case IMAPAppend:
		return []string{proc + fmt.Sprintf("save: box=%s, uid=%d, msgid=<%s>, size=%d", e.Mailbox, e.MessageUID, e.MessageID, e.MessageSize)}
	case IMAPStore:
		return []string{proc + fmt.Sprintf("flag_change: box=%s, uid=%d, flags=%s", e.Mailbox, e.MessageUID, e.Flags)}
	case IMAPCreate:
		return []string{proc + "mailbox_create: box=" + e.Mailbox}
	case IMAPDelete:
		return []string{proc + "mailbox_delete: box=" + e.Mailbox}
	case IMAPRename:
		return []string{proc + fmt.Sprintf("mailbox_rename: %s -> %s", e.Mailbox, e.DestMailbox)}
	case IMAPSelect, IMAPExamine, IMAPSearch, IMAPSort, IMAPThread, IMAPFetch, IMAPList, IMAPStatus:
		// Dovecot's event export (imap_command_finished), enhanced logging.
		args := e.Mailbox
		switch e.Action {
		case IMAPSearch:
			args = e.Search
		case IMAPSort:
			args = "(" + e.SortCriteria + ") UTF-8 " + e.Search
		case IMAPThread:
			args = e.ThreadAlgorithm + " UTF-8 " + e.Search
		case IMAPFetch:
			args = fmt.Sprintf("%d (%s)", e.MessageUID, e.FetchItems)
		}
		state := "OK"
		if e.Outcome == Failure {
			state = "NO"
		}
		line := proc + fmt.Sprintf("imap_command_finished: cmd_name=%s cmd_args=%q tagged_reply_state=%s", e.Command, args, state)
		if e.MailboxOwner != "" && e.MailboxOwner != user {
			line += " mailbox_owner=" + e.MailboxOwner
		}
		if e.BytesOut > 0 {
			line += fmt.Sprintf(" bytes_out=%d", e.BytesOut)
		}
		if e.FileName != "" {
			line += fmt.Sprintf(" attachment=%q", e.FileName)
		}
		return []string{line}
	}
	return nil
}

func queueID(e *Event) string {
	h := fnv.New64a()
	h.Write([]byte(e.SessionID + "/" + e.MessageID))
	return strings.ToUpper(fmt.Sprintf("%011x", h.Sum64()&0xfffffffffff))
}

func postfix(e *Event) []string {
	svc := "postfix/smtpd"
	if e.ServiceName == "submission" {
		svc = "postfix/submission/smtpd"
	}
	proc := fmt.Sprintf("%s[%d]: ", svc, pid(e.SessionID, 10000))
	client := fmt.Sprintf("unknown[%s]", e.SourceIP)
	switch e.Action {
	case SMTPConnect:
		if e.Outcome == Failure {
			return []string{proc + "lost connection after CONNECT from " + client}
		}
		return []string{proc + "connect from " + client}
	case SMTPAuth:
		if e.Outcome == Success {
			return nil // logged with the queue id on MAIL FROM
		}
		return []string{proc + fmt.Sprintf("warning: %s: SASL %s authentication failed: authentication failure, sasl_username=%s", client, e.AuthMechanism, e.UserName)}
	case SMTPRcpt:
		if e.Outcome == Failure {
			return []string{proc + fmt.Sprintf("NOQUEUE: reject: RCPT from %s: 554 5.7.1 <%s>: Relay access denied; from=<%s> to=<%s> proto=ESMTP helo=<%s>", client, e.SMTPRcptTo, e.SMTPMailFrom, e.SMTPRcptTo, e.SMTPHelo)}
		}
		return nil
	case SMTPData:
		qid := queueID(e)
		first := proc + qid + ": client=" + client
		if e.UserName != "" {
			first += ", sasl_method=LOGIN, sasl_username=" + e.UserName
		}
		return []string{
			first,
			fmt.Sprintf("postfix/cleanup[%d]: %s: message-id=<%s>", pid(e.SessionID, 20000), qid, e.MessageID),
			fmt.Sprintf("postfix/qmgr[1234]: %s: from=<%s>, size=%d, nrcpt=1 (queue active)", qid, e.SMTPMailFrom, e.MessageSize),
		}
	case SMTPDeliver:
		qid := queueID(e)
		if e.EmailDirection == "outbound" {
			return []string{fmt.Sprintf("postfix/smtp[%d]: %s: to=<%s>, relay=mx.%s[192.0.2.25]:25, delay=0.4, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued)", pid(e.SessionID, 30000), qid, e.SMTPRcptTo, e.DestDomain)}
		}
		status := "sent (250 2.0.0 Saved)"
		if e.Outcome == Failure {
			status = "deferred (451 4.3.0 Temporary failure)"
		}
		return []string{fmt.Sprintf("postfix/lmtp[%d]: %s: to=<%s>, relay=mail.%s[private/dovecot-lmtp], delay=0.1, dsn=2.0.0, status=%s", pid(e.SessionID, 40000), qid, e.SMTPRcptTo, e.DestDomain, status)}
	case SMTPDisconnect:
		return []string{proc + "disconnect from " + client}
	}
	return nil
}

// WriteSyslog copies events from sub to w as mail-log lines until the bus
// is closed and drained or ctx ends. It closes sub on return.
func WriteSyslog(ctx context.Context, sub *Subscription, w io.Writer, o SyslogOptions) error {
	defer sub.Close()
	for {
		evs, err := sub.NextBatch(ctx, 512)
		if err != nil {
			if errors.Is(err, ErrClosed) {
				return nil
			}
			return err
		}
		for _, e := range evs {
			for _, l := range SyslogLines(e, o) {
				if _, err := io.WriteString(w, l+"\n"); err != nil {
					return err
				}
			}
		}
	}
}
