package correlation

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/detectors/sigma"
)

var base = time.Date(2025, 12, 11, 23, 40, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return base.Add(d) }

func cond(ops ...any) sigma.CorrCondition {
	var c sigma.CorrCondition
	for i := 0; i < len(ops); i += 2 {
		c.Ops = append(c.Ops, sigma.CorrOp{Op: ops[i].(string), Value: float64(ops[i+1].(int))})
	}
	return c
}

func TestSlidingEventCount(t *testing.T) {
	s := New(Def{Type: "event_count", NumRules: 1, Timespan: time.Minute, Cond: cond("gt", 2)})
	var got []Match
	for i, d := range []time.Duration{0, 30 * time.Second, 61 * time.Second, 90 * time.Second} {
		got = append(got, s.Add(Input{Key: "k", Time: at(d), ID: fmt.Sprint(i)})...)
	}
	// [0,30,61]: 0 is out of 61's window; [30,61,90] holds 3 > 2
	require.Len(t, got, 1)
	assert.Equal(t, []string{"1", "2", "3"}, got[0].IDs)
	assert.Equal(t, at(30*time.Second), got[0].First)
	assert.Equal(t, at(90*time.Second), got[0].Time)
}

func TestTumblingClosesOnWatermarkAndFlush(t *testing.T) {
	s := New(Def{Type: "event_count", NumRules: 1, Timespan: time.Minute, Cond: cond("lt", 3)})
	assert.Empty(t, s.Add(Input{Key: "a", Time: at(0), ID: "1"}))
	assert.Empty(t, s.Add(Input{Key: "b", Time: at(10 * time.Second), ID: "2"}))
	assert.Empty(t, s.Advance(at(time.Minute)), "the window [0, 1m] is not over at 1m")
	m := s.Advance(at(time.Minute + 1))
	require.Len(t, m, 1)
	assert.Equal(t, "a", m[0].Key)
	m = s.Flush()
	require.Len(t, m, 1)
	assert.Equal(t, "b", m[0].Key)
	assert.Empty(t, s.Flush())
}

func TestCapacityEviction(t *testing.T) {
	s := New(Def{Type: "value_count", NumRules: 1, Timespan: time.Hour, Cond: cond("gte", 2), MaxGroups: 3})
	for i := 0; i < 10; i++ {
		s.Add(Input{Key: fmt.Sprint("k", i), Time: at(time.Duration(i) * time.Second), Str: "v"})
	}
	st := s.Stats()
	assert.Equal(t, 3, st.Groups)
	assert.Equal(t, uint64(7), st.Evicted)
	// the newest groups survived: k9 completes with a second distinct value
	m := s.Add(Input{Key: "k9", Time: at(20 * time.Second), Str: "w"})
	require.Len(t, m, 1)
	assert.Equal(t, float64(2), m[0].Value)
	// k0 was evicted: a second value does not complete it
	assert.Empty(t, s.Add(Input{Key: "k0", Time: at(21 * time.Second), Str: "w"}))
}

func TestExpiryIsNotEviction(t *testing.T) {
	s := New(Def{Type: "event_count", NumRules: 1, Timespan: time.Minute, Cond: cond("gte", 5), MaxGroups: 2})
	s.Add(Input{Key: "a", Time: at(0)})
	s.Add(Input{Key: "b", Time: at(time.Second)})
	s.Add(Input{Key: "c", Time: at(2 * time.Hour)}) // a and b are long over
	st := s.Stats()
	assert.Zero(t, st.Evicted)
	assert.Equal(t, uint64(2), st.Expired)
	assert.Equal(t, 1, st.Groups)
}

func TestValueAvgSlidingSubtracts(t *testing.T) {
	s := New(Def{Type: "value_avg", NumRules: 1, Timespan: time.Minute, Cond: cond("gte", 100)})
	assert.Empty(t, s.Add(Input{Key: "k", Time: at(0), Num: 10}))
	assert.Empty(t, s.Add(Input{Key: "k", Time: at(30 * time.Second), Num: 50}))
	// 10 leaves the window: avg(50, 150) = 100
	m := s.Add(Input{Key: "k", Time: at(61 * time.Second), Num: 150})
	require.Len(t, m, 1)
	assert.Equal(t, float64(100), m[0].Value)
}

func TestTemporalOrderedChainFirst(t *testing.T) {
	s := New(Def{Type: "temporal_ordered", NumRules: 2, Timespan: time.Minute})
	assert.Empty(t, s.Add(Input{Key: "k", Positions: []int{0}, Time: at(10 * time.Second), First: at(0), IDs: []string{"a", "b"}}))
	m := s.Add(Input{Key: "k", Positions: []int{1}, Time: at(20 * time.Second), ID: "c"})
	require.Len(t, m, 1)
	assert.Equal(t, at(0), m[0].First, "first is the earliest contributing event of a chained input")
	assert.Equal(t, []string{"a", "b", "c"}, m[0].IDs)
}

func TestMaxIDs(t *testing.T) {
	s := New(Def{Type: "event_count", NumRules: 1, Timespan: time.Hour, Cond: cond("gte", 10), MaxIDs: 4})
	var m []Match
	for i := 0; i < 10; i++ {
		m = append(m, s.Add(Input{Key: "k", Time: at(time.Duration(i)), ID: fmt.Sprint(i)})...)
	}
	require.Len(t, m, 1)
	assert.Len(t, m[0].IDs, 4)
	assert.Equal(t, float64(10), m[0].Value)
}

// Dropped groups are reused for new ones: a new group starts empty, with
// nothing of the group whose buffers it takes over (entries, distinct
// values, sums, chain slots).
func TestReusedGroupsStartEmpty(t *testing.T) {
	for _, c := range []struct {
		typ  string
		cond sigma.CorrCondition
		in   func(i int) Input
	}{
		{"event_count", cond("gte", 3), func(i int) Input { return Input{ID: fmt.Sprint(i)} }},
		{"value_count", cond("gte", 3), func(i int) Input { return Input{ID: fmt.Sprint(i), Str: fmt.Sprint("v", i)} }},
		{"value_sum", cond("gte", 30), func(i int) Input { return Input{ID: fmt.Sprint(i), Num: 10} }},
		{"temporal_ordered", sigma.CorrCondition{}, func(i int) Input { return Input{ID: fmt.Sprint(i), Positions: []int{i % 3}} }},
	} {
		t.Run(c.typ, func(t *testing.T) {
			s := New(Def{Type: c.typ, NumRules: 3, Timespan: time.Minute, Cond: c.cond})
			add := func(key string, i int, d time.Duration) []Match {
				in := c.in(i)
				in.Key, in.Time = key, at(d)
				return s.Add(in)
			}
			// two inputs of three in each of 50 groups, then the groups expire
			for k := 0; k < 50; k++ {
				assert.Empty(t, add(fmt.Sprint("old", k), 0, 0))
				assert.Empty(t, add(fmt.Sprint("old", k), 1, time.Second))
			}
			s.Advance(at(3 * time.Minute))
			assert.Equal(t, 0, s.Stats().Groups)
			assert.Equal(t, uint64(50), s.Stats().Expired)
			// new groups (on reused buffers) need their three inputs
			for k := 0; k < 50; k++ {
				key := fmt.Sprint("new", k)
				assert.Empty(t, add(key, 1, 4*time.Minute), key)
				assert.Empty(t, add(key, 0, 4*time.Minute+time.Second), key)
				m := add(key, 2, 4*time.Minute+2*time.Second)
				if c.typ == "temporal_ordered" {
					// 1 came before 0: only 0 then 2 is in order, not a chain
					assert.Empty(t, m, key)
					assert.Empty(t, add(key, 1, 4*time.Minute+3*time.Second), key)
					m = add(key, 2, 4*time.Minute+4*time.Second)
				}
				require.Len(t, m, 1, key)
				assert.Equal(t, key, m[0].Key)
				assert.Len(t, m[0].IDs, 3, key)
			}
		})
	}
}

// Advance does nothing at or before Due: a state advanced at every input
// and one advanced only past Due give the same matches and counters.
func TestAdvanceOnlyPastDue(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct {
		typ  string
		cond sigma.CorrCondition
	}{
		{"event_count", cond("gte", 3)}, {"event_count", cond("lt", 2)}, {"value_count", cond("gte", 2)},
		{"value_sum", cond("lte", 20)}, {"temporal", sigma.CorrCondition{}}, {"temporal_ordered", sigma.CorrCondition{}},
	} {
		def := Def{Type: c.typ, NumRules: 2, Timespan: time.Minute, Cond: c.cond, MaxGroups: 4}
		every, pastDue := New(def), New(def)
		var gotEvery, gotPast []Match
		now := time.Duration(0)
		for i := 0; i < 3000; i++ {
			now += time.Duration(r.IntN(40)) * time.Second
			in := Input{Key: fmt.Sprint("k", r.IntN(6)), Time: at(now), ID: fmt.Sprint(i), Str: fmt.Sprint("v", r.IntN(3)), Num: 7, Positions: []int{r.IntN(2)}}
			if r.IntN(3) == 0 {
				gotEvery = append(gotEvery, every.Advance(at(now))...)
				if at(now).UnixNano() > pastDue.Due() {
					gotPast = append(gotPast, pastDue.Advance(at(now))...)
				}
			}
			gotEvery = append(gotEvery, every.Add(in)...)
			gotPast = append(gotPast, pastDue.Add(in)...)
		}
		gotEvery = append(gotEvery, every.Flush()...)
		gotPast = append(gotPast, pastDue.Flush()...)
		require.NotEmpty(t, gotEvery, c.typ)
		assert.Equal(t, gotEvery, gotPast, c.typ)
		assert.Equal(t, every.Stats(), pastDue.Stats(), c.typ)
	}
}

// The counts from leastCount on are those a condition of lower bounds
// holds for, whatever its bounds (fractions, negatives, NaN, infinities,
// bounds beyond any count).
func TestLeastCount(t *testing.T) {
	bounds := []float64{-3, -0.5, 0, 0.5, 1, 2, 2.5, 3, 9.999, 10, 1e300, math.Inf(1), math.Inf(-1), math.NaN(), 1 << 53, 1<<53 - 1}
	for _, a := range bounds {
		for _, b := range bounds {
			for _, ops := range [][]sigma.CorrOp{
				{{Op: "gt", Value: a}}, {{Op: "gte", Value: a}},
				{{Op: "gt", Value: a}, {Op: "gte", Value: b}}, {{Op: "gte", Value: a}, {Op: "gt", Value: b}},
			} {
				c := sigma.CorrCondition{Ops: ops}
				least := leastCount(c)
				for n := 0; n <= 12; n++ {
					if got, want := n >= least, c.Holds(float64(n)); got != want {
						t.Fatalf("%v: count %d: from %d on %v, Holds %v", c, n, least, got, want)
					}
				}
				if least != math.MaxInt && least > 12 && !c.Holds(float64(least)) || least != math.MaxInt && least > 0 && c.Holds(float64(least-1)) {
					t.Fatalf("%v: least count %d", c, least)
				}
			}
		}
	}
}
