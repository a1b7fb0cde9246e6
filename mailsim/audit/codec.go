package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"time"
)

// eventCodec encodes an Event field by field, in declaration order, for
// the bus's frozen events (freeze.go): strings and byte counts as
// uvarints, integers as varints, optional values behind a presence byte,
// the time as time.Time's binary form (the instant and the zone offset).
// It is built from the struct by reflection once, so that a field added to
// Event is encoded without more code; a field of a type it does not know
// stops the program at start-up (a test builds it too).
var eventCodec = newCodec(reflect.TypeFor[Event]())

type fieldKind uint8

const (
	kString fieldKind = iota
	kInt              // int, int64, time.Duration
	kUint             // uint32, uint64
	kBool
	kBoolPtr
	kIntPtr
	kTime
	kStrings
)

type codecField struct {
	index int
	kind  fieldKind
}

type codec struct{ fields []codecField }

func newCodec(t reflect.Type) *codec {
	c := &codec{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		var k fieldKind
		switch {
		case f.Type == reflect.TypeFor[time.Time]():
			k = kTime
		case f.Type == reflect.TypeFor[*bool]():
			k = kBoolPtr
		case f.Type == reflect.TypeFor[*int]():
			k = kIntPtr
		case f.Type == reflect.TypeFor[[]string]():
			k = kStrings
		case f.Type.Kind() == reflect.String:
			k = kString
		case f.Type.Kind() == reflect.Bool:
			k = kBool
		case f.Type.Kind() == reflect.Int, f.Type.Kind() == reflect.Int64:
			k = kInt
		case f.Type.Kind() == reflect.Uint32, f.Type.Kind() == reflect.Uint64:
			k = kUint
		default:
			panic(fmt.Sprintf("audit: the event codec has no encoding for field %s (%s)", f.Name, f.Type))
		}
		c.fields = append(c.fields, codecField{index: i, kind: k})
	}
	return c
}

func (c *codec) encode(dst []byte, e *Event) ([]byte, error) {
	v := reflect.ValueOf(e).Elem()
	for _, f := range c.fields {
		fv := v.Field(f.index)
		switch f.kind {
		case kString:
			s := fv.String()
			dst = binary.AppendUvarint(dst, uint64(len(s)))
			dst = append(dst, s...)
		case kInt:
			dst = binary.AppendVarint(dst, fv.Int())
		case kUint:
			dst = binary.AppendUvarint(dst, fv.Uint())
		case kBool:
			dst = append(dst, b2u(fv.Bool()))
		case kBoolPtr:
			if fv.IsNil() {
				dst = append(dst, 0)
			} else {
				dst = append(dst, 1+b2u(fv.Elem().Bool()))
			}
		case kIntPtr:
			if fv.IsNil() {
				dst = append(dst, 0)
			} else {
				dst = append(dst, 1)
				dst = binary.AppendVarint(dst, fv.Elem().Int())
			}
		case kTime:
			// A length byte, then time.Time's binary form (15 or 16 bytes).
			at := len(dst)
			dst = append(dst, 0)
			var err error
			if dst, err = fv.Interface().(time.Time).AppendBinary(dst); err != nil {
				return dst[:at], err
			}
			dst[at] = byte(len(dst) - at - 1)
		case kStrings:
			if fv.IsNil() {
				dst = append(dst, 0)
				continue
			}
			dst = binary.AppendUvarint(dst, uint64(fv.Len())+1)
			for i := 0; i < fv.Len(); i++ {
				s := fv.Index(i).String()
				dst = binary.AppendUvarint(dst, uint64(len(s)))
				dst = append(dst, s...)
			}
		}
	}
	return dst, nil
}

var errCodecShort = errors.New("truncated")

func (c *codec) decode(b []byte, e *Event) error {
	v := reflect.ValueOf(e).Elem()
	uvarint := func() (uint64, error) {
		x, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, errCodecShort
		}
		b = b[n:]
		return x, nil
	}
	str := func() (string, error) {
		n, err := uvarint()
		if err != nil || n > uint64(len(b)) {
			return "", errCodecShort
		}
		s := string(b[:n])
		b = b[n:]
		return s, nil
	}
	byte1 := func() (byte, error) {
		if len(b) == 0 {
			return 0, errCodecShort
		}
		x := b[0]
		b = b[1:]
		return x, nil
	}
	for _, f := range c.fields {
		fv := v.Field(f.index)
		name := v.Type().Field(f.index).Name
		var err error
		switch f.kind {
		case kString:
			var s string
			if s, err = str(); err == nil {
				fv.SetString(s)
			}
		case kInt:
			x, n := binary.Varint(b)
			if n <= 0 {
				err = errCodecShort
				break
			}
			b = b[n:]
			fv.SetInt(x)
		case kUint:
			var x uint64
			if x, err = uvarint(); err == nil {
				fv.SetUint(x)
			}
		case kBool:
			var x byte
			if x, err = byte1(); err == nil {
				fv.SetBool(x != 0)
			}
		case kBoolPtr:
			var x byte
			if x, err = byte1(); err == nil && x != 0 {
				fv.Set(reflect.ValueOf(Bool(x == 2)))
			}
		case kIntPtr:
			var x byte
			if x, err = byte1(); err == nil && x != 0 {
				y, n := binary.Varint(b)
				if n <= 0 {
					err = errCodecShort
					break
				}
				b = b[n:]
				fv.Set(reflect.ValueOf(Int(int(y))))
			}
		case kTime:
			var n byte
			if n, err = byte1(); err != nil {
				break
			}
			if int(n) > len(b) {
				err = errCodecShort
				break
			}
			var t time.Time
			if err = t.UnmarshalBinary(b[:n]); err == nil {
				fv.Set(reflect.ValueOf(t))
				b = b[n:]
			}
		case kStrings:
			var n uint64
			if n, err = uvarint(); err != nil || n == 0 {
				break
			}
			if n-1 > uint64(len(b)) { // each string takes a byte at least
				err = errCodecShort
				break
			}
			ss := make([]string, n-1)
			for i := range ss {
				if ss[i], err = str(); err != nil {
					break
				}
			}
			fv.Set(reflect.ValueOf(ss))
		}
		if err != nil {
			return fmt.Errorf("field %s: %w", name, err)
		}
	}
	if len(b) != 0 {
		return fmt.Errorf("%d bytes after the last field", len(b))
	}
	return nil
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}
