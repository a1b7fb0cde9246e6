package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
)

// FillResult is what --fill appended.
type FillResult struct {
	Label    string  `json:"label"`
	Addr     string  `json:"addr"`
	User     string  `json:"user"`
	Mailbox  string  `json:"mailbox"`
	Messages int     `json:"messages"`
	Bytes    int64   `json:"bytes"`
	Seconds  float64 `json:"seconds"`
}

// fill APPENDs o.fill generated messages to o.mailbox of the first account.
func fill(ctx context.Context, o *options) (*FillResult, error) {
	accs, err := o.logins()
	if err != nil {
		return nil, err
	}
	a := accs[0]
	c, err := o.dial()
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", o.addr, err)
	}
	defer c.Close()
	if err := c.Login(a.Address, a.Password).Wait(); err != nil {
		return nil, fmt.Errorf("login %s: %w", a.Address, err)
	}
	if !strings.EqualFold(o.mailbox, "INBOX") {
		// Created if missing: an error here is most often "already
		// exists", and APPEND says so plainly when it is something else.
		_ = c.Create(o.mailbox, nil).Wait()
	}
	res := &FillResult{Label: o.label, Addr: o.addr, User: a.Address, Mailbox: o.mailbox}
	start := time.Now()
	date := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for i := 0; i < o.fill; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		msg := fillMessage(o.fillSeed, i, o.fillSize, a.Address, date.Add(time.Duration(i)*time.Minute))
		cmd := c.Append(o.mailbox, int64(len(msg)), &imap.AppendOptions{Time: date.Add(time.Duration(i) * time.Minute)})
		if _, err := cmd.Write(msg); err != nil {
			cmd.Close()
			return nil, fmt.Errorf("APPEND %d: %w", i+1, err)
		}
		if err := cmd.Close(); err != nil {
			return nil, fmt.Errorf("APPEND %d: %w", i+1, err)
		}
		if _, err := cmd.Wait(); err != nil {
			return nil, fmt.Errorf("APPEND %d to %s: %w", i+1, o.mailbox, err)
		}
		res.Messages++
		res.Bytes += int64(len(msg))
	}
	res.Seconds = round2(time.Since(start).Seconds())
	if res.Messages == 0 {
		return nil, errors.New("--fill: nothing appended")
	}
	return res, nil
}

// fillMessage is message i of seed: multipart/mixed with a short text part
// (part 1) and a PDF attachment (part 2, base64 in lines of 76), about size
// bytes in all. The PDF's content stream is pseudo-random (incompressible,
// like the images and fonts of a real one).
func fillMessage(seed uint64, i int, size int64, to string, date time.Time) []byte {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	const boundary = "=_maildrill_bench_boundary"
	var b strings.Builder
	fmt.Fprintf(&b, "From: Registry Office <registry@ministry.example>\r\n")
	fmt.Fprintf(&b, "To: <%s>\r\n", to)
	fmt.Fprintf(&b, "Subject: Case file %06d, scanned\r\n", i+1)
	fmt.Fprintf(&b, "Date: %s\r\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <bench-%d-%d@ministry.example>\r\n", seed, i+1)
	b.WriteString("MIME-Version: 1.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n", boundary)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n", boundary)
	fmt.Fprintf(&b, "Please find attached case file %06d as scanned this morning.\r\n\r\nRegistry Office\r\n", i+1)
	name := "case-" + strconv.Itoa(i+1) + ".pdf"
	fmt.Fprintf(&b, "--%s\r\nContent-Type: application/pdf; name=\"%s\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"%s\"\r\n\r\n", boundary, name, name)
	tail := fmt.Sprintf("\r\n--%s--\r\n", boundary)
	// Base64 in lines of 76 characters + CRLF: 57 bytes of PDF per 78.
	room := size - int64(b.Len()) - int64(len(tail))
	pdf := fillPDF(r, max(int(room*57/78), 512))
	enc := base64.StdEncoding.EncodeToString(pdf)
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteString("\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	b.WriteString(tail)
	return []byte(b.String())
}

// fillPDF returns a syntactically plausible PDF of about n bytes.
func fillPDF(r *rand.Rand, n int) []byte {
	head := "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n" +
		"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n" +
		"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>\nendobj\n"
	foot := "\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
	body := max(n-len(head)-len(foot)-64, 16)
	out := make([]byte, 0, n)
	out = append(out, head...)
	out = fmt.Appendf(out, "4 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n", body)
	for range body / 8 {
		v := r.Uint64()
		for k := 0; k < 8; k++ {
			out = append(out, byte(v>>(8*k)))
		}
	}
	out = append(out, foot...)
	return out
}

// parsePart parses a section part such as "2" or "1.2".
func parsePart(s string) ([]int, error) {
	var part []int
	for _, f := range strings.Split(s, ".") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--binary %q: want a part number such as 2 or 1.2", s)
		}
		part = append(part, n)
	}
	return part, nil
}
