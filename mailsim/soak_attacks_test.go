package mailsim_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/maildrill/maildrill/mailsim"
)

// bruteForce tries five wrong passwords on IMAP (plaintext LOGIN) or on
// submission (AUTH PLAIN after STARTTLS), counting the refusals received.
func bruteForce(srv *mailsim.Server, e *faultEnv, smtpSide bool, n *soakCounts) {
	if smtpSide {
		c, err := smtpReady(srv.SubmissionAddr, e, true)
		if err != nil {
			return
		}
		defer c.finish()
		for k := 0; k < 5; k++ {
			if c.send("AUTH PLAIN "+plainAuth(e.user, fmt.Sprintf("wrong%d", k))+"\r\n") != nil {
				return
			}
			if c.smtpReply(535) != nil {
				n.uncertain.Add(1)
				return
			}
			n.smtpAuthFail.Add(1)
		}
		c.smtpCmd("QUIT", 221)
		return
	}
	c, err := imapReady(e, false, false)
	if err != nil {
		return
	}
	defer c.finish()
	for k := 0; k < 5; k++ {
		tag := fmt.Sprintf("b%d", k)
		if c.send(tag+" LOGIN "+imapQuote(e.user)+" "+imapQuote(fmt.Sprintf("wrong%d", k))+"\r\n") != nil {
			return
		}
		for {
			l, err := c.line()
			if err != nil {
				n.uncertain.Add(1)
				return
			}
			if strings.HasPrefix(l, tag+" NO") {
				n.imapLoginFail.Add(1)
				break
			}
			if strings.HasPrefix(l, tag+" ") {
				break
			}
		}
	}
	c.imapCmd("z", "LOGOUT")
}

// commandFlood pipelines 300 commands at once on IMAP (after login) or on
// the MX, then reads every answer.
func commandFlood(srv *mailsim.Server, e *faultEnv, smtpSide bool, n *soakCounts) {
	const flood = 300
	if smtpSide {
		c, err := smtpReady(srv.MXAddr, e, false)
		if err != nil {
			return
		}
		defer c.finish()
		c.tcp.SetDeadline(time.Now().Add(3 * ioTimeout))
		if c.send(strings.Repeat("NOOP\r\n", flood)) != nil {
			return
		}
		for k := 0; k < flood; k++ {
			if c.smtpReply(250) != nil {
				return
			}
		}
		c.smtpCmd("QUIT", 221)
		return
	}
	c, err := imapReady(e, false, false)
	if err != nil {
		return
	}
	defer c.finish()
	if c.imapCmd("a1", "LOGIN "+imapQuote(e.user)+" "+imapQuote(e.pass)) != nil {
		n.uncertain.Add(1)
		return
	}
	n.imapLoginOK.Add(1)
	c.tcp.SetDeadline(time.Now().Add(3 * ioTimeout))
	var b strings.Builder
	for k := 0; k < flood; k++ {
		fmt.Fprintf(&b, "f%d NOOP\r\n", k)
	}
	if c.send(b.String()) != nil {
		return
	}
	if c.imapTagged(fmt.Sprintf("f%d", flood-1)) != nil {
		return
	}
	c.imapCmd("z", "LOGOUT")
}

// hugeLiteral announces a 4 GiB literal before login, reads the answer and
// hangs up.
func hugeLiteral(srv *mailsim.Server, e *faultEnv, n *soakCounts) {
	c, err := imapReady(e, false, false)
	if err != nil {
		return
	}
	defer c.finish()
	if c.send("h1 LOGIN {4294967296}\r\n") != nil {
		n.uncertain.Add(1)
		return
	}
	// Refused when announced, and audited as a failed login
	// (limit_literal_size).
	if l, err := c.line(); err == nil && strings.HasPrefix(l, "h1 BAD") {
		n.imapLoginFail.Add(1)
	} else {
		n.uncertain.Add(1)
	}
}

// junk sends random bytes to one of the listeners and hangs up.
func junk(srv *mailsim.Server, seed uint64) {
	addrs := []string{srv.IMAPAddr, srv.IMAPSAddr, srv.SubmissionAddr, srv.MXAddr, srv.AdminAddr}
	rng := rand.New(rand.NewPCG(seed, 7))
	c, err := dialRaw(addrs[rng.IntN(len(addrs))])
	if err != nil {
		return
	}
	defer c.finish()
	b := make([]byte, 4096)
	for k := range b {
		b[k] = byte(rng.IntN(256))
	}
	c.c.Write(b)
	c.tcp.SetReadDeadline(time.Now().Add(time.Second))
	io.CopyN(io.Discard, c.tcp, 1024)
}

// deepMIME is a message of depth nested multiparts.
func deepMIME(depth int, rcpt string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: contact@partner.example.org\r\nTo: %s\r\nSubject: deep\r\nMIME-Version: 1.0\r\n", rcpt)
	for k := 0; k < depth; k++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", k, k)
	}
	b.WriteString("Content-Type: text/plain\r\n\r\ndeep\r\n")
	for k := depth - 1; k >= 0; k-- {
		fmt.Fprintf(&b, "--b%d--\r\n", k)
	}
	return b.String()
}
