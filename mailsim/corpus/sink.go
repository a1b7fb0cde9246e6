package corpus

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"sync"

	"github.com/maildrill/maildrill/internal/nozero"
)

// docSink receives a document as it is rendered and keeps it the way the
// cache holds it: base64 in 76-column CRLF lines (exactly
// encodeBase64Lines of the whole document), with its size and SHA-256. The
// document itself is never held whole: the zip and PDF writers stream into
// the sink, and no buffer of the raw document is allocated, grown,
// cleared and copied. The lines are kept in pieces: a document longer than
// planned goes on in a further piece instead of a larger copy of what is
// written, and one shorter than planned has only its last piece trimmed
// (copied), not the whole of it.
type docSink struct {
	pieces [][]byte // full, whole lines each
	out    []byte   // the piece being filled
	next   int      // the capacity of a further piece
	total  int      // len of pieces and out
	h      hash.Hash
	n      int      // decoded bytes so far
	part   [57]byte // the start of a line not yet complete
	np     int
}

// newDocSink returns a sink whose first piece is sized for a document of
// about hint bytes.
func newDocSink(hint int) *docSink {
	c := encodedLen(max(hint, 4096))
	return &docSink{out: nozero.Bytes(c)[:0], next: max(c/4, 64<<10), h: sha256.New()}
}

func (s *docSink) Write(p []byte) (int, error) {
	n := len(p)
	if n >= parallelLines*57 {
		// A large write (a PDF's whole file, a scanned page): hashed while
		// it is encoded (see appendBase64Lines), on the other core.
		var wg sync.WaitGroup
		all := p // p is cut below
		wg.Go(func() { s.h.Write(all) })
		defer wg.Wait()
	} else {
		s.h.Write(p)
	}
	s.n += n
	if s.np > 0 {
		k := copy(s.part[s.np:], p)
		s.np += k
		p = p[k:]
		if s.np < len(s.part) {
			return n, nil
		}
		s.appendLines(s.part[:])
		s.np = 0
	}
	full := len(p) / 57 * 57
	s.appendLines(p[:full])
	s.np = copy(s.part[:], p[full:])
	return n, nil
}

// appendLines encodes b, whole lines of 57 bytes, into the current piece
// as far as it has room, then into new ones.
func (s *docSink) appendLines(b []byte) {
	for len(b) > 0 {
		room := (cap(s.out) - len(s.out)) / 78 * 57
		if room == 0 {
			s.newPiece(max(s.next, encodedLen(len(b))))
			continue
		}
		k := min(room, len(b))
		s.out = appendBase64Lines(s.out, b[:k])
		s.total += k / 57 * 78
		b = b[k:]
	}
}

// newPiece ends the current piece and starts one of capacity c.
func (s *docSink) newPiece(c int) {
	if len(s.out) > 0 {
		s.pieces = append(s.pieces, s.out)
	}
	s.out = nozero.Bytes(c)[:0]
}

// doc ends the document and returns it encoded.
func (s *docSink) doc() *encodedDoc {
	if s.np > 0 {
		need := encodedLen(s.np)
		if cap(s.out)-len(s.out) < need {
			s.newPiece(need) // a piece of its own, no larger than the line
		}
		s.out = appendBase64Lines(s.out, s.part[:s.np])
		s.total += need
		s.np = 0
	}
	last := s.out
	if cap(last)-len(last) > s.total/16+4096 {
		// Far less than planned: do not keep the rest in the cache.
		last = append(nozero.Bytes(len(last))[:0], last...)
	}
	if len(last) > 0 || len(s.pieces) == 0 {
		s.pieces = append(s.pieces, last)
	}
	return &encodedDoc{b64: s.pieces, n64: s.total, size: s.n, sha256: hex.EncodeToString(s.h.Sum(nil))}
}

// appendBase64Lines appends b encoded as base64 in lines of 57 input bytes
// (76 characters), each ended by CRLF; only b's last line may be short.
// Whole lines go through encodeLine; the short one through encoding/base64
// (the same alphabet and padding).
func appendBase64Lines(out, b []byte) []byte {
	if len(b) == 0 {
		return out
	}
	need := encodedLen(len(b))
	if cap(out)-len(out) < need {
		// Mapped as far as written now: the rest may stay unwritten.
		grown := nozero.BytesCap(len(out)+need, max(2*cap(out), len(out)+need))
		out = append(grown[:0], out...)
	}
	o := len(out)
	out = out[:o+need]
	lines := len(b) / 57
	if lines >= parallelLines {
		// Lines do not depend on one another: the second half is encoded
		// on the other core. The first touch of a fresh buffer's pages
		// (page faults) is most of the cost, and is shared too.
		half := lines / 2
		var wg sync.WaitGroup
		wg.Go(func() { encodeLines(out[o+half*78:], b[half*57:lines*57]) })
		encodeLines(out[o:], b[:half*57])
		wg.Wait()
	} else {
		encodeLines(out[o:], b[:lines*57])
	}
	o += lines * 78
	b = b[lines*57:]
	if len(b) > 0 {
		enc := base64.StdEncoding
		enc.Encode(out[o:], b)
		o += enc.EncodedLen(len(b))
		out[o], out[o+1] = '\r', '\n'
		o += 2
	}
	return out[:o]
}

// parallelLines is the number of whole lines from which a write is encoded
// on two goroutines (about 230 KB in): below it, starting one costs more
// than it saves.
const parallelLines = 4096

// encodeLines encodes src, whole lines of 57 bytes, into dst, 78 bytes a
// line.
func encodeLines(dst, src []byte) {
	for len(src) >= 57 {
		encodeLine((*[78]byte)(dst[:78]), (*[57]byte)(src[:57]))
		dst, src = dst[78:], src[57:]
	}
}

// b64Pairs[v] is the two base64 characters of the 12 bits v, as a
// little-endian uint16 (the first character in the low byte).
var b64Pairs = func() (t [4096]uint16) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for v := range t {
		t[v] = uint16(alphabet[v>>6]) | uint16(alphabet[v&63])<<8
	}
	return t
}()

// encodeLine encodes 57 bytes as one 76-character base64 line and its
// CRLF: 24 bits in, two table look-ups of 12 bits out, eight characters
// stored at a time.
func encodeLine(dst *[78]byte, src *[57]byte) {
	for i, o := 0, 0; i < 54; i, o = i+6, o+8 {
		v := binary.BigEndian.Uint64(src[i:]) >> 16 // 6 bytes (i+8 <= 56)
		binary.LittleEndian.PutUint64(dst[o:], uint64(b64Pairs[v>>36])|
			uint64(b64Pairs[v>>24&0xfff])<<16|
			uint64(b64Pairs[v>>12&0xfff])<<32|
			uint64(b64Pairs[v&0xfff])<<48)
	}
	v := uint32(src[54])<<16 | uint32(src[55])<<8 | uint32(src[56])
	binary.LittleEndian.PutUint32(dst[72:], uint32(b64Pairs[v>>12])|uint32(b64Pairs[v&0xfff])<<16)
	dst[76], dst[77] = '\r', '\n'
}
