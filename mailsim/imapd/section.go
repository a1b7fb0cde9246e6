package imapd

import (
	"bufio"
	"bytes"
	"io"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"

	"github.com/maildrill/maildrill/internal/nozero"
)

// bodySection returns BODY[section] of raw and a function that recycles
// its buffer once the caller is done with it. A part's body (BODY[2], an
// attachment as a client downloads it) is the part's own bytes, between
// its header and the next boundary: it is read through once, compared
// with raw as it comes, and answered as a slice of raw, without a copy
// (sliceOf). Should the bytes read not be found in raw as one run (they
// always are with go-message's readers), the part is read again into a
// pooled buffer sized from the message. Either replaces go-imap's
// ExtractBodySection, whose bytes.Buffer grows by doubling from nothing (a
// part of a megabyte was cleared and copied some twenty times). The result
// is the same byte for byte (TestBodySectionMatchesGoIMAP,
// FuzzBodySection); anything else (the whole message, HEADER, MIME, TEXT)
// goes to go-imap.
func bodySection(raw []byte, item *imap.FetchItemBodySection) ([]byte, func()) {
	if len(item.Part) == 0 || item.Specifier != imap.PartSpecifierNone {
		return imapserver.ExtractBodySection(bytes.NewReader(raw), item), func() {}
	}
	body, found := openSection(raw, item.Part)
	if !found {
		return nil, func() {} // as go-imap: no header or no such part, no section
	}
	if out, ok := sliceOf(raw, body); ok {
		return partial(out, item.Partial), func() {}
	}
	if len(raw) > maxPooledBinary {
		// (a buffer the size of a message beyond the pool's bound would be
		// made for each part asked of it, however small the part)
		return imapserver.ExtractBodySection(bytes.NewReader(raw), item), func() {}
	}
	body, _ = openSection(raw, item.Part)
	out, done := copySection(body, len(raw))
	return partial(out, item.Partial), done
}

// copySection reads body, a section of a message of size bytes, into a
// pooled buffer, and returns it with the function that gives the buffer
// back; nil when body cannot be read to its end (go-imap yields nothing
// then).
func copySection(body io.Reader, size int) ([]byte, func()) {
	buf, _ := binBufs.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	if cap(*buf) < size {
		*buf = nozero.Bytes(size) // read into, never read beyond
	}
	out, err := readFull(body, (*buf)[:size])
	done := func() { putBinary(buf) }
	if err != nil {
		done()
		return nil, func() {}
	}
	return out, done
}

// partial is the part of a section a FETCH asks for with <offset.size>.
func partial(out []byte, p *imap.SectionPartial) []byte {
	if p == nil {
		return out
	}
	if p.Offset > int64(len(out)) {
		return nil
	}
	return out[p.Offset:min(p.Offset+p.Size, int64(len(out)))]
}

// openSection reads raw's header and finds the body of part path in it.
func openSection(raw []byte, path []int) (io.Reader, bool) {
	br := bufio.NewReader(bytes.NewReader(raw))
	header, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, false
	}
	_, body, found := findPart(header, br, path)
	return body, found
}

// sliceChunk is how much of a section sliceOf reads at a time; its first
// chunk (up to this much) is what it looks for in the message.
const sliceChunk = 32 << 10

var sliceBufs = sync.Pool{New: func() any { b := make([]byte, sliceChunk); return &b }}

// sliceOf reads body to its end and returns what it read as a slice of
// raw: the first chunk is looked for in raw, every byte after it compared
// with what follows in raw. It reports false when the bytes are not one
// run of raw, or body fails (an error a copying reader would meet too).
func sliceOf(raw []byte, body io.Reader) ([]byte, bool) {
	start, end, ok := spanOf(raw, body)
	if !ok {
		return nil, false
	}
	return raw[start:end:end], true
}

// spanOf is sliceOf's search: where in raw the bytes of body are.
func spanOf(raw []byte, body io.Reader) (start, end int, ok bool) {
	bp := sliceBufs.Get().(*[]byte)
	defer sliceBufs.Put(bp)
	buf := *bp
	first, err := readChunk(body, buf)
	switch {
	case err != nil && err != io.EOF:
		return 0, 0, false
	case first == 0:
		return 0, 0, true
	}
	// The first place the first chunk is in raw, looked for by its first
	// bytes and checked whole.
	probe := buf[:min(first, 64)]
	start = -1
	for from := 0; from <= len(raw)-first; {
		i := bytes.Index(raw[from:], probe)
		if i < 0 {
			break
		}
		i += from
		if i+first <= len(raw) && bytes.Equal(raw[i:i+first], buf[:first]) {
			start = i
			break
		}
		from = i + 1
	}
	if start < 0 {
		return 0, 0, false
	}
	end = start + first
	for err == nil {
		var n int
		n, err = readChunk(body, buf)
		if err != nil && err != io.EOF {
			return 0, 0, false
		}
		if end+n > len(raw) || !bytes.Equal(raw[end:end+n], buf[:n]) {
			return 0, 0, false
		}
		end += n
	}
	return start, end, true
}

// readChunk reads from r until buf is full or r ends: io.EOF when it
// ended, r's own error when it failed.
func readChunk(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := r.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
