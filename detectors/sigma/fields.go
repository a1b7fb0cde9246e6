package sigma

import (
	"sync"
	"sync/atomic"
)

// FieldID numbers an event field name within the process, so that an event
// decoded with the numbers of its field names (see FieldFinder) is searched
// by comparing small integers instead of hashing names. Rules resolve their
// field names to numbers once, when compiled. 0 is no number: the table
// holds at most MaxFieldIDs-1 names, and names met beyond are found by
// name.
type FieldID uint16

// MaxFieldIDs bounds the names numbered in a process (event sources with
// ever new field names do not grow it further).
const MaxFieldIDs = 4096

// FieldFinder is implemented by events that can find a field by its
// number. FieldByID(id, name) must answer as Field(name) does; id is
// FieldIDOf(name) (0 when the name has no number).
type FieldFinder interface {
	FieldByID(id FieldID, name string) (any, bool)
}

type fieldSnap struct {
	ids   map[string]FieldID
	names []string // by number; names[0] = ""
}

var fieldTable struct {
	snap  atomic.Pointer[fieldSnap] // read without locking
	mu    sync.Mutex
	added map[string]FieldID // numbered since snap was made
	names []string
}

// FieldIDOf returns the number of a field name, numbering it if it has
// none (0 once the table is full), and the table's copy of the name (name
// itself when it has no number).
func FieldIDOf(name string) (FieldID, string) {
	if p := fieldTable.snap.Load(); p != nil {
		if id, ok := p.ids[name]; ok {
			return id, p.names[id]
		}
	}
	return fieldIDSlow(name, true)
}

// fieldIDOfBytes is FieldIDOf for a name in a buffer, without allocating
// when the name is numbered.
func fieldIDOfBytes(b []byte) (FieldID, string) {
	if p := fieldTable.snap.Load(); p != nil {
		if id, ok := p.ids[string(b)]; ok {
			return id, p.names[id]
		}
	}
	return fieldIDSlow(string(b), true)
}

// FieldIDOfBytes is FieldIDOf for a name in a buffer (a decoder's): it
// does not allocate when the name is numbered. The name returned is not
// the buffer's.
func FieldIDOfBytes(b []byte) (FieldID, string) { return fieldIDOfBytes(b) }

// LookupFieldID returns the number of a name without numbering it.
func LookupFieldID(name string) FieldID {
	if p := fieldTable.snap.Load(); p != nil {
		if id, ok := p.ids[name]; ok {
			return id
		}
	}
	id, _ := fieldIDSlow(name, false)
	return id
}

func fieldIDSlow(name string, add bool) (FieldID, string) {
	t := &fieldTable
	t.mu.Lock()
	defer t.mu.Unlock()
	snap := t.snap.Load()
	if snap == nil {
		snap = &fieldSnap{ids: map[string]FieldID{}, names: []string{""}}
		t.names = snap.names
		t.snap.Store(snap)
	}
	if id, ok := snap.ids[name]; ok { // numbered meanwhile
		return id, snap.names[id]
	}
	if id, ok := t.added[name]; ok {
		return id, t.names[id]
	}
	if !add || len(t.names) >= MaxFieldIDs {
		return 0, name
	}
	id := FieldID(len(t.names))
	name = string([]byte(name)) // a copy of its own
	t.names = append(t.names, name)
	if t.added == nil {
		t.added = map[string]FieldID{}
	}
	t.added[name] = id
	// a new snapshot once the additions are a quarter of it: numbering n
	// names costs O(n) in all
	if len(t.added) >= len(snap.ids)/4+8 || len(t.names) == MaxFieldIDs {
		m := make(map[string]FieldID, len(snap.ids)+len(t.added))
		for k, v := range snap.ids {
			m[k] = v
		}
		for k, v := range t.added {
			m[k] = v
		}
		t.snap.Store(&fieldSnap{ids: m, names: t.names})
		t.added = nil
	}
	return id, name
}
