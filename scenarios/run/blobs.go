package run

import (
	"fmt"
	"hash/maphash"
	"os"
	"path/filepath"
	"sync"

	"github.com/maildrill/maildrill/internal/nozero"
)

// blobs keeps file contents that actors may send later out of memory:
// content-addressed files in a temporary directory, each distinct content
// written once however many actors keep it (staff members open the same
// documents). A large organisation's staff would otherwise hold a file
// each for the whole run.
type blobs struct {
	mu   sync.Mutex
	dir  string
	have map[string]bool
}

// blobSeeds name a content: two independent 64-bit hashes (128 bits, and
// the length), an order of magnitude cheaper than SHA-256 on the actor's
// path, with no collision to fear among a run's files. Names are the
// run's own: they are neither kept nor shown.
var blobSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

// blobName is data's name in the store.
func blobName(data []byte) string {
	return fmt.Sprintf("%016x%016x-%d", maphash.Bytes(blobSeeds[0], data), maphash.Bytes(blobSeeds[1], data), len(data))
}

// put stores data and returns its name.
func (b *blobs) put(data []byte) (string, error) {
	name := blobName(data)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.have[name] {
		return name, nil
	}
	if b.dir == "" {
		d, err := os.MkdirTemp("", "maildrill-run-files-")
		if err != nil {
			return "", err
		}
		b.dir, b.have = d, map[string]bool{}
	}
	if err := os.WriteFile(filepath.Join(b.dir, name), data, 0o600); err != nil {
		return "", err
	}
	b.have[name] = true
	return name, nil
}

// get returns the content put under name, in a buffer from getDLBuf.
func (b *blobs) get(name string) ([]byte, error) {
	b.mu.Lock()
	dir := b.dir
	b.mu.Unlock()
	return nozero.ReadFileWith(filepath.Join(dir, name), getDLBuf)
}

// close removes the files.
func (b *blobs) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dir != "" {
		os.RemoveAll(b.dir)
		b.dir, b.have = "", nil
	}
}
