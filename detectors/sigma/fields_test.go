package sigma

import (
	"fmt"
	"sync"
	"testing"
)

// Names numbered from several goroutines at once get one number each,
// the same for every caller, and the table hands back its own copy.
func TestFieldIDsConcurrent(t *testing.T) {
	const workers, names = 8, 300
	got := make([][]FieldID, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < names; i++ {
				name := fmt.Sprintf("test.concurrent.%d", i)
				if i%2 == 1 {
					name = fmt.Sprintf("test.concurrent.w%d.%d", w, i) // this worker's own
				}
				id, canon := FieldIDOf(name)
				if canon != name {
					t.Errorf("%q came back as %q", name, canon)
				}
				if b, _ := FieldIDOfBytes([]byte(name)); b != id {
					t.Errorf("%q: %d by bytes, %d by string", name, b, id)
				}
				got[w] = append(got[w], id)
			}
		}(w)
	}
	wg.Wait()
	owner := map[FieldID]string{}
	for w := 0; w < workers; w++ {
		for i, id := range got[w] {
			if id == 0 {
				t.Fatalf("no number for name %d of worker %d", i, w)
			}
			name := fmt.Sprintf("test.concurrent.%d", i)
			if i%2 == 1 {
				name = fmt.Sprintf("test.concurrent.w%d.%d", w, i)
			} else if id != got[0][i] {
				t.Errorf("%q: %d for worker %d, %d for worker 0", name, id, w, got[0][i])
			}
			if o, ok := owner[id]; ok && o != name {
				t.Errorf("number %d given to %q and %q", id, o, name)
			}
			owner[id] = name
			if l := LookupFieldID(name); l != id {
				t.Errorf("%q: looked up %d, numbered %d", name, l, id)
			}
		}
	}
	if LookupFieldID("test.never.numbered") != 0 {
		t.Error("LookupFieldID numbered a name")
	}
}
