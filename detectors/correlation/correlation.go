// Package correlation evaluates Sigma correlation rules (event_count, value_count,
// temporal, temporal_ordered, value_sum, value_avg, value_percentile) over sliding
// windows on event time. It knows nothing of rules or events: the caller feeds it
// matches in event-time order, already keyed by group.
//
// Window semantics (documented in detectors/README.md):
//   - A window is inclusive: two inputs exactly `timespan` apart are in one window.
//   - Conditions with only lower bounds (gt, gte) are decided as each input
//     arrives, over the inputs of the last `timespan` (a sliding window). When
//     the condition holds the correlation matches and the group starts afresh.
//   - Conditions with an upper bound (lt, lte, eq, neq, or a range) can only be
//     decided once the window is over: the window opens at a group's first
//     input, closes `timespan` later (when a later input or the watermark
//     passes its end) and is judged then (a tumbling window).
//   - Group state is bounded: beyond MaxGroups the least recently updated group
//     is evicted and counted.
package correlation

import (
	"hash/maphash"
	"math"
	"time"

	"github.com/maildrill/maildrill/detectors/sigma"
)

// Def describes one correlation.
type Def struct {
	Type      string // event_count, value_count, temporal, temporal_ordered, value_sum, value_avg, value_percentile
	NumRules  int    // number of entries of correlation.rules
	Timespan  time.Duration
	Cond      sigma.CorrCondition
	HasCond   bool
	MaxGroups int // 0: unbounded
	MaxIDs    int // contributing ids kept per match; 0: 1000
	// KeepPayload keeps the last input's payload per group (for Match.Payload
	// of tumbling windows); without it Match.Payload is the completing input's
	// only when known.
	KeepPayload bool
}

// Input is one match of a referenced rule, fed in event-time order.
type Input struct {
	Positions []int // indices in correlation.rules this input stands for (temporal types)
	Time      time.Time
	First     time.Time // earliest contributing event (chained inputs); zero: Time
	Key       string    // group key
	KeyBytes  []byte    // group key, when Key is empty (avoids allocating for known groups)
	KeyHash   uint64    // HashKey of the key, when Hashed (a key fed to several correlations is hashed once)
	Hashed    bool
	ID        string   // the contributing event id (single-event inputs)
	IDs       []string // contributing event ids (chained inputs)
	Str       string   // value_count, value_percentile: the value of condition.field
	Num       float64  // value_sum, value_avg: the value of condition.field
	Payload   any      // carried to the Match (e.g. the completing event)
}

// Match is a correlation that fired.
type Match struct {
	Key         string
	Time        time.Time // time of the input that completed the match
	First, Last time.Time // times of the first and last contributing input
	IDs         []string
	Value       float64 // the aggregate judged (count, distinct count, sum, avg, percentage)
	Payload     any     // payload of the completing input
}

// Stats are counters of a correlation's state.
type Stats struct {
	Groups  int    // live groups
	Evicted uint64 // groups dropped because MaxGroups was reached
	Expired uint64 // groups dropped because their window was over
}

// entry is one input in a window: 48 bytes; chained inputs (several ids, an
// earlier first event) keep the rest in ext.
type entry struct {
	t   int64
	id  string
	str string
	num float64
	ext *entryExt
}

type entryExt struct {
	first int64
	ids   []string
}

func (e *entry) first() int64 {
	if e.ext != nil {
		return e.ext.first
	}
	return e.t
}

func (e *entry) moreIDs() []string {
	if e.ext != nil {
		return e.ext.ids
	}
	return nil
}

type slot struct {
	first int64
	valid bool
	start int64 // temporal_ordered: time of the chain's first input; temporal: time of the input
	last  int64
	// the contributing ids: id (when not "") then ids (an input's id is
	// kept aside: a slot of one event needs no slice of its own)
	id  string
	ids []string
}

// allIDs returns the slot's contributing ids in one slice.
func (sl *slot) allIDs() []string {
	if sl.id == "" {
		return sl.ids
	}
	return append([]string{sl.id}, sl.ids...)
}

type group struct {
	key        string
	h          uint64 // HashKey of key
	prev, next *group
	last       int64
	qt         int64 // when the group was (re)queued
	winStart   int64 // tumbling mode: start of the open window
	open       bool
	entries    []entry
	head       int
	headT      int64 // time of entries[head], to skip pruning without touching entries
	distinct   map[string]int32
	sum        float64
	slots      []slot
	payload    any
	gen        uint32 // counts the times the group was dropped (reused since)
}

// State is the state of one correlation rule over all its groups.
type State struct {
	def      Def
	kind     kind // of def.Type
	span     int64
	tumbling bool
	// the counts (event_count, value_count) that satisfy a condition of
	// lower bounds only are those from minCount on (a condition with an
	// upper bound is judged at the end of a window, not by mayHold)
	lowerOnly bool
	minCount  int
	groups    gtable
	// groups in queue order (creation, or requeue at the head when updated
	// since): a CLOCK-style approximation of least-recently-updated that
	// touches the queue only when expiring or evicting, never per input
	lruHead *group
	lruTail *group
	windows []winRef // tumbling mode: windows in opening order
	stats   Stats
	maxIDs  int
	loc     *time.Location // of the inputs: matches report times in it
	// groups dropped, kept for new groups with their buffers (entries,
	// distinct values, slots) emptied: most groups of a mail stream live
	// for a few inputs (a session, a login)
	free []*group
}

// kind is Def.Type as a number, switched on per input.
type kind uint8

const (
	kEventCount kind = iota
	kValueCount
	kValueSum
	kValueAvg
	kValuePercentile
	kTemporal
	kTemporalOrdered
	kOther
)

func kindOf(typ string) kind {
	switch typ {
	case "event_count":
		return kEventCount
	case "value_count":
		return kValueCount
	case "value_sum":
		return kValueSum
	case "value_avg":
		return kValueAvg
	case "value_percentile":
		return kValuePercentile
	case "temporal":
		return kTemporal
	case "temporal_ordered":
		return kTemporalOrdered
	}
	return kOther
}

// maxFree bounds the dropped groups kept for reuse.
const maxFree = 256

type winRef struct {
	g     *group
	start int64
	gen   uint32 // of g when the window opened: g may be reused since
}

// New returns the state of a correlation.
func New(def Def) *State {
	s := &State{def: def, kind: kindOf(def.Type), span: int64(def.Timespan), maxIDs: def.MaxIDs}
	if s.maxIDs <= 0 {
		s.maxIDs = 1000
	}
	switch def.Type {
	case "event_count", "value_count", "value_sum", "value_avg", "value_percentile":
		s.tumbling = !def.Cond.LowerBoundOnly()
	}
	s.lowerOnly, s.minCount = def.Cond.LowerBoundOnly(), leastCount(def.Cond)
	return s
}

// leastCount returns the least count (0, 1, ...) that satisfies c, when c
// has only lower bounds (gt, gte: the counts from it on satisfy it);
// math.MaxInt when none does.
func leastCount(c sigma.CorrCondition) int {
	least := 0.0
	for _, o := range c.Ops {
		var l float64
		switch o.Op {
		case "gte":
			l = math.Ceil(o.Value)
		case "gt":
			l = math.Floor(o.Value) + 1
		}
		if math.IsNaN(l) {
			return math.MaxInt
		}
		least = max(least, l)
	}
	if least >= 1<<53 { // (and +Inf): no count reaches it
		return math.MaxInt
	}
	return int(least)
}

// KeepPayload sets Def.KeepPayload.
func (s *State) KeepPayload(keep bool) { s.def.KeepPayload = keep }

// Stats returns the counters.
func (s *State) Stats() Stats {
	st := s.stats
	st.Groups = s.groups.len()
	return st
}

func (s *State) unlink(g *group) {
	if g.prev != nil {
		g.prev.next = g.next
	} else {
		s.lruHead = g.next
	}
	if g.next != nil {
		g.next.prev = g.prev
	} else {
		s.lruTail = g.prev
	}
	g.prev, g.next = nil, nil
}

func (s *State) pushBack(g *group) {
	g.prev = s.lruTail
	g.next = nil
	if s.lruTail != nil {
		s.lruTail.next = g
	} else {
		s.lruHead = g
	}
	s.lruTail = g
}

func (s *State) remove(g *group) {
	s.unlink(g)
	s.groups.del(g)
	// a tumbling window may still name the group (s.windows): the
	// generation tells such a window from the group's later windows
	if len(s.free) < maxFree {
		s.reset(g)
		*g = group{entries: g.entries, distinct: g.distinct, slots: g.slots, gen: g.gen + 1}
		s.free = append(s.free, g)
	}
}

// newGroup returns an empty group, reused when one was dropped.
func (s *State) newGroup(key string) *group {
	if n := len(s.free); n > 0 {
		g := s.free[n-1]
		s.free[n-1] = nil
		s.free = s.free[:n-1]
		g.key = key
		return g
	}
	g := &group{key: key}
	if s.kind == kTemporal || s.kind == kTemporalOrdered {
		g.slots = make([]slot, s.def.NumRules)
	}
	return g
}

// Add feeds one input. Inputs must come in non-decreasing time order (the
// engine's reorder buffer sees to it). It returns the matches it completes.
func (s *State) Add(in Input) []Match { return s.AddInput(&in) }

// AddInput is Add for an input passed by pointer (neither changed nor
// kept).
func (s *State) AddInput(in *Input) []Match {
	now := in.Time.UnixNano()
	s.loc = in.Time.Location()
	var out []Match
	var g *group
	key := in.Key
	byBytes := key == "" && in.KeyBytes != nil
	h := in.KeyHash
	if !in.Hashed {
		if byBytes {
			h = HashKey(in.KeyBytes)
		} else {
			h = maphash.String(keySeed, key)
		}
	}
	if byBytes {
		g = s.groups.getBytes(in.KeyBytes, h)
	} else {
		g = s.groups.get(key, h)
	}
	if g == nil {
		if byBytes {
			key = string(in.KeyBytes)
		}
		if s.def.MaxGroups > 0 && s.groups.len() >= s.def.MaxGroups {
			// make room: first drop groups whose window is over, then the oldest
			out = append(out, s.expire(now)...)
			if s.groups.len() >= s.def.MaxGroups {
				s.evictOldest()
			}
		}
		g = s.newGroup(key)
		g.h = h
		s.groups.put(g)
		g.qt = now
		s.pushBack(g)
	}
	if now > g.last {
		g.last = now
	}
	switch s.kind {
	case kTemporal:
		out = s.addTemporal(g, in, now, out)
	case kTemporalOrdered:
		out = s.addOrdered(g, in, now, out)
	default:
		if s.tumbling {
			if g.open && now > g.winStart+s.span {
				if m, ok := s.judge(g, -1); ok {
					out = append(out, m)
				}
				s.reset(g)
			}
			if !g.open {
				g.open, g.winStart = true, now
				s.windows = append(s.windows, winRef{g, now, g.gen})
			}
			s.push(g, in, now)
			if s.def.KeepPayload {
				g.payload = in.Payload
			}
		} else {
			s.prune(g, now-s.span)
			s.push(g, in, now)
			g.payload = in.Payload
			ok := false
			if s.mayHold(g) {
				var m Match
				if m, ok = s.judge(g, len(g.entries)-1); ok {
					out = append(out, m)
				}
			}
			if !s.def.KeepPayload {
				g.payload = nil
			}
			if ok {
				s.reset(g)
			}
		}
	}
	return out
}

func (s *State) push(g *group, in *Input, now int64) {
	e := entry{t: now, num: in.Num, str: in.Str, id: in.ID}
	switch {
	case in.ID != "":
	case len(in.IDs) == 1 && in.First.IsZero():
		e.id = in.IDs[0]
	case len(in.IDs) > 0 || !in.First.IsZero():
		e.ext = &entryExt{first: firstOf(in, now), ids: in.IDs}
	}
	if in.ID != "" && !in.First.IsZero() {
		e.ext = &entryExt{first: firstOf(in, now)}
	}

	if g.head == len(g.entries) {
		g.headT = now
	}
	g.entries = append(g.entries, e)
	switch s.kind {
	case kValueCount, kValuePercentile:
		if g.distinct == nil {
			g.distinct = make(map[string]int32, 4)
		}
		g.distinct[in.Str]++
	case kValueSum, kValueAvg:
		g.sum += in.Num
	}
}

// prune drops entries older than cutoff (entries at exactly cutoff stay).
func (s *State) prune(g *group, cutoff int64) {
	if g.head == len(g.entries) || g.headT >= cutoff {
		return
	}
	for g.head < len(g.entries) && g.entries[g.head].t < cutoff {
		e := g.entries[g.head]
		switch s.kind {
		case kValueCount, kValuePercentile:
			if c := g.distinct[e.str] - 1; c <= 0 {
				delete(g.distinct, e.str)
			} else {
				g.distinct[e.str] = c
			}
		case kValueSum, kValueAvg:
			g.sum -= e.num
		}
		g.entries[g.head] = entry{}
		g.head++
	}
	if g.head < len(g.entries) {
		g.headT = g.entries[g.head].t
	}
	if g.head > 0 && g.head*2 >= len(g.entries) {
		n := copy(g.entries, g.entries[g.head:])
		clear(g.entries[n:])
		g.entries = g.entries[:n]
		g.head = 0
	}
}

func (s *State) reset(g *group) {
	clear(g.entries)
	g.entries = g.entries[:0]
	g.head = 0
	if g.distinct != nil {
		clear(g.distinct)
	}
	g.sum = 0
	g.open = false
	for i := range g.slots {
		g.slots[i] = slot{}
	}
}

// mayHold is false when judge would find the condition false, for the
// counts (the value judge computes, without building a match); true
// otherwise.
func (s *State) mayHold(g *group) bool {
	n := len(g.entries) - g.head
	c := n // the count judged
	switch s.kind {
	case kEventCount:
	case kValueCount:
		c = len(g.distinct)
	default:
		return true
	}
	if s.lowerOnly {
		return n > 0 && c >= s.minCount
	}
	return n > 0 && s.def.Cond.Holds(float64(c))
}

// judge evaluates the aggregate over the group's live entries. cur is the index
// of the arriving entry (sliding mode), or -1 when a window closes.
func (s *State) judge(g *group, cur int) (Match, bool) {
	live := g.entries[g.head:]
	n := len(live)
	if n == 0 {
		return Match{}, false
	}
	var v float64
	var keep func(e *entry) bool
	switch s.kind {
	case kEventCount:
		v = float64(n)
	case kValueCount:
		v = float64(len(g.distinct))
	case kValueSum:
		v = g.sum
	case kValueAvg:
		v = g.sum / float64(n)
	case kValuePercentile:
		if cur >= 0 {
			val := g.entries[cur].str
			v = 100 * float64(g.distinct[val]) / float64(n)
			keep = func(e *entry) bool { return e.str == val }
		} else {
			// window closed: the values whose share satisfies the condition
			hit := map[string]bool{}
			best := math.NaN()
			for val, c := range g.distinct {
				p := 100 * float64(c) / float64(n)
				if s.def.Cond.Holds(p) {
					hit[val] = true
					if math.IsNaN(best) || p < best {
						best = p
					}
				}
			}
			if len(hit) == 0 {
				return Match{}, false
			}
			v = best
			keep = func(e *entry) bool { return hit[e.str] }
		}
	}
	if !s.def.Cond.Holds(v) {
		return Match{}, false
	}
	m := Match{Key: g.key, Value: v, Payload: g.payload}
	first := true
	for i := range live {
		e := &live[i]
		if keep != nil && !keep(e) {
			continue
		}
		if f := e.first(); first || f < m.First.UnixNano() {
			m.First = s.tm(f)
			first = false
		}
		m.Last = s.tm(e.t)
		m.IDs = s.appendIDs(m.IDs, e.id, e.moreIDs())
	}
	m.Time = s.tm(live[len(live)-1].t)
	if cur >= 0 {
		m.Time = s.tm(g.entries[cur].t)
	}
	return m, true
}

func (s *State) appendIDs(dst []string, id string, ids []string) []string {
	if id != "" && len(dst) < s.maxIDs {
		dst = append(dst, id)
	}
	for _, x := range ids {
		if len(dst) >= s.maxIDs {
			break
		}
		dst = append(dst, x)
	}
	return dst
}

// addTemporal adds in to g (temporal); a match is appended to out (the
// matches are returned through out: a Match is too large to return for
// every input).
func (s *State) addTemporal(g *group, in *Input, now int64, out []Match) []Match {
	for _, p := range in.Positions {
		if p >= 0 && p < len(g.slots) {
			g.slots[p] = slot{valid: true, start: now, first: firstOf(in, now), last: now, id: in.ID, ids: in.IDs}
		}
	}
	cutoff := now - s.span
	count := 0
	for i := range g.slots {
		if g.slots[i].valid && g.slots[i].start < cutoff {
			g.slots[i] = slot{}
		}
		if g.slots[i].valid {
			count++
		}
	}
	ok := count == len(g.slots)
	if s.def.HasCond && len(s.def.Cond.Ops) > 0 {
		ok = s.def.Cond.Holds(float64(count))
	}
	if !ok {
		return out
	}
	m := Match{Key: g.key, Time: in.Time, Value: float64(count), Payload: in.Payload, Last: in.Time}
	first := now
	for _, sl := range g.slots {
		if sl.valid {
			if sl.first < first {
				first = sl.first
			}
			m.IDs = s.appendIDs(m.IDs, sl.id, sl.ids)
		}
	}
	m.First = s.tm(first)
	s.reset(g)
	return append(out, m)
}

// addOrdered is addTemporal for temporal_ordered.
func (s *State) addOrdered(g *group, in *Input, now int64, out []Match) []Match {
	cutoff := now - s.span
	for i := range g.slots {
		if g.slots[i].valid && g.slots[i].start < cutoff {
			g.slots[i] = slot{}
		}
	}
	// highest position first, so one input never advances two steps
	pos := in.Positions
	for j := len(pos) - 1; j >= 0; j-- {
		k := pos[j]
		if k < 0 || k >= len(g.slots) {
			continue
		}
		if k == 0 {
			g.slots[0] = slot{valid: true, start: now, first: firstOf(in, now), last: now, id: in.ID, ids: in.IDs}
			continue
		}
		prev := &g.slots[k-1]
		if !prev.valid {
			continue
		}
		cand := slot{valid: true, start: prev.start, first: min(prev.first, firstOf(in, now)), last: now}
		n := len(prev.ids) + len(in.IDs) + 1
		if prev.id != "" {
			n++
		}
		cand.ids = make([]string, 0, n)
		cand.ids = s.appendIDs(cand.ids, prev.id, prev.ids)
		cand.ids = s.appendIDs(cand.ids, in.ID, in.IDs)
		if !g.slots[k].valid || cand.start >= g.slots[k].start {
			g.slots[k] = cand
		}
	}
	last := &g.slots[len(g.slots)-1]
	if !last.valid {
		return out
	}
	m := Match{Key: g.key, Time: in.Time, First: s.tm(last.first), Last: in.Time,
		IDs: last.allIDs(), Value: float64(len(g.slots)), Payload: in.Payload}
	s.reset(g)
	return append(out, m)
}

// Due returns the event time (Unix ns) after which Advance has work to
// do: Advance(t) with t at or before it judges no window and drops no
// group. math.MaxInt64 when nothing is held.
func (s *State) Due() int64 {
	d := int64(math.MaxInt64)
	if s.lruHead != nil {
		d = s.lruHead.qt + s.span
	}
	if s.tumbling && len(s.windows) > 0 {
		d = min(d, s.windows[0].start+s.span)
	}
	return d
}

// Advance moves the watermark: windows that ended before now are judged
// (tumbling mode) and groups with nothing left in their window are dropped.
func (s *State) Advance(now time.Time) []Match {
	return s.expire(now.UnixNano())
}

func (s *State) expire(now int64) []Match {
	var out []Match
	if s.tumbling {
		for len(s.windows) > 0 {
			w := s.windows[0]
			if w.start+s.span >= now {
				break
			}
			s.windows[0] = winRef{}
			s.windows = s.windows[1:]
			g := w.g
			if g.gen != w.gen || s.groups.get(g.key, g.h) != g || !g.open || g.winStart != w.start {
				continue
			}
			if m, ok := s.judge(g, -1); ok {
				out = append(out, m)
			}
			s.reset(g)
		}
		if cap(s.windows) > 64 && len(s.windows) < cap(s.windows)/4 {
			s.windows = append([]winRef(nil), s.windows...)
		}
	}
	cutoff := now - s.span
	for s.lruHead != nil && s.lruHead.qt < cutoff {
		g := s.lruHead
		if g.last >= cutoff || g.open {
			// updated since it was queued: requeue with its latest time
			s.unlink(g)
			g.qt = max(g.last, cutoff)
			s.pushBack(g)
			continue
		}
		s.remove(g)
		s.stats.Expired++
	}
	return out
}

// evictOldest drops the least recently updated group (approximately: groups
// updated since they were queued get a second chance).
func (s *State) evictOldest() {
	for n := s.groups.len(); n >= 0 && s.lruHead != nil; n-- {
		g := s.lruHead
		if g.last > g.qt && n > 0 {
			s.unlink(g)
			g.qt = g.last
			s.pushBack(g)
			continue
		}
		s.remove(g)
		s.stats.Evicted++
		return
	}
}

// Flush judges every open window (end of stream) and returns the matches.
func (s *State) Flush() []Match {
	var out []Match
	if s.tumbling {
		for _, w := range s.windows {
			g := w.g
			if g.gen != w.gen || s.groups.get(g.key, g.h) != g || !g.open || g.winStart != w.start {
				continue
			}
			if m, ok := s.judge(g, -1); ok {
				out = append(out, m)
			}
			s.reset(g)
		}
		s.windows = nil
	}
	return out
}

func firstOf(in *Input, now int64) int64 {
	if in.First.IsZero() {
		return now
	}
	return min(in.First.UnixNano(), now)
}

func (s *State) tm(ns int64) time.Time {
	t := time.Unix(0, ns)
	if s.loc != nil {
		t = t.In(s.loc)
	}
	return t
}
