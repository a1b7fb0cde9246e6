package corpus

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var updatePool = flag.Bool("update-pool", false, "rewrite testdata/pool-*.txt")

// TestPoolDigests pins the size and SHA-256 of every document of whole
// pools, as the cache holds them (rendered into the sink): the default
// organisation's, the first-download benchmark's (8 users) and a small one
// with a low size cap. Changes to how documents are made must leave every
// byte as it was (recorded runs and golden files depend on them); run with
// -update-pool only after an intended change of the documents (which also
// bumps generatorVersion).
func TestPoolDigests(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		short bool
	}{
		{"seed5-400k", Config{Seed: 5, MaxAttachmentSize: 400 << 10}, true},
		{"seed1-default", Config{Seed: 1}, false},
		{"seed1-8users", Config{Seed: 1, Users: 8, MessagesPerUser: 400}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && !tc.short {
				t.Skip("whole default-size pool; not with -short")
			}
			o, err := New(tc.cfg)
			require.NoError(t, err)
			got := poolDigests(t, o)
			path := filepath.Join("testdata", "pool-"+tc.name+".txt")
			if *updatePool {
				require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -run TestPoolDigests -update-pool")
			assert.Equal(t, string(want), got)
		})
	}
}

// poolDigests renders every document of o's pool into a sink, two at a
// time, and lists "type variant filename size sha256" lines in pool order.
func poolDigests(t *testing.T, o *Org) string {
	var metas []docMeta
	for ti := range docTypes {
		for v := 0; v < docVariants; v++ {
			metas = append(metas, o.docMeta(ti, v))
		}
	}
	lines := make([]string, len(metas))
	errs := make([]error, len(metas))
	var wg sync.WaitGroup
	next := make(chan int)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				m := &metas[i]
				s := newDocSink(m.Target + m.Target/32 + 4096)
				if errs[i] = o.renderDocTo(m, s); errs[i] != nil {
					continue
				}
				d := s.doc()
				lines[i] = fmt.Sprintf("%s %d %s %d %s\n", docTypes[m.typ].id, m.variant, m.Filename, d.size, d.sha256)
			}
		}()
	}
	for i := range metas {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	return strings.Join(lines, "")
}
