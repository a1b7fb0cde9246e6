package run

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
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

// put stores data and returns its name.
func (b *blobs) put(data []byte) (string, error) {
	sum := sha256.Sum256(data)
	name := hex.EncodeToString(sum[:])
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

// get returns the content put under name.
func (b *blobs) get(name string) ([]byte, error) {
	b.mu.Lock()
	dir := b.dir
	b.mu.Unlock()
	return os.ReadFile(filepath.Join(dir, name))
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
