package imapd

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"github.com/maildrill/maildrill/internal/b64lines"
	"github.com/maildrill/maildrill/internal/nozero"
)

// BINARY (RFC 3516) of a base64 part, the common case (attachments), is
// decoded here in one pass over the part's bytes into a pooled buffer,
// instead of go-imap's ExtractBinarySection, which decodes through two
// stacked readers (whitespace replacement, then newline filtering) into a
// growing bytes.Buffer: 70 % of the CPU of a BINARY download. The result
// is the same byte for byte (FuzzBinarySection compares them); anything
// else (other encodings, text with a charset, the whole message) goes to
// go-imap.

// binBufs recycles the buffers decoded sections are written from, up to
// maxPooledBinary bytes each (a buffer holds a message and its decoded
// part: a rare huge message is not kept around).
var binBufs sync.Pool

const maxPooledBinary = 8 << 20

func putBinary(buf *[]byte) {
	if cap(*buf) <= maxPooledBinary {
		binBufs.Put(buf)
	}
}

// spanCache remembers where the encoded body of a base64 leaf part lies
// in a message, so that the message is not parsed again to find it
// (store.Message keeps them).
type spanCache interface {
	PartSpan(part []int) (off, n int, ok bool)
	SetPartSpan(part []int, off, n int)
}

// binarySection returns the decoded content of a section and a function
// that recycles the buffer once the caller is done with it. sc, when not
// nil, is raw's span cache.
func binarySection(raw []byte, sc spanCache, item *imap.FetchItemBinarySection) ([]byte, func()) {
	out, buf, ok := fastBinarySection(raw, sc, item.Part)
	if !ok {
		return imapserver.ExtractBinarySection(bytes.NewReader(raw), item), func() {}
	}
	done := func() {}
	if buf != nil {
		done = func() { putBinary(buf) }
	}
	if p := item.Partial; p != nil {
		end := min(p.Offset+p.Size, int64(len(out)))
		if p.Offset > int64(len(out)) {
			return nil, done
		}
		out = out[p.Offset:end]
	}
	return out, done
}

// binarySectionSize is the size BINARY of the part would have.
func binarySectionSize(raw []byte, sc spanCache, part []int) uint32 {
	out, done := binarySection(raw, sc, &imap.FetchItemBinarySection{Part: part})
	defer done()
	return uint32(len(out))
}

// fastBinarySection decodes a base64 leaf part. ok is false when the part
// is not one (go-imap's way then applies). The part's encoded body is
// found as a run of raw's bytes (sliceOf) and remembered in sc, so that
// the next download of the part neither parses the message nor copies the
// text: it decodes straight from raw.
func fastBinarySection(raw []byte, sc spanCache, part []int) (out []byte, buf *[]byte, ok bool) {
	if len(part) == 0 {
		return nil, nil, false // the whole message: header included
	}
	var enc []byte
	if sc != nil {
		if off, n, hit := sc.PartSpan(part); hit && off >= 0 && n >= 0 && off+n <= len(raw) {
			enc = raw[off : off+n]
		}
	}
	if enc == nil {
		body, found := openBase64Part(raw, part)
		if !found {
			return nil, nil, false
		}
		start, end, ok := spanOf(raw, body)
		if !ok {
			return copiedBinarySection(raw, part)
		}
		enc = raw[start:end:end]
		if sc != nil {
			sc.SetPartSpan(part, start, end-start)
		}
	}
	// Lines of whole 4-character groups (as every MIME encoder writes
	// them) are decoded in one pass, from raw.
	buf = getBinary(base64.StdEncoding.DecodedLen(len(enc)) + b64lines.Spare)
	if n, ok := b64lines.Decode(*buf, enc); ok {
		return (*buf)[:n], buf, true
	}
	// Otherwise the text is copied, to take its line breaks out in place.
	need := len(enc) + base64.StdEncoding.DecodedLen(len(enc)) + b64lines.Spare
	if cap(*buf) < need {
		*buf = nozero.Bytes(need)
	}
	*buf = (*buf)[:need]
	copy(*buf, enc)
	return decodeSlow((*buf)[:len(enc)], (*buf)[len(enc):], buf)
}

// getBinary returns a pooled buffer of n bytes (contents undefined).
func getBinary(n int) *[]byte {
	buf, _ := binBufs.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	if cap(*buf) < n {
		*buf = nozero.Bytes(n) // decoded into, never read beyond
	}
	*buf = (*buf)[:n]
	return buf
}

// openBase64Part finds the body of the part at path in raw when it is a
// leaf in base64 that BINARY decodes here (not text in a charset other
// than UTF-8 or US-ASCII).
func openBase64Part(raw []byte, part []int) (io.Reader, bool) {
	br := bufio.NewReader(bytes.NewReader(raw))
	header, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, false
	}
	header, body, found := findPart(header, br, part)
	if !found {
		return nil, false
	}
	h := gomessage.Header{Header: header}
	mediaType, params, _ := h.ContentType()
	if strings.HasPrefix(mediaType, "multipart/") || !strings.EqualFold(h.Get("Content-Transfer-Encoding"), "base64") {
		return nil, false
	}
	if strings.HasPrefix(mediaType, "text/") {
		if cs, has := params["charset"]; has && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "us-ascii") {
			return nil, false
		}
	}
	return body, true
}

// copiedBinarySection decodes a base64 leaf part whose text is not one
// run of raw (go-message's readers always give one): the text is read
// into a pooled buffer sized from what is left of the message (an upper
// bound), then decoded into the same buffer, after it.
func copiedBinarySection(raw []byte, part []int) (out []byte, buf *[]byte, ok bool) {
	body, found := openBase64Part(raw, part)
	if !found {
		return nil, nil, false
	}
	left := len(raw)
	buf = getBinary(left + base64.StdEncoding.DecodedLen(left) + b64lines.Spare)
	enc, err := readFull(body, (*buf)[:left])
	if err != nil {
		putBinary(buf)
		return nil, nil, false
	}
	dst := (*buf)[left:]
	if n, ok := b64lines.Decode(dst, enc); ok {
		return dst[:n], buf, true
	}
	return decodeSlow(enc, dst, buf)
}

// decodeSlow decodes enc, which it may rewrite, into dst (buf's memory):
// encoding/base64 skips CR and LF itself, but each line break sends it
// from its 8-byte loop to a byte-at-a-time one, so the line breaks are
// taken out first (a vectorised search and a copy per line); go-message
// also skips spaces and tabs, which are rare: they are stripped only when
// that fails.
func decodeSlow(enc, dst []byte, buf *[]byte) (out []byte, _ *[]byte, ok bool) {
	enc = joinLines(enc)
	n, err := base64.StdEncoding.Decode(dst, enc)
	if err != nil {
		w := 0
		for _, c := range enc {
			if c != ' ' && c != '\t' {
				enc[w] = c
				w++
			}
		}
		if n, err = base64.StdEncoding.Decode(dst, enc[:w]); err != nil {
			putBinary(buf)
			return nil, nil, false // go-imap decides what a broken part yields
		}
	}
	return dst[:n], buf, true
}

// findPart is go-imap's findMessagePart (imapserver/message.go, MIT): the
// header and body of the part at path, found the same way.
func findPart(header textproto.Header, body io.Reader, path []int) (textproto.Header, io.Reader, bool) {
	mh := gomessage.Header{Header: header}
	mt, _, _ := mh.ContentType()
	if !strings.HasPrefix(mt, "multipart/") && len(path) > 0 && path[0] == 1 {
		path = path[1:]
	}
	var parentMediaType string
	for _, n := range path {
		header, body = openPart(header, body, parentMediaType)
		ph := gomessage.Header{Header: header}
		mediaType, typeParams, _ := ph.ContentType()
		if !strings.HasPrefix(mediaType, "multipart/") {
			if n != 1 {
				return textproto.Header{}, nil, false
			}
			continue
		}
		mr := textproto.NewMultipartReader(body, typeParams["boundary"])
		found := false
		for j := 1; j <= n; j++ {
			p, err := mr.NextPart()
			if err != nil {
				return textproto.Header{}, nil, false
			}
			if j == n {
				parentMediaType, header, body, found = mediaType, p.Header, p, true
			}
		}
		if !found {
			return textproto.Header{}, nil, false
		}
	}
	return header, body, true
}

func openPart(header textproto.Header, body io.Reader, parentMediaType string) (textproto.Header, io.Reader) {
	h := gomessage.Header{Header: header}
	mediaType, _, _ := h.ContentType()
	if !h.Has("Content-Type") && parentMediaType == "multipart/digest" {
		mediaType = "message/rfc822"
	}
	if mediaType == "message/rfc822" || mediaType == "message/global" {
		br := bufio.NewReader(body)
		header, _ = textproto.ReadHeader(br)
		return header, br
	}
	return header, body
}

// readFull reads r to its end into p, which must be large enough; it
// returns what was read.
func readFull(r io.Reader, p []byte) ([]byte, error) {
	n := 0
	for {
		if n == len(p) {
			// Larger than the message it came from: cannot happen.
			var one [1]byte
			if k, _ := r.Read(one[:]); k > 0 {
				return nil, io.ErrShortBuffer
			}
			return p[:n], nil
		}
		k, err := r.Read(p[n:])
		n += k
		if err == io.EOF {
			return p[:n], nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// joinLines removes the line breaks (LF, and the CR before it) of p in
// place and returns what is left.
func joinLines(p []byte) []byte {
	w, r := 0, 0
	for r < len(p) {
		i := bytes.IndexByte(p[r:], '\n')
		end, next := len(p), len(p)
		if i >= 0 {
			end, next = r+i, r+i+1
			if end > r && p[end-1] == '\r' {
				end--
			}
		}
		w += copy(p[w:], p[r:end])
		r = next
	}
	return p[:w]
}
