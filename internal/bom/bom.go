// Package bom reads the byte order mark some editors and Windows tools
// write at the start of a text file, for the readers of YAML and JSON
// lines: UTF-8's is dropped (YAML allows it, RFC 8259 lets a JSON parser
// ignore it), and UTF-16's and UTF-32's are named, so that such a file is
// refused as what it is rather than as a syntax error on its first line.
package bom

import (
	"bytes"
	"unicode/utf8"
)

// Strip returns data without a leading UTF-8 byte order mark, and the name
// of the encoding ("UTF-16", "UTF-32") when data starts with another
// one's; wide is "" otherwise.
func Strip(data []byte) (text []byte, wide string) {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		return data[3:], ""
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE, 0, 0}), bytes.HasPrefix(data, []byte{0, 0, 0xFE, 0xFF}):
		return data, "UTF-32"
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		return data, "UTF-16"
	}
	return data, ""
}

// Advice is the message for a file in a wide encoding.
func Advice(wide string) string {
	return "the file is " + wide + " text (it starts with a byte order mark): save it as UTF-8"
}

// NUL finds the first NUL byte of data, which no text in UTF-8 holds (a
// file in UTF-16 without a byte order mark is full of them): its line
// and column (in characters), and whether there is one.
func NUL(data []byte) (line, col int, found bool) {
	i := bytes.IndexByte(data, 0)
	if i < 0 {
		return 0, 0, false
	}
	line = 1 + bytes.Count(data[:i], []byte{'\n'})
	col = 1 + utf8.RuneCount(data[bytes.LastIndexByte(data[:i], '\n')+1:i])
	return line, col, true
}

// NULAdvice is the message for a NUL byte.
const NULAdvice = "a NUL byte: the file must be UTF-8 text (is it UTF-16?)"

// Problem is why a file is not UTF-8 text, and where (Line 0: the whole
// file).
type Problem struct {
	Line, Col int
	Msg       string
}

// Text is data as a parser should read it: without a leading UTF-8 byte
// order mark; or the Problem when data is UTF-16 or UTF-32 (told by its
// byte order mark) or holds a NUL byte.
func Text(data []byte) ([]byte, *Problem) {
	data, wide := Strip(data)
	if wide != "" {
		return nil, &Problem{Msg: Advice(wide)}
	}
	if line, col, ok := NUL(data); ok {
		return nil, &Problem{Line: line, Col: col, Msg: NULAdvice}
	}
	return data, nil
}
