package run

import (
	"fmt"
	"hash/maphash"
	"os"
	"path/filepath"
	"sync"
)

// blobs keeps file contents that actors may send later out of memory:
// content-addressed, appended to one file in a temporary directory, each
// distinct content written once however many actors keep it (staff
// members open the same documents). A large organisation's staff would
// otherwise hold a file each for the whole run. One file appended to, not
// a file per content: making and writing a file each cost several times
// the CPU on ext4.
type blobs struct {
	mu   sync.Mutex
	dir  string
	f    *os.File
	end  int64
	have map[string]blobRef
}

// blobRef is where a content is in the file.
type blobRef struct{ off, n int64 }

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
	if _, ok := b.have[name]; ok {
		return name, nil
	}
	if b.f == nil {
		d, err := os.MkdirTemp("", "maildrill-run-files-")
		if err != nil {
			return "", err
		}
		f, err := os.OpenFile(filepath.Join(d, "files"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			os.RemoveAll(d)
			return "", err
		}
		b.dir, b.f, b.end, b.have = d, f, 0, map[string]blobRef{}
	}
	if _, err := b.f.WriteAt(data, b.end); err != nil {
		return "", err
	}
	b.have[name] = blobRef{off: b.end, n: int64(len(data))}
	b.end += int64(len(data))
	return name, nil
}

// get returns the content put under name, in a buffer from getDLBuf.
func (b *blobs) get(name string) ([]byte, error) {
	b.mu.Lock()
	f := b.f
	ref, ok := b.have[name]
	b.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("no file kept under %s", name)
	}
	if ref.n == 0 {
		return []byte{}, nil
	}
	buf := getDLBuf(int(ref.n))
	if _, err := f.ReadAt(buf, ref.off); err != nil {
		putDLBuf(buf)
		return nil, err
	}
	return buf, nil
}

// close removes the file.
func (b *blobs) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.f != nil {
		b.f.Close()
		os.RemoveAll(b.dir)
		b.dir, b.f, b.end, b.have = "", nil, 0, nil
	}
}
