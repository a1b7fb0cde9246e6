// Sending steps: send, forward, and the messages they write.

package run

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

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
	c, key, err := a.smtpSession(ctx, cr)
	if err != nil {
		return err
	}
	defer a.smtpClose(c, key)
	if err := c.Auth(smtpd.NewLoginClient(cr.user, cr.pass, false)); err != nil {
		return fmt.Errorf("SMTP AUTH as %s: %w", cr.user, err)
	}
	return c.SendMail(cr.user, to, bytes.NewReader(msg))
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
	var buf bytes.Buffer
	// Room for the whole message at once (base64 is 4/3 of the data plus
	// CRLF every 76 characters), so that the buffer is not grown by
	// doubling, each time copied.
	est := 2048 + 3*len(body)
	for _, at := range atts {
		est += 512 + len(at.data)*4/3 + len(at.data)/38
	}
	buf.Grow(est)
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
	mw, err := gomessage.CreateWriter(&buf, h.Header)
	if err != nil {
		return nil
	}
	var th gomessage.Header
	th.Set("Content-Type", "text/plain; charset=utf-8")
	th.Set("Content-Transfer-Encoding", "quoted-printable")
	if tw, err := mw.CreatePart(th); err == nil {
		io.WriteString(tw, body+"\r\n")
		tw.Close()
	}
	for _, at := range atts {
		var ah gomessage.Header
		ah.SetContentType(orStr(at.mime, "application/octet-stream"), map[string]string{"name": at.name})
		ah.SetContentDisposition("attachment", map[string]string{"filename": at.name})
		if at.mime == "message/rfc822" {
			ah.Set("Content-Transfer-Encoding", "8bit") // RFC 2046: no base64 for message/rfc822
		} else {
			ah.Set("Content-Transfer-Encoding", "base64")
		}
		aw, err := mw.CreatePart(ah)
		if err != nil {
			continue
		}
		aw.Write(at.data)
		aw.Close()
	}
	mw.Close()
	return buf.Bytes()
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
