package correlation

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/maildrill/maildrill/detectors/sigma"
)

// TestGTable: random puts, gets and deletes against a map, with hashes
// from a narrow range (long probe chains, wrapping around the table) and
// with the real hash.
func TestGTable(t *testing.T) {
	for _, narrow := range []bool{true, false} {
		r := rand.New(rand.NewPCG(7, uint64(len(strconv.FormatBool(narrow)))))
		var tb gtable
		ref := map[string]*group{}
		hash := func(k string) uint64 {
			if narrow {
				// few distinct hashes (by length), all near the end of
				// the table: long probe chains that wrap around
				return uint64(len(k)%5) + 1<<63 - 3
			}
			return maphash64(k)
		}
		hashes := map[string]uint64{}
		for i := 0; i < 20000; i++ {
			k := "k" + strconv.Itoa(r.IntN(300))
			h, ok := hashes[k]
			if !ok {
				h = hash(k)
				hashes[k] = h
			}
			switch r.IntN(3) {
			case 0: // put if absent
				if ref[k] == nil {
					g := &group{key: k, h: h}
					ref[k] = g
					tb.put(g)
				}
			case 1: // delete if present
				if g := ref[k]; g != nil {
					delete(ref, k)
					tb.del(g)
					tb.del(g) // a second time: not held, nothing happens
				}
			}
			if got := tb.get(k, h); got != ref[k] {
				t.Fatalf("step %d: get(%q) = %p, want %p", i, k, got, ref[k])
			}
			if got := tb.getBytes([]byte(k), h); got != ref[k] {
				t.Fatalf("step %d: getBytes(%q) = %p, want %p", i, k, got, ref[k])
			}
			if tb.len() != len(ref) {
				t.Fatalf("step %d: len %d, want %d", i, tb.len(), len(ref))
			}
		}
		for k, g := range ref { // every held group is found
			if tb.get(k, g.h) != g {
				t.Fatalf("%q lost", k)
			}
		}
	}
}

func maphash64(k string) uint64 { return HashKey([]byte(k)) }

// mayHold never rejects a group that judge would fire on (sliding counts
// of both kinds, several conditions, random inputs), and does reject
// some.
func TestMayHoldAgreesWithJudge(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	rejected := 0
	for _, typ := range []string{"event_count", "value_count"} {
		for _, c := range []sigma.CorrCondition{cond("gte", 3), cond("gt", 2), cond("gte", 1), cond("gt", 1, "lt", 4), cond("lte", 2), cond("eq", 2)} {
			s := New(Def{Type: typ, NumRules: 1, Timespan: 10 * time.Second, Cond: c})
			if s.tumbling {
				continue // judged at the window's end, not per input
			}
			now := base
			for i := 0; i < 2000; i++ {
				now = now.Add(time.Duration(r.IntN(4000)) * time.Millisecond)
				key := fmt.Sprint("k", r.IntN(3))
				s.Add(Input{Key: key, Time: now, ID: fmt.Sprint(i), Str: fmt.Sprint("v", r.IntN(4))})
				g := s.groups.get(key, HashKey([]byte(key)))
				if g == nil {
					t.Fatalf("group %q not held", key)
				}
				_, fires := s.judge(g, len(g.entries)-1)
				if !s.mayHold(g) {
					rejected++
					if fires {
						t.Fatalf("%s %v: mayHold rejects a group judge fires on", typ, c)
					}
				}
			}
		}
	}
	if rejected == 0 {
		t.Fatal("mayHold rejected nothing: the test shows nothing")
	}
}
