package scenarios

import "time"

// EventTable keeps what a run's verdicts and report need of each of its
// audit events, by event id: the EventRef a report lists behind an alert,
// whose source address also attributes the alert to the attacker or the
// staff (an alert from an outside system may name any event of the run).
//
// A run of a working day has hundreds of thousands of events, kept until
// it is judged. Events whose ids are the run's own ("RUNID-N", N the
// event's sequence number on the audit bus, as mailsim/audit gives them)
// are kept as fixed-size rows indexed by N, their strings interned, so
// that the table holds no pointer per event for the garbage collector to
// trace; any other id is kept in a map. A time is kept to the nanosecond
// with its location, without a monotonic clock reading. The zero value
// holds no run id: every id goes to the map.
type EventTable struct {
	prefix string // runID + "-", or "" for ids that are bare numbers
	fast   bool   // ids of the form prefix+N go to rows

	first uint64 // the sequence number of rows[0]
	rows  []eventRow
	n     int

	strs  []string
	strIx map[string]uint32
	locs  []*time.Location
	locIx map[*time.Location]uint16
	offIx map[int]uint16

	other map[string]EventRef
}

// eventRow is an event of the run's own numbering; strings and the
// location are indexes into the table's lists.
type eventRow struct {
	sec     int64
	nsec    int32
	loc     uint16 // index+1 into locs; 0: the zero time
	set     bool
	action  uint32
	outcome uint32
	user    uint32
	ip      uint32
}

// maxLocations bounds the locations rows refer to (a run's times share
// one or two); an event in yet another goes to the map.
const maxLocations = 1<<16 - 1

// maxRowGap bounds how far past the last row a run's own event may start
// a new row (the rows between are left empty); further ones go to the
// map.
const maxRowGap = 1 << 16

// NewEventTable returns a table for the events of run runID (ids
// "RUNID-N"; with runID empty, bare numbers "N").
func NewEventTable(runID string) *EventTable {
	t := &EventTable{fast: true}
	if runID != "" {
		t.prefix = runID + "-"
	}
	return t
}

// seq returns N when id is the run's own id prefix+N, N written as
// strconv.FormatUint writes it.
func (t *EventTable) seq(id string) (uint64, bool) {
	if !t.fast || len(id) <= len(t.prefix) || id[:len(t.prefix)] != t.prefix {
		return 0, false
	}
	d := id[len(t.prefix):]
	if len(d) > 19 || (d[0] == '0' && len(d) > 1) {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(d); i++ {
		c := d[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// Add keeps e (a later event with the same id replaces it).
func (t *EventTable) Add(e EventRef) {
	var loc uint16
	inRows := true
	if !e.Time.IsZero() {
		loc, inRows = t.location(e.Time)
	}
	n, own := t.seq(e.ID)
	if own && inRows && t.placeRow(n) {
		i := n - t.first
		r := &t.rows[i]
		if !r.set {
			t.n++
		}
		if t.other != nil {
			if _, dup := t.other[e.ID]; dup {
				delete(t.other, e.ID)
				t.n--
			}
		}
		*r = eventRow{set: true, action: t.intern(e.Action), outcome: t.intern(e.Outcome),
			user: t.intern(e.User), ip: t.intern(e.SourceIP)}
		if !e.Time.IsZero() {
			r.sec, r.nsec, r.loc = e.Time.Unix(), int32(e.Time.Nanosecond()), loc
		}
		return
	}
	if own && n >= t.first && n-t.first < uint64(len(t.rows)) && t.rows[n-t.first].set {
		// (kept in the map from now on: its row is left empty)
		t.rows[n-t.first] = eventRow{}
		t.n--
	}
	if t.other == nil {
		t.other = map[string]EventRef{}
	}
	if _, dup := t.other[e.ID]; !dup {
		t.n++
	}
	t.other[e.ID] = e
}

// placeRow makes room for the row of sequence number n, reporting false
// when n belongs in the map (before the first row, or too far past the
// last).
func (t *EventTable) placeRow(n uint64) bool {
	if len(t.rows) == 0 {
		t.first = n
		t.rows = append(t.rows, eventRow{})
		return true
	}
	if n < t.first {
		return false
	}
	i := n - t.first
	if i < uint64(len(t.rows)) {
		return true
	}
	if i-uint64(len(t.rows)) > maxRowGap {
		return false
	}
	for uint64(len(t.rows)) <= i {
		t.rows = append(t.rows, eventRow{})
	}
	return true
}

func (t *EventTable) intern(s string) uint32 {
	if i, ok := t.strIx[s]; ok {
		return i
	}
	if t.strIx == nil {
		t.strIx = map[string]uint32{}
	}
	i := uint32(len(t.strs))
	t.strs = append(t.strs, s)
	t.strIx[s] = i
	return i
}

// location returns the index+1 of at's location in locs, false when the
// list is full. Unnamed fixed offsets (what time.Parse makes of an offset
// that is not a whole hour, a new one for each time it parses) are one
// location per offset.
func (t *EventTable) location(at time.Time) (uint16, bool) {
	l := at.Location()
	if i, ok := t.locIx[l]; ok {
		return i, true
	}
	_, off := at.Zone()
	unnamed := l.String() == ""
	if unnamed {
		if i, ok := t.offIx[off]; ok {
			return i, true
		}
	}
	if len(t.locs) >= maxLocations {
		return 0, false
	}
	if t.locIx == nil {
		t.locIx, t.offIx = map[*time.Location]uint16{}, map[int]uint16{}
	}
	if unnamed {
		l = time.FixedZone("", off)
	}
	t.locs = append(t.locs, l)
	i := uint16(len(t.locs))
	if unnamed {
		t.offIx[off] = i
	} else {
		t.locIx[l] = i
	}
	return i, true
}

// Get returns what the table keeps of event id.
func (t *EventTable) Get(id string) (EventRef, bool) {
	if t == nil {
		return EventRef{}, false
	}
	if n, ok := t.seq(id); ok && n >= t.first && n-t.first < uint64(len(t.rows)) {
		if r := t.rows[n-t.first]; r.set {
			e := EventRef{ID: id, Action: t.strs[r.action], Outcome: t.strs[r.outcome], User: t.strs[r.user], SourceIP: t.strs[r.ip]}
			if r.loc > 0 {
				e.Time = time.Unix(r.sec, int64(r.nsec)).In(t.locs[r.loc-1])
			}
			return e, true
		}
	}
	e, ok := t.other[id]
	return e, ok
}

// Source returns the source address of event id, false when the table
// does not keep the event or the event has none.
func (t *EventTable) Source(id string) (string, bool) {
	if t == nil {
		return "", false
	}
	if n, ok := t.seq(id); ok && n >= t.first && n-t.first < uint64(len(t.rows)) {
		if r := t.rows[n-t.first]; r.set {
			ip := t.strs[r.ip]
			return ip, ip != ""
		}
	}
	e, ok := t.other[id]
	return e.SourceIP, ok && e.SourceIP != ""
}

// Len is the number of events kept.
func (t *EventTable) Len() int {
	if t == nil {
		return 0
	}
	return t.n
}
