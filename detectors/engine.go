package detectors

import (
	"fmt"
	"log/slog"
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/maildrill/maildrill/detectors/correlation"
	"github.com/maildrill/maildrill/detectors/sigma"
	"github.com/maildrill/maildrill/detectors/yamlsafe"
)

// Conds are event-field equalities (case-insensitive) a logsource maps to.
type Conds map[string]string

// LogsourceMap maps each Sigma logsource attribute value to conditions on the
// event. A rule's logsource selects the events satisfying the conditions of
// every attribute it names (product, category, service).
type LogsourceMap struct {
	Product  map[string]Conds
	Category map[string]Conds
	Service  map[string]Conds
	// MatchUnmapped makes attribute values absent from the map match every
	// event. By default a rule naming an unmapped product/category/service is
	// loaded but never runs (see Engine.Inactive).
	MatchUnmapped bool
}

// MaildrillLogsources maps logsource {product: maildrill, service: imap|smtp}
// to maildrill's audit events (service.type = imap|smtp).
func MaildrillLogsources() LogsourceMap {
	return LogsourceMap{
		Product: map[string]Conds{"maildrill": {}},
		Service: map[string]Conds{
			"imap": {"service.type": "imap"},
			"smtp": {"service.type": "smtp"},
		},
	}
}

// Config configures an Engine. The zero value is usable with the maildrill
// audit schema.
type Config struct {
	// TimestampField is the event field with the event time (default @timestamp).
	TimestampField string
	// IndexField is the field rules are indexed by (default event.action).
	IndexField string
	// FieldMap maps rule field names to event field names (a processing
	// pipeline), so that one rule runs on different event sources.
	FieldMap map[string]string
	// Logsources maps rule logsources to events; nil means MaildrillLogsources().
	Logsources *LogsourceMap
	// Placeholders give the values of %name% placeholders used with |expand.
	Placeholders map[string][]string
	// Location is the time zone in which time modifiers (|hour ...) read
	// event times. Nil (the default) reads the value as written, with each
	// event's own offset and no time-zone conversion, as the Sigma
	// specification says. A pack chooses a zone in its pack.yml (PackFile);
	// PackConfig uses the built-in pack's (Europe/Paris).
	Location *time.Location
	// Lateness is how far behind the newest event an event may arrive and
	// still be correlated in order. Correlation matches are delayed by up to
	// Lateness (in event time); Flush releases the rest.
	Lateness time.Duration
	// MaxGroups bounds the groups kept per correlation (default 100000); the
	// least recently updated group is evicted beyond it.
	MaxGroups int
	// MaxAlertEvents bounds the contributing event ids of an alert (default 1000).
	MaxAlertEvents int
	// Suppress is the default suppression window per rule and group key, in
	// event time (0: off). SuppressRules overrides it by rule id or name.
	Suppress      time.Duration
	SuppressRules map[string]time.Duration
	// SuppressKey are the event fields that key the suppression of detection
	// (non-correlation) rules; empty: one key per rule.
	SuppressKey []string
	// NoPrefilter turns the rule-set prefilter off: every candidate rule is
	// evaluated on every event. Results are the same either way (the
	// prefilter only skips rules that cannot match); it is there to measure
	// the prefilter and to check it.
	NoPrefilter bool
	// Lenient skips rules that fail to compile instead of failing NewEngine;
	// they are listed by Engine.Refused.
	Lenient bool
	// Logger receives debug logs; nil is quiet.
	Logger *slog.Logger
	// YAML bounds the rule files that lint reads (file size, nesting depth,
	// aliases); zero fields are yamlsafe's defaults. Loader does the same
	// for LoadFS and LoadPath.
	YAML yamlsafe.Limits
}

// Stats are the engine's counters.
type Stats struct {
	Events            uint64 // events processed
	Matches           uint64 // detection rule matches
	Alerts            uint64 // alerts emitted
	Suppressed        uint64 // alerts suppressed
	Late              uint64 // events later than Lateness, not correlated
	MissingGroupField uint64 // matches not correlated: a group-by field was missing
	Evicted           uint64 // correlation groups evicted (MaxGroups reached)
	Expired           uint64 // correlation groups whose window ended
	Groups            int    // correlation groups held
}

type fieldEq struct {
	field, value string
	id           sigma.FieldID // of field
}

type parentRef struct {
	c         *ruleNode
	positions []int
	groupBy   []string // event field names for this child's inputs
	groupIDs  []sigma.FieldID
	valField  []string
	valIDs    []sigma.FieldID
}

type ruleNode struct {
	rule     *sigma.Rule
	m        *sigma.Matcher
	ls       []fieldEq
	lsIdx    []int  // indices in Engine.conds of ls
	lsMask   uint64 // of those below 64, as bits
	lsRest   []int  // the others
	corr     *correlation.State
	cdef     *sigma.Correlation
	groupBy  []string // declared names
	mapped   []string // mapped names (derived-event lookups)
	alerting bool
	parents  []parentRef
	depth    int
	suppress time.Duration
	last     map[string]int64
	tags     []string
	attack   []string  // the attack.* tags (shared by the rule's alerts, as tags)
	derived  []RuleRef // rules this one is derived from (related: derived)
	id       string
	kids     []*ruleNode
	twins    []*ruleNode // rules with the same logsource and detection: evaluated once, here
	pidx     int         // index in Engine.detect (the prefilter's rule number)
}

// bucket: the rules an index value selects. key is the value as the
// rules' equality items hold it (interned: comparing it with theirs is a
// pointer comparison).
type bucket struct {
	key   string
	rules []*ruleNode
	// by rule: the rule as its items (sigma.Matcher.ItemsFor(key)), when
	// flat[i] is set
	items []sigma.Items
	flat  []bool
	// rules, with what the candidate loop reads of each, in one array
	ents []bucketRule
	miss bool // no bucket: an index value known to select none (ixTable)
}

// bucketRule is a rule of a bucket as Process reads it.
type bucketRule struct {
	rn     *ruleNode
	items  *sigma.Items // the rule as its items, when flat; nil: rn.m
	lsMask uint64       // rn.lsMask
	rest   bool         // rn.lsRest != nil
	// fields the rule cannot match without (Items.Needs), the numbers
	// below 64 as bits: a decoded event lacking one is passed over (JSONEvent.lacks)
	needs uint64
}

type pending struct {
	evn   uint64 // the number of the event (Stats.Events when it came); 0: a derived event
	first int64
	rn    *ruleNode
	ev    Event
	ids   []string
	t     int64
	seq   uint64
}

// Engine evaluates Sigma detection and correlation rules over a stream of
// events in event time. It is safe for concurrent use (calls are serialised).
type Engine struct {
	mu        sync.Mutex
	cfg       Config
	ls        LogsourceMap
	nodes     []*ruleNode
	detect    []*ruleNode
	corrs     []*ruleNode // children before parents
	index     map[string]*bucket
	ixt       ixTable   // index, for Process
	conds     []fieldEq // distinct logsource conditions
	unindexed []*ruleNode
	pf        *sigma.Prefilter // nil: off
	pfMin     int              // candidate lists longer than this go through pf
	kept      []*ruleNode      // scratch: the rules pf keeps
	inactive  []*sigma.Rule
	refused   []error
	heap      []pending
	seq       uint64
	maxT      int64
	advanced  int64
	due       int64 // no correlation has work for Advance at or before this time
	started   bool
	out       []Alert
	keyBuf    []byte
	keyGen    uint64 // counts the keys built in keyBuf
	// the last key built in keyBuf: of event number keyEvn (0: none), on
	// the fields keyFields; valid while keyGen is keyAt
	keyEvn    uint64
	keyFields []string
	keyAt     uint64
	keyOK     bool
	keyHash   uint64 // correlation.HashKey(keyBuf), when keyOK
	stats     Stats
	ndetect   int // detection rules, twins included
	ixID      sigma.FieldID
}

// field finds a field of ev, by the number of its name when ev is a
// FieldFinder (ff).
func field(ev Event, ff sigma.FieldFinder, name string, id sigma.FieldID) (any, bool) {
	if ff != nil {
		return ff.FieldByID(id, name)
	}
	return ev.Field(name)
}

// finder returns ev as a sigma.FieldFinder, nil when it is none; the
// decoder's events are asserted to their type first (cheaper than an
// assertion between interfaces).
func finder(ev Event) sigma.FieldFinder {
	if je, ok := ev.(*JSONEvent); ok {
		return je
	}
	ff, _ := ev.(sigma.FieldFinder)
	return ff
}

// Rules returns the number of detection and correlation rules that run:
// the rules of Inactive and those refused are not counted.
func (e *Engine) Rules() (detection, correlations int) { return e.ndetect, len(e.corrs) }

// Stats returns the counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.stats
	for _, c := range e.corrs {
		cs := c.corr.Stats()
		st.Groups += cs.Groups
		st.Evicted += cs.Evicted
		st.Expired += cs.Expired
	}
	return st
}

// Process evaluates one event and returns the alerts it completes (nil when
// none). Events should come roughly in time order; up to Config.Lateness of
// disorder is corrected for correlations.
func (e *Engine) Process(ev Event) []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.out = e.out[:0]
	e.stats.Events++
	t := ev.Time().UnixNano()
	if !e.started || t > e.maxT {
		e.maxT = t
		e.started = true
	}
	watermark := e.maxT - int64(e.cfg.Lateness)
	cands := e.unindexed
	var bk *bucket // the bucket used, if one
	ix := ""       // the event's index value, lower-cased, when its bucket is used
	var ff sigma.FieldFinder
	var mev sigma.Event // what the rules read
	var v any
	var ok bool
	var lacks uint64 // JSONEvent.lacks
	// field(), inlined by hand: it is called for every event; the decoder's
	// events asserted to their type first (cheaper than between interfaces)
	if je, isJSON := ev.(*JSONEvent); isJSON {
		ff, mev = je, je
		v, ok = je.FieldByID(e.ixID, e.cfg.IndexField)
		lacks = je.lacks()
	} else {
		ff, _ = ev.(sigma.FieldFinder)
		mev = ev
		if ff != nil {
			v, ok = ff.FieldByID(e.ixID, e.cfg.IndexField)
		} else {
			v, ok = ev.Field(e.cfg.IndexField)
		}
	}
	if ok {
		if s, ok := v.(string); ok {
			// actions are lower case: try as is before lower-casing
			if b := e.ixt.get(s); b != nil {
				if !b.miss {
					cands, ix, bk = b.rules, b.key, b
				}
			} else if l := lowerIfNeeded(s); l == s {
				e.ixt.addMiss(s)
			} else if b := e.ixt.get(l); b != nil && !b.miss {
				cands, ix, bk = b.rules, b.key, b
			} else {
				e.ixt.addMiss(s)
			}
		} else {
			cands = e.detect
		}
	}
	// the prefilter pays off on long candidate lists: on short ones every
	// rule is evaluated (the result is the same)
	var maybe []uint64
	mff := ff // and how, when the event numbers its fields
	if e.pf != nil && len(cands) > e.pfMin {
		maybe = e.pf.Candidates(ev)
		// the fields the prefilter read, not read again
		mev = e.pf.Event()
		mff = mev.(sigma.FieldFinder)
	}
	if maybe != nil && len(cands) == len(e.detect) {
		// every rule is a candidate (in rule order): visit the kept ones
		cands = e.kept[:0]
		for w, bits := range maybe {
			for ; bits != 0; bits &= bits - 1 {
				cands = append(cands, e.detect[w*64+tz(bits)])
			}
		}
		e.kept = cands
		maybe = nil
	}
	// logsource conditions are shared by many rules: decide each once per
	// event (the first 64; known: decided, holds: true)
	var known, holds uint64
	if bk != nil && maybe == nil {
		// the bucket's rules, the common case: the loop below, reading
		// one array
		for k := range bk.ents {
			c := &bk.ents[k]
			if c.needs&lacks != 0 {
				continue // a field it needs is missing
			}
			if todo := c.lsMask &^ known; todo != 0 {
				for ; todo != 0; todo &= todo - 1 {
					ci := tz(todo)
					if e.condMatch(&e.conds[ci], ev, ff) {
						holds |= 1 << ci
					}
				}
				known |= c.lsMask
			}
			if c.lsMask&^holds != 0 || (c.rest && !e.restHolds(c.rn, ev, ff)) {
				continue
			}
			if c.items != nil {
				if !c.items.MatchWith(mev, mff, ix) {
					continue
				}
			} else if !c.rn.m.MatchWith(mev, mff, ix) {
				continue
			}
			e.matched(c.rn, ev, t, watermark)
			for _, tw := range c.rn.twins {
				e.matched(tw, ev, t, watermark)
			}
		}
		cands = nil
	}
	var flat []bool // of bk, when cands are its rules
	if bk != nil && len(bk.flat) == len(cands) {
		flat = bk.flat
	}
	for i, rn := range cands {
		if maybe != nil && maybe[rn.pidx/64]&(1<<(rn.pidx%64)) == 0 {
			continue
		}
		if todo := rn.lsMask &^ known; todo != 0 {
			for ; todo != 0; todo &= todo - 1 {
				ci := tz(todo)
				if e.condMatch(&e.conds[ci], ev, ff) {
					holds |= 1 << ci
				}
			}
			known |= rn.lsMask
		}
		if rn.lsMask&^holds != 0 || (rn.lsRest != nil && !e.restHolds(rn, ev, ff)) {
			continue
		}
		if flat != nil && flat[i] {
			if !bk.items[i].MatchWith(mev, mff, ix) {
				continue
			}
		} else if !rn.m.MatchWith(mev, mff, ix) {
			continue
		}
		e.matched(rn, ev, t, watermark)
		for _, tw := range rn.twins {
			e.matched(tw, ev, t, watermark)
		}
	}
	for len(e.heap) > 0 && e.heap[0].t <= watermark {
		e.feed(e.pop())
	}
	// judge ended windows and drop stale groups at most once per second of
	// event time (alert timestamps are unaffected; Flush judges the rest)
	if watermark >= e.advanced+int64(time.Second) {
		e.advanced = watermark
		if watermark > e.due { // else Advance would find nothing to do
			for _, c := range e.corrs {
				if watermark <= c.corr.Due() {
					continue // nothing due in this one
				}
				for _, m := range c.corr.Advance(time.Unix(0, watermark)) {
					e.fired(c, m)
				}
			}
			e.due = math.MaxInt64
			for _, c := range e.corrs {
				e.due = min(e.due, c.corr.Due())
			}
		}
	}
	return e.result()
}

// result copies the alerts gathered in e.out (a buffer reused from call to
// call) into a slice of their own, in one allocation.
func (e *Engine) result() []Alert {
	if len(e.out) == 0 {
		return nil
	}
	out := make([]Alert, len(e.out))
	copy(out, e.out)
	clear(e.out) // keep no references
	e.out = e.out[:0]
	return out
}

// matched handles a detection rule's match: its alert, and its input to the
// correlations over it.
func (e *Engine) matched(rn *ruleNode, ev Event, t, watermark int64) {
	e.stats.Matches++
	if rn.alerting {
		e.emit(rn, ev.Time(), ev.Time(), ev.Time(), e.detectionKey(ev), nil, []string{ev.ID()}, 0, "detection")
	}
	if len(rn.parents) == 0 {
		return
	}
	if t < watermark {
		e.stats.Late++
		return
	}
	e.seq++
	p := pending{rn: rn, ev: ev, t: t, seq: e.seq, evn: e.stats.Events}
	if e.cfg.Lateness == 0 && len(e.heap) == 0 {
		e.feed(p)
		return
	}
	e.push(p)
}

// Flush releases buffered events and judges every open window: call it at the
// end of a stream. It returns the alerts produced.
func (e *Engine) Flush() []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.out = e.out[:0]
	for len(e.heap) > 0 {
		e.feed(e.pop())
	}
	for _, c := range e.corrs {
		for _, m := range c.corr.Flush() {
			e.fired(c, m)
		}
	}
	return e.result()
}

// restHolds decides the logsource conditions of rn numbered 64 and above.
func (e *Engine) restHolds(rn *ruleNode, ev Event, ff sigma.FieldFinder) bool {
	for _, ci := range rn.lsRest {
		if !e.condMatch(&e.conds[ci], ev, ff) {
			return false
		}
	}
	return true
}

func (e *Engine) condMatch(c *fieldEq, ev Event, ff sigma.FieldFinder) bool {
	var v any
	var ok bool
	if ff != nil {
		v, ok = ff.FieldByID(c.id, c.field)
	} else {
		v, ok = ev.Field(c.field)
	}
	if !ok {
		return false
	}
	s, ok := v.(string)
	if !ok {
		s, ok = sigma.ToString(v)
	}
	return ok && (s == c.value || strings.EqualFold(s, c.value))
}

func (e *Engine) detectionKey(ev Event) string {
	if len(e.cfg.SuppressKey) == 0 {
		return ""
	}
	var b strings.Builder
	for i, f := range e.cfg.SuppressKey {
		if i > 0 {
			b.WriteByte(0x1f)
		}
		if v, ok := ev.Field(f); ok {
			s, _ := sigma.ToString(v)
			b.WriteString(s)
		}
	}
	return b.String()
}

// feed gives a match of rn to every correlation over rn.
func (e *Engine) feed(p pending) {
	id := ""
	if p.ids == nil {
		id = p.ev.ID()
	}
	rd := p.ev
	ff := finder(rd)
	tm := time.Unix(0, p.t)
	var first time.Time
	if p.first != 0 {
		first = time.Unix(0, p.first)
	}
	// the correlations grouping by the same fields share the key built for
	// an event (over the rules it matched), as long as no other key was
	// built in e.keyBuf since
	// the input, made once: the parents differ in positions, key and value
	// (field by field: a composite literal is built aside, then copied)
	var in correlation.Input
	in.Time, in.First, in.ID, in.IDs, in.Payload = tm, first, id, p.ids, p.ev
	for i := range p.rn.parents {
		pr := &p.rn.parents[i] // not copied: a parentRef is six slices
		if p.evn == 0 || p.evn != e.keyEvn || e.keyAt != e.keyGen || !sameFields(pr.groupBy, e.keyFields) {
			_, e.keyOK = e.groupKey(rd, ff, pr.groupBy, pr.groupIDs)
			e.keyEvn, e.keyFields, e.keyAt = p.evn, pr.groupBy, e.keyGen
			if e.keyOK { // hashed once for every correlation it is fed to
				e.keyHash = correlation.HashKey(e.keyBuf)
			}
		}
		key, keyOK := e.keyBuf, e.keyOK
		if !keyOK {
			e.stats.MissingGroupField++
			continue
		}
		in.Positions, in.Str, in.Num = pr.positions, "", 0
		if len(pr.valField) > 0 {
			switch pr.c.cdef.Type {
			case "value_sum", "value_avg":
				v, ok := field(rd, ff, pr.valField[0], pr.valIDs[0])
				f, isNum := sigma.ToFloat(v)
				if !ok || !isNum {
					continue
				}
				in.Num = f
			default:
				s, ok := e.valueKey(rd, ff, pr.valField, pr.valIDs)
				if !ok {
					continue
				}
				in.Str = s
			}
		}
		in.KeyBytes = key // the state copies it only for a new group
		in.KeyHash, in.Hashed = e.keyHash, true
		for _, m := range pr.c.corr.AddInput(&in) {
			e.fired(pr.c, m)
		}
		e.due = min(e.due, pr.c.corr.Due())
	}
}

// sameFields is slices.Equal, first by identity: the parents' lists of
// group-by fields are often one slice.
func sameFields(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 || &a[0] == &b[0] {
		return true
	}
	return slices.Equal(a, b)
}

func (e *Engine) groupKey(ev Event, ff sigma.FieldFinder, fields []string, ids []sigma.FieldID) ([]byte, bool) {
	e.keyGen++
	b := e.keyBuf[:0]
	je, _ := ff.(*JSONEvent) // called directly, not through the interface
	for i, f := range fields {
		var v any
		var ok bool
		if je != nil {
			v, ok = je.FieldByID(ids[i], f)
		} else if ff != nil {
			v, ok = ff.FieldByID(ids[i], f)
		} else {
			v, ok = ev.Field(f)
		}
		if !ok || v == nil {
			return nil, false
		}
		if i > 0 {
			b = append(b, 0x1f)
		}
		if s, ok := v.(string); ok {
			b = append(b, s...)
		} else if s, ok := sigma.ToString(v); ok {
			b = append(b, s...)
		} else {
			b = append(b, fmt.Sprint(v)...)
		}
	}
	e.keyBuf = b
	return b, true
}

func (e *Engine) valueKey(ev Event, ff sigma.FieldFinder, fields []string, ids []sigma.FieldID) (string, bool) {
	var parts []string
	for i, f := range fields {
		v, ok := field(ev, ff, f, ids[i])
		if !ok || v == nil {
			return "", false
		}
		s, ok := sigma.ToString(v)
		if !ok {
			s = fmt.Sprint(v)
		}
		if len(fields) == 1 {
			return s, true
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "\x1f"), true
}

func (e *Engine) fired(c *ruleNode, m correlation.Match) {
	vals := strings.Split(m.Key, "\x1f")
	if len(c.groupBy) == 0 {
		vals = nil
	}
	var base Event
	if ev, ok := m.Payload.(Event); ok {
		base = ev
	}
	if c.alerting {
		group := map[string]string{}
		for i, g := range c.groupBy {
			if i < len(vals) {
				group[g] = vals[i]
			}
		}
		e.emit(c, m.Time, m.First, m.Last, m.Key, group, m.IDs, m.Value, c.cdef.Type)
	}
	if len(c.parents) == 0 {
		return
	}
	d := &derivedEvent{base: base, t: m.Time}
	if len(vals) > 0 {
		d.names = append(append([]string{}, c.mapped...), c.groupBy...)
		d.vals = vals
	}
	// a correlation's output is produced in time order: feed parents directly
	e.feed(pending{rn: c, ev: d, ids: m.IDs, t: m.Time.UnixNano(), first: m.First.UnixNano()})
}

func (e *Engine) emit(rn *ruleNode, at, first, last time.Time, key string, group map[string]string, ids []string, value float64, typ string) {
	if rn.suppress > 0 {
		if rn.last == nil {
			rn.last = map[string]int64{}
		}
		t := at.UnixNano()
		if prev, ok := rn.last[key]; ok {
			d := t - prev
			if d < 0 {
				d = -d
			}
			if d < int64(rn.suppress) {
				e.stats.Suppressed++
				return
			}
		}
		rn.last[key] = t
	}
	r := rn.rule
	if group == nil {
		group = map[string]string{}
	}
	a := Alert{
		RuleID: rn.id, RuleName: r.Name, Title: r.Title, Level: r.Level, Type: typ,
		Tags: rn.tags, Time: at, First: first, Last: last, Group: group, EventIDs: ids, Value: value,
		File: r.File, DerivedFrom: rn.derived, Attack: rn.attack,
	}
	e.stats.Alerts++
	e.out = append(e.out, a)
	if l := e.cfg.Logger; l != nil {
		l.Debug("alert", "rule", a.RuleID, "time", a.Time, "group", a.Group)
	}
}

// prefilterMin is the number of candidate rules above which an event goes
// through the prefilter first.
const prefilterMin = 8

func tz(w uint64) int { return bits.TrailingZeros64(w) }
