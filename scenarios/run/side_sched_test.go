package run

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/clock"
)

// schedAction is one action of a scripted actor in the scheduler test.
type schedAction struct {
	gap   time.Duration
	touch []string // nil: the actor's own mailbox
}

type schedSpan struct {
	at         time.Time
	order      int
	touch      []string
	start, end int // ticks of a global counter
}

// The side-by-side scheduler, over actors whose actions touch random
// mailboxes after random waits (within the lookahead contract: an action
// touching another's mailbox comes at least the lookahead after the
// actor's last): no two actions touching a mailbox run at once, an
// exclusive action runs alone, and of two actions touching a mailbox the
// earlier in scenario order ends before the later starts — so each sees
// the mailbox as one at a time would. Actions do run at once, never more
// than the cap, and one waiting to be the earliest (awaitFirst, as a
// sending does) never waits for ever.
func TestSideBySideSchedulerKeepsScenarioOrder(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			t0 := time.Date(2025, 12, 11, 8, 0, 0, 0, time.UTC)
			look := 30 * time.Second
			vc := clock.NewVirtual(t0)
			r := &runner{clk: vc, sched: newScheduler(vc)}
			r.side = newSideBySide(r, audit.NewBus(vc, audit.BusOptions{}), look)
			r.sched.par = r.side
			const actors = 12
			mailbox := func(i int) string { return fmt.Sprintf("m%d", i) }
			scripts := make([][]schedAction, actors)
			for a := range scripts {
				for range 30 {
					var act schedAction
					switch x := rng.IntN(10); {
					case x < 6: // own mailbox, any wait, even none
						act.gap = time.Duration(rng.IntN(40)) * time.Second
					case x < 9: // another's: no sooner than the lookahead
						act.gap = look + time.Duration(rng.IntN(60))*time.Second
						act.touch = []string{mailbox(rng.IntN(actors))}
					default:
						act.gap = look + time.Duration(rng.IntN(60))*time.Second
						act.touch = everything
					}
					scripts[a] = append(scripts[a], act)
				}
			}
			if seed%2 == 0 {
				r.side.max = 3 // a tight cap
			}
			var mu sync.Mutex
			tick := 0
			var spans []*schedSpan
			ctx := context.Background()
			var wg sync.WaitGroup
			for range actors {
				r.sched.join()
			}
			for a := range actors {
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer r.sched.leave(a)
					lrng := rand.New(rand.NewPCG(seed, uint64(a)))
					now := t0
					for _, act := range scripts[a] {
						now = now.Add(act.gap)
						touch := everything
						if len(act.touch) == 0 || act.touch[0] != "*" {
							touch = append([]string{mailbox(a)}, act.touch...)
						}
						if err := r.sched.waitUntil(ctx, a, now, touch); err != nil {
							return // stopped
						}
						mu.Lock()
						tick++
						sp := &schedSpan{at: now, order: a, touch: touch, start: tick}
						spans = append(spans, sp)
						mu.Unlock()
						if lrng.IntN(4) == 0 {
							r.side.awaitFirst(a) // as a sending does
						}
						time.Sleep(time.Duration(lrng.IntN(300)) * time.Microsecond)
						mu.Lock()
						tick++
						sp.end = tick
						mu.Unlock()
					}
				}()
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				r.sched.close()
				t.Fatal("the actors did not finish: the scheduler is stuck")
			}
			require.Len(t, spans, actors*30)
			overlap := func(x, y *schedSpan) bool { return x.start < y.end && y.start < x.end }
			conflict := func(x, y *schedSpan) bool {
				if x.touch[0] == "*" || y.touch[0] == "*" {
					return true
				}
				for _, m := range x.touch {
					for _, n := range y.touch {
						if m == n {
							return true
						}
					}
				}
				return false
			}
			delta := make([]int, tick+2)
			for _, x := range spans {
				delta[x.start]++
				delta[x.end]--
			}
			most, at := 0, 0
			for _, d := range delta {
				at += d
				most = max(most, at)
			}
			for i, x := range spans {
				for j, y := range spans {
					if i == j || !overlap(x, y) {
						continue
					}
					if conflict(x, y) {
						t.Fatalf("actions touching the same mailbox ran at once: %v by %d %v and %v by %d %v", x.at, x.order, x.touch, y.at, y.order, y.touch)
					}
				}
				for _, y := range spans {
					if x != y && conflict(x, y) && keyLess(x.at, x.order, y.at, y.order) && x.end > y.start {
						t.Fatalf("%v by %d %v ended after %v by %d %v started, which comes later", x.at, x.order, x.touch, y.at, y.order, y.touch)
					}
				}
			}
			assert.Greater(t, most, 1, "actions ran side by side")
			assert.LessOrEqual(t, most, r.side.max, "within the cap")
			t.Logf("at most %d at once; %s", most, r.side.stats())
		})
	}
}

// keyLess orders actions as the scheduler does: time, then actor order.
func keyLess(at time.Time, order int, at2 time.Time, order2 int) bool {
	if c := at.Compare(at2); c != 0 {
		return c < 0
	}
	return order < order2
}
