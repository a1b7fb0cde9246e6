package smtpd

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/maildrill/maildrill/internal/nozero"
	"github.com/maildrill/maildrill/mailsim/audit"
)

// Data receives a message, records it, delivers it to local recipients and
// captures it in the Outbox for outside ones.
func (s *session) Data(r io.Reader) error {
	if !s.cs.beginData() {
		return smtp.ErrDataReset
	}
	defer s.cs.endData()
	s.cs.busy.Store(true)
	defer s.cs.busy.Store(false)
	// Each read of the message now waits at most DataTimeout (see
	// trackedConn.Read).
	tc := s.cs.tc
	tc.phase.Store(phaseData)
	defer tc.phase.Store(phaseCommand)

	s.mu.Lock()
	from, rcpts := s.from, append([]recipient(nil), s.rcpts...)
	s.mu.Unlock()

	fail := func(n int64, reason string, info *MessageInfo) {
		e := s.cs.event(audit.SMTPData)
		e.SMTPMailFrom = from
		e.MessageSize = n
		e.Outcome, e.Reason = audit.Failure, reason
		if info != nil {
			s.describe(&e, info, from)
		}
		s.srv.publish(e)
	}
	// Room is left before the message for the trace lines added below,
	// which then need no second copy of it.
	buf, n, err := readMessageRoom(r, headRoom)
	body := buf[min(headRoom, len(buf)):]
	_, bdat := r.(*io.PipeReader)
	if err == nil && bdat && (tc.eof.Load() || s.cs.tap.lastChunkShort()) {
		// go-smtp's BDAT hands over a chunk cut short by the client's
		// hang-up as if it were complete: never deliver it.
		err = errTruncated
	}
	if err != nil {
		reason := ReasonAborted
		switch {
		case errors.Is(err, smtp.ErrDataTooLarge):
			reason = ReasonMessageTooLarge
		case errors.Is(err, smtp.ErrTooLongLine):
			reason = ReasonLineTooLong
		case errors.Is(err, errTruncated):
			reason = ReasonTruncated
		case tc.timedOut.Load():
			reason = ReasonTimeoutData
			err = errDataTimeout
		}
		fail(n, reason, nil)
		return err
	}
	if sep, ok := separateHeader(body); ok {
		body = sep // raw is assembled in a new buffer below
	}
	info, perr := ParseMessageLimits(body, s.srv.cfg.MaxMIMEDepth, s.srv.cfg.MaxMIMEParts)
	if perr != nil {
		reason := ReasonLimitMIMEParts
		if errors.Is(perr, ErrMIMETooDeep) {
			reason = ReasonLimitMIMEDepth
		}
		fail(n, reason, &info)
		return errMIMELimit
	}

	now := s.srv.cfg.Clock.Now()
	s.cs.mu.Lock()
	s.cs.messages++
	seq := s.cs.messages
	helo, isTLS, user := s.cs.helo, s.cs.tls, s.cs.user
	s.cs.mu.Unlock()

	// Trace and identify the message as a real MTA would.
	var head strings.Builder
	fmt.Fprintf(&head, "Received: from %s ([%s])\r\n\tby %s with %s id %s.%d;\r\n\t%s\r\n",
		headerSafe(helo), addressLiteral(s.cs.ip), s.srv.cfg.Hostname, protocolName(isTLS, user != ""), s.cs.id, seq,
		now.Format(time.RFC1123Z))
	if info.MessageID == "" && s.submission() {
		info.MessageID = fmt.Sprintf("%s.%d.%d@%s", s.cs.id, seq, now.UnixNano(), s.srv.cfg.Hostname)
		fmt.Fprintf(&head, "Message-ID: <%s>\r\n", info.MessageID)
	}
	var raw []byte
	if k := head.Len(); k <= headRoom && len(buf) == headRoom+len(body) {
		raw = buf[headRoom-k:]
		copy(raw, head.String())
	} else {
		raw = make([]byte, 0, head.Len()+len(body))
		raw = append(append(raw, head.String()...), body...)
	}

	e := s.cs.event(audit.SMTPData)
	e.Outcome = audit.Success
	e.SMTPMailFrom = from
	e.MessageSize = n
	spoofed := s.describe(&e, &info, from)
	s.srv.publish(e)

	direction := DirectionInternal
	if !s.submission() {
		direction = DirectionInbound
	}
	delivered, failed, full := 0, 0, 0
	var outbound []recipient
	for _, rc := range rcpts {
		if !rc.local {
			outbound = append(outbound, rc)
			continue
		}
		de := s.cs.event(audit.SMTPDeliver)
		de.SMTPMailFrom, de.SMTPRcptTo, de.DestDomain = from, rc.addr, rc.domain
		de.EmailDirection = direction
		de.MessageID = info.MessageID
		de.MessageSize, de.MessageSubj = n, info.Subject
		de.AttachmentCount, de.AttachmentNames = info.AttachmentCount, info.Attachments
		de.EmailFrom, de.SMTPSpoofedLocalSender = info.From, spoofed
		if err := s.srv.cfg.Backend.Deliver(rc.addr, raw); errors.Is(err, ErrMailboxFull) {
			de.Outcome, de.Reason = audit.Failure, ReasonLimitQuota
			failed++
			full++
		} else if err != nil {
			s.srv.log.Warn("smtpd: local delivery failed", logKeySession, s.cs.id, "rcpt", rc.addr, logKeyErr, err)
			de.Outcome, de.Reason = audit.Failure, ReasonDeliveryFailed
			failed++
		} else {
			de.Outcome = audit.Success
			delivered++
		}
		s.srv.publish(de)
	}
	if len(outbound) > 0 {
		addrs := make([]string, len(outbound))
		for i, rc := range outbound {
			addrs[i] = rc.addr
		}
		s.srv.cfg.Outbox.add(OutboxMessage{
			Time:            now,
			SessionID:       s.cs.id,
			Service:         s.cs.service,
			User:            user,
			MailFrom:        from,
			RcptTo:          addrs,
			Size:            n,
			Subject:         info.Subject,
			MessageID:       info.MessageID,
			AttachmentCount: info.AttachmentCount,
			Attachments:     info.Attachments,
			Raw:             raw,
		})
		for _, rc := range outbound {
			de := s.cs.event(audit.SMTPDeliver)
			de.SMTPMailFrom, de.SMTPRcptTo, de.DestDomain = from, rc.addr, rc.domain
			de.EmailDirection = DirectionOutbound
			de.MessageID = info.MessageID
			de.MessageSize, de.MessageSubj = n, info.Subject
			de.AttachmentCount, de.AttachmentNames = info.AttachmentCount, info.Attachments
			de.EmailFrom = info.From
			de.Outcome = audit.Success
			s.srv.publish(de)
			delivered++
		}
	}
	if delivered == 0 && failed > 0 {
		if full == failed {
			return errMailboxFull
		}
		return errDeliveryFailed
	}
	return nil
}

// Message refusals.
var (
	errTruncated   = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Message truncated: BDAT chunk shorter than announced"}
	errDataTimeout = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "Timeout waiting for data, closing connection"}
	errMIMELimit   = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message structure too complex (MIME nesting or parts)"}
)

// describe fills the message fields of an smtp.data event and returns the
// smtp.spoofed_local_sender flag: on MX (no authentication), mail whose
// envelope or header sender claims a local domain.
func (s *session) describe(e *audit.Event, info *MessageInfo, from string) *bool {
	e.MessageID = info.MessageID
	e.MessageSubj = info.Subject
	e.AttachmentCount = info.AttachmentCount
	e.AttachmentNames = info.Attachments
	e.EmailFrom = info.From
	if s.submission() {
		return nil
	}
	for _, addr := range []string{from, info.From} {
		if _, d, ok := splitAddress(addr); ok && s.srv.cfg.isLocalDomain(strings.ToLower(d)) {
			e.SMTPSpoofedLocalSender = audit.Bool(true)
			return e.SMTPSpoofedLocalSender
		}
	}
	return nil
}

// addressLiteral is a client's address as a Received: line writes it in
// brackets: an IPv6 address tagged "IPv6:" (RFC 5321 §4.1.3), as Postfix
// writes it.
func addressLiteral(ip string) string {
	if strings.Contains(ip, ":") {
		return "IPv6:" + ip
	}
	return ip
}

// protocolName is the RFC 3848 "with" keyword.
func protocolName(isTLS, authenticated bool) string {
	p := "ESMTP"
	if isTLS {
		p += "S"
	}
	if authenticated {
		p += "A"
	}
	return p
}

// headerSafe strips what could break a header line (it is already free of
// control characters) and bounds its length.
func headerSafe(s string) string {
	s = strings.NewReplacer("(", "", ")", "", "<", "", ">", "", ";", "").Replace(s)
	if s == "" {
		return "unknown"
	}
	return s
}

// dataChunks are the pooled chunks readMessage reads into.
var dataChunks = sync.Pool{New: func() any { return new([256 << 10]byte) }}

// readMessage reads r to its end into pooled chunks, then copies them into
// one slice of the exact size: one allocation of the message's size,
// where a growing buffer makes several and copies each.
func readMessage(r io.Reader) ([]byte, int64, error) {
	return readMessageRoom(r, 0)
}

// headRoom is the room Data leaves before a message for the lines it adds
// to its header (Received:, and Message-ID: for a submission without one):
// about 200 bytes, more with a long HELO name or host name.
const headRoom = 512

// readMessageRoom is readMessage with room bytes, unspecified, before the
// message: it returns room+n bytes, the message from room on.
func readMessageRoom(r io.Reader, room int) ([]byte, int64, error) {
	var chunks []*[256 << 10]byte
	defer func() {
		for _, c := range chunks {
			dataChunks.Put(c)
		}
	}()
	var n int64
	fill := 0 // bytes in the last chunk
	var err error
	for {
		if len(chunks) == 0 || fill == len(chunks[0]) {
			chunks, fill = append(chunks, dataChunks.Get().(*[256 << 10]byte)), 0
		}
		last := chunks[len(chunks)-1]
		k, rerr := r.Read(last[fill:])
		fill += k
		n += int64(k)
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	out := nozero.Bytes(room + int(n))[:room] // filled whole below (the room by the caller)
	for i, c := range chunks {
		if i == len(chunks)-1 {
			out = append(out, c[:fill]...)
		} else {
			out = append(out, c[:]...)
		}
	}
	if out == nil {
		out = []byte{}
	}
	return out, n, err
}
