package corpus

import (
	"math"
	"sort"
	"strconv"
	"time"
)

// workCalendar maps positions in working time (weekdays 07:45–19:30, Paris)
// to instants, so that mail is dated in office hours and UIDs stay in date
// order.
type workCalendar struct {
	day0 int64   // Paris day of cum[0]
	cum  []int64 // working seconds before each day
}

const (
	workStart = 7*3600 + 45*60
	workEnd   = 19*3600 + 30*60
)

func newWorkCalendar(from, to time.Time) workCalendar {
	d0, d1 := localDay(from)-1, localDay(to)+2
	c := workCalendar{day0: d0, cum: make([]int64, d1-d0+1)}
	for d := d0; d < d1; d++ {
		w := int64(0)
		if wd := weekdayOf(d); wd != time.Saturday && wd != time.Sunday {
			w = workEnd - workStart
		}
		c.cum[d-d0+1] = c.cum[d-d0] + w
	}
	return c
}

// at returns the working seconds elapsed before t.
func (c workCalendar) at(t time.Time) int64 {
	d := localDay(t) - c.day0
	if d < 0 {
		return 0
	}
	if d >= int64(len(c.cum)-1) {
		return c.cum[len(c.cum)-1]
	}
	s := t.Unix() + parisOffset(t) - (c.day0+d)*86400
	in := c.cum[d+1] - c.cum[d]
	s -= workStart
	if s < 0 {
		s = 0
	}
	if s > in {
		s = in
	}
	return c.cum[d] + s
}

// instant is the inverse of at.
func (c workCalendar) instant(w int64) time.Time {
	i := sort.Search(len(c.cum), func(i int) bool { return c.cum[i] > w }) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(c.cum)-1 {
		i = len(c.cum) - 2
	}
	return dayInstant(c.day0+int64(i), 0).Add(time.Duration(workStart+w-c.cum[i]) * time.Second)
}

// folder kinds decide who writes the messages.
const (
	kindReceived = iota
	kindSent
	kindDrafts
	kindTrash
	kindEmpty // a parent folder, no messages
)

type folderSpec struct {
	Folder
	kind     int
	from, to time.Time
}

// folderSpecs lays out the folders of user i: names, counts and the period
// each one covers, all from (seed, address).
func (o *Org) folderSpecs(i int) []folderSpec {
	slot := &o.folderCache[i%len(o.folderCache)]
	if c := slot.Load(); c != nil && c.user == i {
		return c.specs
	}
	specs := o.makeFolderSpecs(i)
	slot.Store(&folderCacheEntry{i, specs})
	return specs
}

// folderCacheEntry is a slot of Org.folderCache, a small direct-mapped
// cache of folder layouts (computing one takes a few µs, and SELECT asks
// for every message's flags).
type folderCacheEntry struct {
	user  int
	specs []folderSpec // shared: never modified
}

func (o *Org) makeFolderSpecs(i int) []folderSpec {
	u := &o.users[i]
	k := o.key.str("folders").str(u.Address)
	r := k.rng()
	end, start := o.cfg.End, o.start
	m := float64(o.cfg.MessagesPerUser) * (0.75 + 0.5*r.float())
	switch u.Role {
	case "director":
		m *= 1.3
	case "secretariat":
		m *= 1.15
	}
	count := func(x float64) uint32 {
		if x < 0 {
			return 0
		}
		return uint32(math.Round(x))
	}
	spec := func(name, use string, kind int, n uint32, from, to time.Time) folderSpec {
		ur := o.key.str("uidvalidity").str(u.Address).str(name).rng()
		uv := uint32(1_600_000_000 + ur.intn(150_000_000))
		return folderSpec{Folder{Name: name, SpecialUse: use, Count: n, UIDValidity: uv}, kind, from, to}
	}
	year := 365 * 24 * time.Hour
	var out []folderSpec
	if u.Kind == "shared" {
		cut := end.Add(-90 * 24 * time.Hour)
		recv := m * 0.9
		out = append(out,
			spec("INBOX", "", kindReceived, count(recv*0.25), cut, end),
			spec("Sent", `\Sent`, kindSent, count(m*0.1), start, end),
			spec("Dossiers", "", kindReceived, count(recv*0.75), start, cut))
		return out
	}
	keep := time.Duration(45+r.intn(240)) * 24 * time.Hour // how far back INBOX goes
	cut := end.Add(-keep)
	recv := m * 0.73
	inboxShare := float64(keep) / float64(year)
	out = append(out,
		spec("INBOX", "", kindReceived, count(recv*inboxShare), cut, end),
		spec("Sent", `\Sent`, kindSent, count(m*0.22), start, end),
		spec("Drafts", `\Drafts`, kindDrafts, count(m*0.01+r.float()), end.Add(-60*24*time.Hour), end),
		spec("Trash", `\Trash`, kindTrash, count(m*0.04), end.Add(-45*24*time.Hour), end),
		spec("Archive", `\Archive`, kindEmpty, 0, start, start))
	// Older received mail goes to Archive/<year>, in proportion to the days
	// of each Paris calendar year before the cut.
	for y := paris(start).Year(); y <= paris(cut).Year(); y++ {
		from := time.Date(y, 1, 1, 0, 0, 0, 0, zoneCET)
		to := time.Date(y+1, 1, 1, 0, 0, 0, 0, zoneCET)
		if from.Before(start) {
			from = start
		}
		if to.After(cut) {
			to = cut
		}
		if !to.After(from) {
			continue
		}
		n := count(recv * float64(to.Sub(from)) / float64(year))
		if n == 0 {
			continue
		}
		out = append(out, spec("Archive/"+strconv.Itoa(y), "", kindReceived, n, from, to))
	}
	return out
}

// Folders returns the folders of address's mailbox, nil for an unknown
// address. Parent folders (such as "Archive") are listed with Count 0.
func (o *Org) Folders(address string) []Folder {
	i, ok := o.lookup(address)
	if !ok {
		return nil
	}
	specs := o.folderSpecs(i)
	out := make([]Folder, len(specs))
	for j, s := range specs {
		out[j] = s.Folder
	}
	return out
}

func (o *Org) folderSpec(i int, name string) (folderSpec, bool) {
	for _, s := range o.folderSpecs(i) {
		if s.Name == name || (name != "" && equalFoldINBOX(s.Name, name)) {
			return s, true
		}
	}
	return folderSpec{}, false
}

// equalFoldINBOX reports whether a and b both name INBOX, which IMAP treats
// case-insensitively.
func equalFoldINBOX(a, b string) bool {
	return len(a) == 5 && len(b) == 5 && upper(a) == "INBOX" && upper(b) == "INBOX"
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// messageTime places message uid of n in the folder's period: slot uid of n
// in working time, jittered inside its slot so dates increase with UIDs.
func (o *Org) messageTime(s folderSpec, uid uint32, jitter float64) time.Time {
	w0, w1 := o.work.at(s.from), o.work.at(s.to)
	p := (float64(uid-1) + 0.1 + 0.8*jitter) / float64(s.Count)
	w := w0 + int64(p*float64(w1-w0))
	t := o.work.instant(w)
	if t.After(o.cfg.End) {
		t = o.cfg.End
	}
	return t
}
