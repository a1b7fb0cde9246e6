package bom

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestStrip(t *testing.T) {
	for in, want := range map[string][2]string{
		"\xEF\xBB\xBFid: x": {"id: x", ""},
		"id: x":             {"id: x", ""},
		"\xEF\xBB":          {"\xEF\xBB", ""},
		"\xFF\xFEi\x00":     {"\xFF\xFEi\x00", "UTF-16"},
		"\xFE\xFF\x00i":     {"\xFE\xFF\x00i", "UTF-16"},
		"\xFF\xFE\x00\x00i": {"\xFF\xFE\x00\x00i", "UTF-32"},
		"\x00\x00\xFE\xFF":  {"\x00\x00\xFE\xFF", "UTF-32"},
		"":                  {"", ""},
	} {
		text, wide := Strip([]byte(in))
		assert.Equal(t, want, [2]string{string(text), wide}, "%q", in)
	}
	assert.Equal(t, "the file is UTF-16 text (it starts with a byte order mark): save it as UTF-8", Advice("UTF-16"))
}

func TestNUL(t *testing.T) {
	line, col, ok := NUL([]byte("id: x\ntitlé: a\x00b"))
	assert.True(t, ok)
	assert.Equal(t, [2]int{2, 9}, [2]int{line, col})
	_, _, ok = NUL([]byte("id: x\n"))
	assert.False(t, ok)
}
