package corpus

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.txt")

// TestGolden pins the SHA-256 of a few messages (and so of their
// attachments) so that a change of output across processes, machines or
// releases of a dependency is noticed. Run with -update after an intended
// change of the corpus.
func TestGolden(t *testing.T) {
	o, err := New(Config{Seed: 2025, Users: 30, MessagesPerUser: 80, MaxAttachmentSize: 300 << 10})
	require.NoError(t, err)
	var b strings.Builder
	for _, u := range []int{0, 1, 12, 30} {
		user := o.Users()[u]
		for _, f := range o.Folders(user.Address) {
			for uid := uint32(1); uid <= f.Count && uid <= 6; uid++ {
				m, err := o.Message(user.Address, f.Name, uid)
				require.NoError(t, err)
				fmt.Fprintf(&b, "%s %s %d %x\n", user.Address, f.Name, uid, sha256.Sum256(m.Raw))
			}
		}
	}
	path := filepath.Join("testdata", "golden.txt")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -run TestGolden -update")
	assert.Equal(t, string(want), b.String())
}
