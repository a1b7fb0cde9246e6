package detectors

import (
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/maildrill/maildrill/detectors/sigma"
)

// decodeObject decodes one JSON object into the same values encoding/json
// would produce for map[string]any (float64 numbers, []any arrays, nested
// maps), about five times faster. Any error sends the caller to
// encoding/json, which reports it well.
func decodeObject(data []byte) (map[string]any, error) {
	d := jdec{b: data}
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return nil, errBadJSON
	}
	v, err := d.object(0)
	if err != nil {
		return nil, err
	}
	d.ws()
	if d.i != len(d.b) {
		return nil, errBadJSON
	}
	return v, nil
}

var errBadJSON = errors.New("bad JSON")

// maxSlots is the number of top-level fields above which an event keeps a
// map: finding a field in a slice is a scan, and so is replacing a
// duplicate name while decoding.
const maxSlots = 64

// decodeFields decodes one JSON object as decodeObject does. A flat object
// (no value is an object) of at most maxSlots fields is put in the slots
// of e (names, values, the numbers of the names); any other object comes
// back as a map.
func decodeFields(data []byte, e *JSONEvent) (m map[string]any, err error) {
	d := jdec{b: data}
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return nil, errBadJSON
	}
	d.i++
	var idBuf [maxSlots]sigma.FieldID
	var keyBuf [maxSlots]string
	var valBuf [maxSlots]any
	n := 0
	toMap := func() {
		m = make(map[string]any, n+8)
		for i := range n {
			m[keyBuf[i]] = valBuf[i]
		}
	}
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
	} else {
		for {
			d.ws()
			if d.i >= len(d.b) || d.b[d.i] != '"' {
				return nil, errBadJSON
			}
			id, k, err := d.key()
			if err != nil {
				return nil, err
			}
			v, err := d.memberValue(0)
			if err != nil {
				return nil, err
			}
			if _, nested := v.(map[string]any); nested && m == nil {
				toMap()
			}
			switch {
			case m != nil:
				m[k] = v
			default:
				// the last duplicate wins, as in encoding/json
				dup := -1
				for j := 0; j < n; j++ {
					if idBuf[j] == id && (id != 0 || keyBuf[j] == k) {
						dup = j
						break
					}
				}
				switch {
				case dup >= 0:
					valBuf[dup] = v
				case n == maxSlots:
					toMap()
					m[k] = v
				default:
					idBuf[n], keyBuf[n], valBuf[n] = id, k, v
					n++
				}
			}
			end, err := d.memberEnd()
			if err != nil {
				return nil, err
			}
			if end {
				break
			}
		}
	}
	d.ws()
	if d.i != len(d.b) {
		return nil, errBadJSON
	}
	if m != nil {
		return m, nil
	}
	e.slots, e.flat = true, true
	e.ids = make([]sigma.FieldID, n)
	copy(e.ids, idBuf[:n])
	e.keys = make([]string, n)
	copy(e.keys, keyBuf[:n])
	if n <= len(e.inl) {
		e.vals = e.inl[:n:n]
	} else {
		e.vals = make([]any, n)
	}
	copy(e.vals, valBuf[:n])
	for i, id := range e.ids {
		if int(id) < len(e.pos) {
			e.pos[id] = uint8(i + 1)
			e.has |= 1 << id
		}
	}
	return nil, nil
}

// key decodes an object key and numbers it: a key without escapes is
// looked up in its buffer, without allocating a string for it.
func (d *jdec) key() (sigma.FieldID, string, error) {
	start := d.i + 1
	for j := start; j < len(d.b); j++ {
		c := d.b[j]
		if c == '"' {
			d.i = j + 1
			id, k := sigma.FieldIDOfBytes(d.b[start:j])
			return id, k, nil
		}
		if c == '\\' || c < 0x20 || c >= 0x80 {
			break
		}
	}
	k, err := d.str()
	if err != nil {
		return 0, "", err
	}
	id, k := sigma.FieldIDOf(k)
	return id, k, nil
}

type jdec struct {
	b []byte
	i int
}

func (d *jdec) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *jdec) object(depth int) (map[string]any, error) {
	if depth > 1000 {
		return nil, errBadJSON
	}
	d.i++ // {
	m := make(map[string]any, 16)
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return m, nil
	}
	for {
		d.ws()
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, errBadJSON
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		v, err := d.memberValue(depth)
		if err != nil {
			return nil, err
		}
		m[k] = v // the last duplicate wins, as in encoding/json
		end, err := d.memberEnd()
		if err != nil {
			return nil, err
		}
		if end {
			return m, nil
		}
	}
}

// memberValue reads the ':' after an object member's name and the
// member's value.
func (d *jdec) memberValue(depth int) (any, error) {
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != ':' {
		return nil, errBadJSON
	}
	d.i++
	d.ws()
	return d.value(depth)
}

// memberEnd reads what follows an object member: ',' (another member
// follows) or '}' (end true).
func (d *jdec) memberEnd() (end bool, err error) {
	d.ws()
	if d.i >= len(d.b) {
		return false, errBadJSON
	}
	switch d.b[d.i] {
	case ',':
		d.i++
		return false, nil
	case '}':
		d.i++
		return true, nil
	}
	return false, errBadJSON
}

func (d *jdec) value(depth int) (any, error) {
	if d.i >= len(d.b) {
		return nil, errBadJSON
	}
	switch c := d.b[d.i]; {
	case c == '"':
		return d.str()
	case c == '{':
		return d.object(depth + 1)
	case c == '[':
		return d.array(depth + 1)
	case c == 't':
		return true, d.lit("true")
	case c == 'f':
		return false, d.lit("false")
	case c == 'n':
		return nil, d.lit("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return d.num()
	}
	return nil, errBadJSON
}

func (d *jdec) lit(s string) error {
	if len(d.b)-d.i < len(s) || string(d.b[d.i:d.i+len(s)]) != s {
		return errBadJSON
	}
	d.i += len(s)
	return nil
}

func (d *jdec) array(depth int) ([]any, error) {
	if depth > 1000 {
		return nil, errBadJSON
	}
	d.i++ // [
	out := []any{}
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return out, nil
	}
	for {
		d.ws()
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		d.ws()
		if d.i >= len(d.b) {
			return nil, errBadJSON
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case ']':
			d.i++
			return out, nil
		default:
			return nil, errBadJSON
		}
	}
}

// num validates the JSON number grammar, then parses it as float64.
func (d *jdec) num() (any, error) {
	start := d.i
	if d.b[d.i] == '-' {
		d.i++
	}
	digits := func() int {
		n := 0
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	if d.i < len(d.b) && d.b[d.i] == '0' {
		d.i++
	} else if digits() == 0 {
		return nil, errBadJSON
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return nil, errBadJSON
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return nil, errBadJSON
		}
	}
	f, err := strconv.ParseFloat(unsafe.String(&d.b[start], d.i-start), 64)
	if err != nil {
		return nil, errBadJSON // out of range: encoding/json errors too
	}
	return f, nil
}

func (d *jdec) str() (string, error) {
	d.i++ // opening quote
	start := d.i
	// fast path: no escapes, valid UTF-8, no control characters
	for d.i < len(d.b) {
		c := d.b[d.i]
		if c == '"' {
			s := d.b[start:d.i]
			d.i++
			if !utf8.Valid(s) {
				return d.slowStr(start)
			}
			return string(s), nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		d.i++
	}
	return d.slowStr(start)
}

// slowStr decodes a string with escapes; invalid UTF-8 becomes U+FFFD as in
// encoding/json.
func (d *jdec) slowStr(start int) (string, error) {
	d.i = start
	out := make([]byte, 0, 32)
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return string(out), nil
		case c < 0x20:
			return "", errBadJSON
		case c == '\\':
			d.i++
			if d.i >= len(d.b) {
				return "", errBadJSON
			}
			e := d.b[d.i]
			d.i++
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := d.hex4()
				if !ok {
					return "", errBadJSON
				}
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
						save := d.i
						d.i += 2
						var ok2 bool
						if r2, ok2 = d.hex4(); !ok2 {
							return "", errBadJSON
						}
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							out = utf8.AppendRune(out, dec)
							continue
						}
						d.i = save
					}
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
			default:
				return "", errBadJSON
			}
		case c < utf8.RuneSelf:
			out = append(out, c)
			d.i++
		default:
			r, size := utf8.DecodeRune(d.b[d.i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, d.b[d.i:d.i+size]...)
			}
			d.i += size
		}
	}
	return "", errBadJSON
}

func (d *jdec) hex4() (rune, bool) {
	if len(d.b)-d.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range d.b[d.i : d.i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	d.i += 4
	return r, true
}
