// Sending steps: send, forward, and the messages they write.

package run

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"

	"github.com/maildrill/maildrill/mailsim/smtpd"
	"github.com/maildrill/maildrill/scenarios"
)

func stepSend(ctx context.Context, a *actorRun, st *scenarios.Step, p *scenarios.Params) error {
	cr, err := a.sendCreds()
	if err != nil {
		return err
	}
	var atts []attachment
	if p.Attach {
		atts = a.downloads
		if len(atts) == 0 {
			// Data-dependent: the searches found nothing to take.
			a.record("smtp.send", "skipped", scenarios.TruthRecord{Detail: "nothing downloaded to attach"})
			a.r.note(Note{Time: a.now, Actor: a.name, Kind: "info", Text: "send skipped: nothing was downloaded to attach"})
			return nil
		}
	}
	per := p.MaxAttachments
	if per <= 0 {
		per = 10
	}
	delay := defDelay(p, a.a.Pacing.Delay)
	batches := [][]attachment{nil}
	if len(atts) > 0 {
		batches = nil
		for i := 0; i < len(atts); i += per {
			batches = append(batches, atts[i:min(i+per, len(atts))])
		}
	}
	for i, b := range batches {
		if i > 0 {
			if err := a.tick(ctx, delay); err != nil {
				return err
			}
		}
		subj := orStr(p.Subject, "documents")
		if len(batches) > 1 {
			subj = fmt.Sprintf("%s (%d/%d)", subj, i+1, len(batches))
		}
		msg := buildMessage(cr.user, p.To, subj, orStr(p.Body, "Ci-joint."), b, a.r.clk.Now(), a.tag(), a.r.runMark())
		if err := a.sendMail(ctx, cr, p.To, msg); err != nil {
			return err
		}
		a.record("smtp.send", "success", scenarios.TruthRecord{Bytes: int64(len(msg)), Count: len(b), Detail: "to " + strings.Join(p.To, ",")})
	}
	return nil
}

func (a *actorRun) sendCreds() (cred, error) {
	if a.user != "" {
		return cred{a.user, a.pass}, nil
	}
	return a.credentials(nil)
}

func (a *actorRun) sendMail(ctx context.Context, cr cred, to []string, msg []byte) error {
	c, key, raw, err := a.smtpSession(ctx, cr)
	if err != nil {
		return err
	}
	defer a.smtpClose(c, key)
	if err := c.Auth(smtpd.NewLoginClient(cr.user, cr.pass, false)); err != nil {
		return fmt.Errorf("SMTP AUTH as %s: %w", cr.user, err)
	}
	return submit(c, raw, a.r.target.Name() == "embedded", cr.user, to, msg)
}

// submit is c.SendMail(from, to, msg), the message written to raw, the
// client's connection, at once: go-smtp's DATA writer handles a byte at a
// time (an eighth of a second of CPU for the flagship's 33 MB), and so
// does its server's DATA reader. With bdat (the embedded target, which
// offers CHUNKING and logs a message the same however it came), a message
// that BDAT delivers exactly as DATA would (bdatAsData: all of the
// runner's own) goes as one BDAT LAST chunk (RFC 3030), which needs no
// dot-stuffing on either side; otherwise as DATA, dot-stuffed here in one
// pass: the same bytes on the wire as go-smtp's.
func submit(c *smtp.Client, raw io.ReadWriter, bdat bool, from string, to []string, msg []byte) error {
	var opts *smtp.MailOptions // as SendMail: SMTPUTF8 for a non-ASCII address
	if !isASCII(from) || slices.ContainsFunc(to, func(s string) bool { return !isASCII(s) }) {
		opts = &smtp.MailOptions{UTF8: true}
	}
	if err := c.Mail(from, opts); err != nil {
		return err
	}
	for _, addr := range to {
		if err := c.Rcpt(addr, nil); err != nil {
			return err
		}
	}
	if raw != nil && bdat {
		limit, _ := c.MaxMessageSize()
		if ok, _ := c.Extension("CHUNKING"); ok && bdatAsData(msg, limit) {
			return sendBDAT(raw, msg)
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if raw != nil && len(msg) > 0 && msg[len(msg)-1] == '\n' {
		// The stuffed message ends in CRLF; the client's Close, with
		// nothing written through it, sends CRLF.CRLF: the last CRLF is
		// left to it.
		st := appendDotStuffed(make([]byte, 0, len(msg)+len(msg)/64+8), msg)
		if _, err := raw.Write(st[:len(st)-2]); err != nil {
			return err
		}
	} else if _, err := w.Write(msg); err != nil {
		return err
	}
	return w.Close()
}

// bdatAsData tells whether msg sent as BDAT reaches the server's session
// as the same bytes, accepted or refused the same, as sent as DATA: lines
// all ending in CRLF, no other CR or LF, none over 998 characters once
// dot-stuffed (DATA refuses lines over the server's limit, BDAT has none),
// the whole under limit (the SIZE the server offers; 0: none), which go-smtp
// checks before the session sees a BDAT chunk but after for DATA. Any other
// message goes as DATA, as it always did.
func bdatAsData(msg []byte, limit int) bool {
	if len(msg) < 2 || (limit > 0 && len(msg) >= limit) {
		return false
	}
	for len(msg) > 0 {
		e := bytes.IndexByte(msg, '\n')
		if e < 1 || msg[e-1] != '\r' {
			return false // a bare LF, or no final CRLF
		}
		line := msg[:e-1]
		n := len(line)
		if n > 0 && line[0] == '.' {
			n++
		}
		if n > 998 || bytes.IndexByte(line, '\r') >= 0 {
			return false
		}
		msg = msg[e+1:]
	}
	return true
}

// sendBDAT sends msg as one BDAT LAST chunk on rw, between commands of a
// go-smtp client (whose reader holds nothing then: every reply was read),
// and reads the reply as the client would, a 250 or an *smtp.SMTPError.
func sendBDAT(rw io.ReadWriter, msg []byte) error {
	if _, err := fmt.Fprintf(rw, "BDAT %d LAST\r\n", len(msg)); err != nil {
		return err
	}
	if _, err := rw.Write(msg); err != nil {
		return err
	}
	code, text, err := readSMTPReply(rw)
	if err != nil {
		return err
	}
	if code != 250 {
		e := &smtp.SMTPError{Code: code, Message: text}
		if enh, rest, ok := strings.Cut(text, " "); ok {
			var c smtp.EnhancedCode
			if n, _ := fmt.Sscanf(enh, "%d.%d.%d", &c[0], &c[1], &c[2]); n == 3 {
				e.EnhancedCode, e.Message = c, rest
			}
		}
		return e
	}
	return nil
}

// readSMTPReply reads one reply, a byte at a time (nothing after it is
// taken from r): its code and text, lines joined by LF.
func readSMTPReply(r io.Reader) (int, string, error) {
	var lines []string
	var line []byte
	var b [1]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, "", fmt.Errorf("SMTP reply: %w", err)
		}
		if b[0] != '\n' {
			if len(line) > 4096 {
				return 0, "", errors.New("SMTP reply: line too long")
			}
			line = append(line, b[0])
			continue
		}
		l := strings.TrimSuffix(string(line), "\r")
		line = line[:0]
		if len(l) < 3 {
			return 0, "", fmt.Errorf("SMTP reply: short line %q", l)
		}
		code, err := strconv.Atoi(l[:3])
		if err != nil {
			return 0, "", fmt.Errorf("SMTP reply: bad code in %q", l)
		}
		if len(l) > 3 && l[3] == '-' {
			lines = append(lines, l[4:])
			continue
		}
		if len(l) > 4 {
			lines = append(lines, l[4:])
		}
		return code, strings.Join(lines, "\n"), nil
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// appendDotStuffed appends b as net/textproto's DotWriter writes it
// (before its Close): a dot opening a line doubled, a bare LF made CRLF,
// every other byte as is.
func appendDotStuffed(dst, b []byte) []byte {
	for len(b) > 0 {
		e := bytes.IndexByte(b, '\n')
		line := b
		if e >= 0 {
			line = b[:e+1]
		}
		b = b[len(line):]
		if line[0] == '.' {
			dst = append(dst, '.')
		}
		body := line
		nl := e >= 0
		if nl {
			body = line[:len(line)-1]
		}
		cr := bytes.IndexByte(body, '\r')
		switch {
		case cr < 0: // no CR: a bare LF gets one
			dst = append(dst, body...)
			if nl {
				dst = append(dst, '\r', '\n')
			}
		case cr == len(body)-1 && nl: // CRLF
			dst = append(dst, line...)
		default: // CRs elsewhere: DotWriter's states, byte by byte
			dst = appendDotStuffedLine(dst, line)
		}
	}
	return dst
}

// appendDotStuffedLine runs DotWriter's states over one line (its leading
// dot already handled), which starts at the beginning of a line.
func appendDotStuffedLine(dst, line []byte) []byte {
	afterCR := false
	for _, c := range line {
		switch {
		case c == '\n' && !afterCR:
			dst = append(dst, '\r')
			afterCR = false
		case c == '\r' && !afterCR:
			afterCR = true
		default:
			afterCR = false
		}
		dst = append(dst, c)
	}
	return dst
}

func stepForward(ctx context.Context, a *actorRun, st *scenarios.Step, p *scenarios.Params) error {
	if _, err := a.selectMailbox(ctx, orStr(p.Mailbox, a.selected), true); err != nil && a.selected == "" {
		return err
	}
	uids, err := a.targetUIDs(ctx, p.FromSearch, orDefault(p.Limit, 5))
	if err != nil {
		return err
	}
	cr, err := a.sendCreds()
	if err != nil {
		return err
	}
	delay := defDelay(p, a.a.Pacing.Delay)
	for i, uid := range uids {
		if i > 0 {
			if err := a.tick(ctx, delay); err != nil {
				return err
			}
		}
		raw, err := a.fetchPart(uid, nil)
		if err != nil {
			return err
		}
		msg := buildMessage(cr.user, p.To, "TR: message", "Message transféré.", []attachment{{name: "message.eml", mime: "message/rfc822", data: raw}}, a.r.clk.Now(), a.tag(), a.r.runMark())
		if err := a.sendMail(ctx, cr, p.To, msg); err != nil {
			return err
		}
		a.record("smtp.forward", "success", scenarios.TruthRecord{Mailbox: a.selected, Bytes: int64(len(msg)), Detail: "to " + strings.Join(p.To, ",")})
	}
	return nil
}

// buildMessage writes a MIME message with attachments. tag makes the
// Message-ID and boundary unique and deterministic.
//
// run, when not empty, goes in an X-Maildrill-Run header: on the remote
// target every message the run sends or appends carries it, so that the
// test accounts can be given back as they were (remote.Conn.Cleanup).
func buildMessage(from string, to []string, subject, body string, atts []attachment, date time.Time, tag, run string) []byte {
	return buildMessageIn(nil, from, to, subject, body, atts, date, tag, run)
}

// buildMessageEstimate is the room buildMessage needs for a message (base64
// is 4/3 of the data plus CRLF every 76 characters).
func buildMessageEstimate(body string, atts []attachment) int {
	est := 2048 + 3*len(body)
	for _, at := range atts {
		b64 := base64.StdEncoding.EncodedLen(len(at.data))
		est += 512 + b64 + 2*(b64/76+1)
	}
	return est
}

// buildMessageIn is buildMessage written into dst's room (from its start),
// when there is enough of it.
func buildMessageIn(dst []byte, from string, to []string, subject, body string, atts []attachment, date time.Time, tag, run string) []byte {
	// Room for the whole message at once, so that the buffer is not grown
	// by doubling, each time copied, and each attachment is encoded in
	// place.
	buf := bytes.NewBuffer(dst[:0])
	buf.Grow(buildMessageEstimate(body, atts))
	mw, err := gomessage.CreateWriter(buf, messageHeader(from, to, subject, date, tag, run))
	if err != nil {
		return nil
	}
	writeTextPart(mw, body)
	for _, at := range atts {
		aw, err := mw.CreatePart(attachmentHeader(at))
		if err != nil {
			continue
		}
		if at.mime == "message/rfc822" {
			aw.Write(at.data)
		} else {
			// The part's header is in buf: its body goes there directly,
			// encoded as go-message's writer would (base64 lines of 76,
			// CRLF between them), in one pass instead of its small writes.
			buf.Write(appendBase64Lines(buf.AvailableBuffer(), at.data))
		}
		aw.Close()
	}
	mw.Close()
	return buf.Bytes()
}

// messageHeader is the header of a message the runner sends.
func messageHeader(from string, to []string, subject string, date time.Time, tag, run string) gomessage.Header {
	var h mail.Header
	if run != "" {
		h.Set("X-Maildrill-Run", run)
	}
	h.SetDate(date)
	h.SetSubject(subject)
	h.SetAddressList("From", []*mail.Address{{Address: from}})
	var tl []*mail.Address
	for _, t := range to {
		tl = append(tl, &mail.Address{Address: t})
	}
	h.SetAddressList("To", tl)
	h.SetMessageID(tag + "@maildrill.test")
	h.Set("MIME-Version", "1.0")
	h.Set("Content-Type", "multipart/mixed; boundary=\"=_md_"+tag+"\"")
	return h.Header
}

// writeTextPart writes the message's text, quoted-printable.
func writeTextPart(mw *gomessage.Writer, body string) {
	var th gomessage.Header
	th.Set("Content-Type", "text/plain; charset=utf-8")
	th.Set("Content-Transfer-Encoding", "quoted-printable")
	if tw, err := mw.CreatePart(th); err == nil {
		io.WriteString(tw, body+"\r\n")
		tw.Close()
	}
}

// attachmentHeader is the header of an attachment's part: base64, but
// for message/rfc822 (RFC 2046: 8bit).
func attachmentHeader(at attachment) gomessage.Header {
	var ah gomessage.Header
	ah.SetContentType(orStr(at.mime, "application/octet-stream"), map[string]string{"name": at.name})
	ah.SetContentDisposition("attachment", map[string]string{"filename": at.name})
	if at.mime == "message/rfc822" {
		ah.Set("Content-Transfer-Encoding", "8bit")
	} else {
		ah.Set("Content-Transfer-Encoding", "base64")
	}
	return ah
}

// appendBase64Lines appends data in base64, CRLF after every 76
// characters but the last line's.
func appendBase64Lines(dst, data []byte) []byte {
	const line = 76 / 4 * 3 // input bytes per full line
	var enc [76]byte
	for len(data) > 0 {
		n := min(line, len(data))
		base64.StdEncoding.Encode(enc[:], data[:n])
		dst = append(dst, enc[:base64.StdEncoding.EncodedLen(n)]...)
		data = data[n:]
		if len(data) > 0 {
			dst = append(dst, '\r', '\n')
		}
	}
	return dst
}

// tag returns a deterministic unique token for message ids.
// runMark is the X-Maildrill-Run value of the messages the run puts on
// the remote target ("" on the targets maildrill starts and drops).
func (r *runner) runMark() string {
	if r.target != nil && r.target.Name() == "remote" {
		return r.runID
	}
	return ""
}

func (a *actorRun) tag() string { return fmt.Sprintf("%016x", a.rng.Uint64()) }
