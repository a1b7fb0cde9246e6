package detectors

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/maildrill/maildrill/detectors/sigma"
)

// Event is what rules run on: named fields, a timestamp and an id.
// Field names are the event's own (after the rule's field mapping), e.g.
// "event.action". Values are JSON-like: string, float64/int, bool, nil,
// []any, map[string]any.
type Event interface {
	Field(name string) (any, bool)
	Time() time.Time
	ID() string
}

// JSONOptions say where a JSON event keeps its timestamp and id.
type JSONOptions struct {
	TimestampField string // default "@timestamp"
	IDField        string // default "event.id"
}

func (o JSONOptions) withDefaults() JSONOptions {
	if o.TimestampField == "" {
		o.TimestampField = "@timestamp"
	}
	if o.IDField == "" {
		o.IDField = "event.id"
	}
	return o
}

// JSONEvent is an Event backed by a decoded JSON object. Fields are found
// under their flat dotted name ({"event.action": ...}) or nested
// ({"event": {"action": ...}}), or any mix of the two. It is immutable.
type JSONEvent struct {
	m    map[string]any
	t    time.Time
	id   string
	flat bool // no value is an object: a field is found by its name alone
	// decoded flat events keep their fields in a slice instead of m (slots
	// true), with the numbers of their names (sigma.FieldID): finding a
	// field the rules name compares small integers in one or two cache
	// lines instead of hashing the name into a map
	slots bool
	ids   []sigma.FieldID // by slot
	keys  []string
	vals  []any
	pos   [posIDs]uint8 // by number below posIDs: its slot + 1, 0 absent
	has   uint64        // bit n: the field numbered n (below posIDs) is present
	// the values of up to inlineVals fields live in the event itself (vals
	// is a slice of it): one allocation, in one size class for all events
	// of a stream, read from the same cache lines as pos
	inl [inlineVals]any
}

const inlineVals = 32

// posIDs: fields whose name has a number below it are found without
// scanning the event's numbers (the names rules and common events use are
// numbered first).
const posIDs = 64

// JSONEvent.has holds a bit per number below posIDs.
const _ uint64 = 1 << (posIDs - 1)

// ErrNoTimestamp is returned for an event without a usable timestamp.
var ErrNoTimestamp = errors.New("no timestamp")

// ParseJSONEvent decodes one JSON object (one line of a JSONL file).
func ParseJSONEvent(data []byte, o JSONOptions) (*JSONEvent, error) {
	e := new(JSONEvent)
	m, err := decodeFields(data, e)
	if err == nil && m == nil {
		if err := e.finish(o.withDefaults()); err != nil {
			return nil, err
		}
		return e, nil
	}
	if err != nil {
		// the fast decoder refuses; let encoding/json explain (or accept)
		m = nil
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("invalid JSON event: %w", err)
		}
	}
	if m == nil {
		return nil, errors.New("invalid JSON event: not an object")
	}
	return NewMapEvent(m, o)
}

// NewMapEvent wraps a map (flat or nested) as an Event. The map must not be
// changed afterwards.
func NewMapEvent(m map[string]any, o JSONOptions) (*JSONEvent, error) {
	o = o.withDefaults()
	e := &JSONEvent{m: m, flat: true}
	for _, v := range m {
		if _, ok := v.(map[string]any); ok {
			e.flat = false
			break
		}
	}
	if err := e.finish(o); err != nil {
		return nil, err
	}
	return e, nil
}

// finish reads the timestamp and the id.
func (e *JSONEvent) finish(o JSONOptions) error {
	tv, ok := e.Field(o.TimestampField)
	if !ok {
		return fmt.Errorf("%w: field %q missing (set the timestamp field)", ErrNoTimestamp, o.TimestampField)
	}
	t, err := parseTime(tv)
	if err != nil {
		return fmt.Errorf("%w: field %q: %v", ErrNoTimestamp, o.TimestampField, err)
	}
	e.t = t
	if idv, ok := e.Field(o.IDField); ok {
		switch x := idv.(type) {
		case string:
			e.id = x
		case float64:
			e.id = fmt.Sprint(x)
		}
	}
	return nil
}

// minEventTime and maxEventTime bound an event's time: the engine orders
// events by nanoseconds since 1970 in an int64, which holds only these
// years (a time outside them wrapped around, year 2999 read as 1830).
var (
	minEventTime = time.Unix(0, math.MinInt64).UTC()
	maxEventTime = time.Unix(0, math.MaxInt64).UTC()
)

func parseTime(v any) (time.Time, error) {
	t, err := parseAnyTime(v)
	if err == nil && (t.Before(minEventTime) || t.After(maxEventTime)) {
		return time.Time{}, fmt.Errorf("%v is out of range: events can be from %d to %d", v, minEventTime.Year()+1, maxEventTime.Year()-1)
	}
	return t, err
}

func parseAnyTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not RFC 3339", x)
		}
		return t, nil
	case float64:
		// epoch seconds, or milliseconds when too large to be seconds
		if math.Abs(x) > 1e15 { // past int64 milliseconds' range once converted
			return time.Time{}, fmt.Errorf("%v is out of range", x)
		}
		if x > 1e11 {
			return time.UnixMilli(int64(x)).UTC(), nil
		}
		sec, frac := math.Modf(x)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	case time.Time:
		return x, nil
	}
	return time.Time{}, fmt.Errorf("unsupported timestamp value %v", v)
}

func lookup(m map[string]any, name string) (any, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	for i := 0; i < len(name); i++ {
		if name[i] != '.' {
			continue
		}
		sub, ok := m[name[:i]].(map[string]any)
		if !ok {
			continue
		}
		if v, ok := lookup(sub, name[i+1:]); ok {
			return v, true
		}
	}
	return nil, false
}

// Field returns the value of a field, flat or nested.
func (e *JSONEvent) Field(name string) (any, bool) {
	if e.slots {
		for i, k := range e.keys {
			if k == name {
				return e.vals[i], true
			}
		}
		return nil, false
	}
	if e.flat {
		v, ok := e.m[name]
		return v, ok
	}
	return lookup(e.m, name)
}

// FieldByID returns the value of a field found by the number of its name
// (sigma.FieldFinder): id is sigma.FieldIDOf(name), 0 when the name has
// none.
func (e *JSONEvent) FieldByID(id sigma.FieldID, name string) (any, bool) {
	if !e.slots {
		if e.flat { // Field's, without the call (the prefilter reads many fields)
			v, ok := e.m[name]
			return v, ok
		}
		return lookup(e.m, name)
	}
	if id == 0 {
		return e.Field(name)
	}
	if int(id) < len(e.pos) {
		if i := e.pos[id]; i > 0 {
			return e.vals[i-1], true
		}
		return nil, false
	}
	for i, x := range e.ids {
		if x == id {
			return e.vals[i], true
		}
	}
	return nil, false
}

// lacks returns the fields numbered below 64 the event does not have, as
// bits (bit n: number n), for FieldByID; 0 when it cannot tell (an event
// not decoded into slots). Bit 0 is clear: 0 is no number (FieldByID
// looks such a field up by name).
func (e *JSONEvent) lacks() uint64 {
	if !e.slots {
		return 0
	}
	return ^e.has &^ 1
}

// Time returns the event time.
func (e *JSONEvent) Time() time.Time { return e.t }

// ID returns the event id.
func (e *JSONEvent) ID() string { return e.id }

// RangeFields calls yield for every leaf field under its flat dotted name.
func (e *JSONEvent) RangeFields(yield func(name string, value any) bool) {
	if e.slots {
		for i, k := range e.keys {
			if !yield(k, e.vals[i]) {
				return
			}
		}
		return
	}
	if e.flat { // no value is an object: every key is a field's name
		for k, v := range e.m {
			if !yield(k, v) {
				return
			}
		}
		return
	}
	rangeMap("", e.m, yield)
}

// toMap returns the event's fields as a map (the decoded object).
func (e *JSONEvent) toMap() map[string]any {
	if !e.slots {
		return e.m
	}
	m := make(map[string]any, len(e.keys))
	for i, k := range e.keys {
		m[k] = e.vals[i]
	}
	return m
}

func rangeMap(prefix string, m map[string]any, yield func(string, any) bool) bool {
	for k, v := range m {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		if sub, ok := v.(map[string]any); ok {
			if !rangeMap(name, sub, yield) {
				return false
			}
			continue
		}
		if !yield(name, v) {
			return false
		}
	}
	return true
}

// derivedEvent is the output of a correlation fed to a correlation over it.
// It answers the correlation's group-by fields, then the completing event's.
type derivedEvent struct {
	names []string // group-by names, mapped field names first
	vals  []string
	base  Event
	t     time.Time
}

func (d *derivedEvent) Field(name string) (any, bool) {
	for i, n := range d.names {
		if n == name {
			return d.vals[i%len(d.vals)], true
		}
	}
	if d.base != nil {
		return d.base.Field(name)
	}
	return nil, false
}

func (d *derivedEvent) Time() time.Time { return d.t }
func (d *derivedEvent) ID() string {
	if d.base != nil {
		return d.base.ID()
	}
	return ""
}

func lowerIfNeeded(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('A' <= c && c <= 'Z') || c >= 0x80 {
			return strings.ToLower(s)
		}
	}
	return s
}

// FieldEvent is an event source without an ID method (e.g. a struct whose id
// is a field named ID).
type FieldEvent interface {
	Field(name string) (any, bool)
	Time() time.Time
}

type wrapped struct {
	FieldEvent
	idField string
}

func (w wrapped) ID() string {
	v, ok := w.Field(w.idField)
	if !ok {
		return ""
	}
	switch x := v.(type) {
	case string:
		return x
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}

// RangeFields forwards keyword search support when the wrapped event has it.
func (w wrapped) RangeFields(yield func(string, any) bool) {
	if r, ok := w.FieldEvent.(interface {
		RangeFields(func(string, any) bool)
	}); ok {
		r.RangeFields(yield)
	}
}

// Wrap adapts a FieldEvent to Event, reading its id from the field
// "event.id" (or idField when given).
func Wrap(ev FieldEvent, idField ...string) Event {
	f := "event.id"
	if len(idField) > 0 && idField[0] != "" {
		f = idField[0]
	}
	return wrapped{FieldEvent: ev, idField: f}
}
