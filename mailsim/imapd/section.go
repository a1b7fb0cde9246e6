package imapd

import (
	"bufio"
	"bytes"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"

	"github.com/maildrill/maildrill/internal/nozero"
)

// bodySection returns BODY[section] of raw and a function that recycles
// its buffer once the caller is done with it. A part's body (BODY[2], an
// attachment as a client downloads it) is read into a pooled buffer sized
// from the message, instead of go-imap's ExtractBodySection's bytes.Buffer
// grown by doubling from nothing (a part of a megabyte was cleared and
// copied some twenty times). The result is the same byte for byte
// (TestBodySectionMatchesGoIMAP, FuzzBodySection); anything else (the
// whole message, HEADER, MIME, TEXT) goes to go-imap.
func bodySection(raw []byte, item *imap.FetchItemBodySection) ([]byte, func()) {
	if len(item.Part) == 0 || item.Specifier != imap.PartSpecifierNone || len(raw) > maxPooledBinary {
		// (a buffer the size of a message beyond the pool's bound would be
		// made for each part asked of it, however small the part)
		return imapserver.ExtractBodySection(bytes.NewReader(raw), item), func() {}
	}
	br := bufio.NewReader(bytes.NewReader(raw))
	header, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, func() {} // as go-imap: no header, no section
	}
	_, body, found := findPart(header, br, item.Part)
	if !found {
		return nil, func() {}
	}
	buf, _ := binBufs.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	if cap(*buf) < len(raw) {
		*buf = nozero.Bytes(len(raw)) // read into, never read beyond
	}
	out, err := readFull(body, (*buf)[:len(raw)])
	done := func() { putBinary(buf) }
	if err != nil {
		// go-imap yields nothing for a part that cannot be read to its end.
		done()
		return nil, func() {}
	}
	if p := item.Partial; p != nil {
		if p.Offset > int64(len(out)) {
			return nil, done
		}
		out = out[p.Offset:min(p.Offset+p.Size, int64(len(out)))]
	}
	return out, done
}
