package corpus

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cacheTestMessages returns the raw bytes and attachment descriptions of
// the first messages with attachments of a few users, and how many
// distinct documents they carry.
func cacheTestMessages(t *testing.T, o *Org) ([]any, int) {
	t.Helper()
	var raws []any
	docs := map[string]bool{}
	for _, u := range o.Users()[:4] {
		for uid := uint32(1); uid <= o.Folders(u.Address)[0].Count && len(raws) < 40; uid++ {
			m, err := o.Message(u.Address, "INBOX", uid)
			require.NoError(t, err)
			if len(m.Attachments) > 0 {
				raws = append(raws, m.Raw, m.Attachments)
				for _, a := range m.Attachments {
					docs[a.Filename] = true
				}
			}
		}
	}
	require.NotEmpty(t, raws)
	return raws, len(docs)
}

func TestDiskCache(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Seed: 11, Users: 30, MessagesPerUser: 120, MaxAttachmentSize: 96 << 10, CacheDir: dir}

	plain := cfg
	plain.CacheDir = ""
	ref, err := New(plain)
	require.NoError(t, err)
	want, ndocs := cacheTestMessages(t, ref)

	// First run: everything is generated and written.
	o1, err := New(cfg)
	require.NoError(t, err)
	got, _ := cacheTestMessages(t, o1)
	assert.Equal(t, want, got, "same bytes with a cache directory")
	assert.Positive(t, o1.generated.Load())
	assert.Zero(t, o1.diskReads.Load())
	files, err := filepath.Glob(filepath.Join(dir, generatorVersion, "11", "*", "*.b64"))
	require.NoError(t, err)
	assert.Len(t, files, int(o1.generated.Load()))
	t.Logf("%d documents in %d messages, %d files", ndocs, len(want)/2, len(files))

	// Second run, same configuration: everything is read from disk.
	o2, err := New(cfg)
	require.NoError(t, err)
	got, _ = cacheTestMessages(t, o2)
	assert.Equal(t, want, got, "same bytes from the disk cache")
	assert.Zero(t, o2.generated.Load(), "nothing generated")
	assert.Equal(t, o1.generated.Load(), o2.diskReads.Load())

	// Damaged files are regenerated, and rewritten.
	require.GreaterOrEqual(t, len(files), 4)
	damage := []func(b []byte) []byte{
		func(b []byte) []byte { return b[:len(b)/2] },                                   // short
		func(b []byte) []byte { b[len(b)-10] ^= 0x20; return b },                        // flipped bit in the body
		func(b []byte) []byte { return append([]byte("garbage\n"), b...) },              // bad header
		func(b []byte) []byte { return append(b[:len(b)-3:len(b)-3], 'A', '\r', '\n') }, // same length, other bytes
	}
	for i, f := range damage {
		b, err := os.ReadFile(files[i])
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(files[i], f(b), 0o644))
	}
	o3, err := New(cfg)
	require.NoError(t, err)
	got, _ = cacheTestMessages(t, o3)
	assert.Equal(t, want, got, "same bytes with damaged cache files")
	assert.Equal(t, int64(len(damage)), o3.generated.Load(), "damaged files regenerated")
	o4, err := New(cfg)
	require.NoError(t, err)
	cacheTestMessages(t, o4)
	assert.Zero(t, o4.generated.Load(), "damaged files were rewritten")

	// Another configuration with the same seed does not share the files.
	other := cfg
	other.Users = 31
	o5, err := New(other)
	require.NoError(t, err)
	cacheTestMessages(t, o5)
	assert.Zero(t, o5.diskReads.Load())
	assert.Positive(t, o5.generated.Load())

	leftovers, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*", ".tmp-*"))
	assert.Empty(t, leftovers, "no temporary files left")
}

func TestDiskCacheUnusable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, err := New(Config{CacheDir: filepath.Join(file, "sub")})
	assert.ErrorContains(t, err, "cache directory")
}

func TestEncodedLen(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 56, 57, 58, 114, 1000, 12345} {
		assert.Equal(t, len(encodeBase64Lines(make([]byte, n))), encodedLen(n), "n=%d", n)
	}
}

// A file this process has checked is not hashed again while it stays the
// same file; one changed since (in place, same length) is checked again,
// found bad and regenerated.
func TestDiskCacheChecksOnce(t *testing.T) {
	cfg := Config{Seed: 12, Users: 6, MessagesPerUser: 60, MaxAttachmentSize: 64 << 10, CacheDir: t.TempDir()}
	o1, err := New(cfg)
	require.NoError(t, err)
	want, _ := cacheTestMessages(t, o1) // writes the files

	cfg.CacheBytes = 1 // nothing is kept in memory: every use reads the disk
	o, err := New(cfg)
	require.NoError(t, err)
	got, _ := cacheTestMessages(t, o)
	require.Equal(t, want, got)
	reads, hashed := o.diskReads.Load(), o.disk.hashed.Load()
	files, err := filepath.Glob(filepath.Join(o.disk.dir, "*.b64"))
	require.NoError(t, err)
	assert.EqualValues(t, len(files), hashed, "each file checked once")
	got, _ = cacheTestMessages(t, o)
	require.Equal(t, want, got)
	assert.Equal(t, 2*reads, o.diskReads.Load(), "read again")
	assert.Equal(t, hashed, o.disk.hashed.Load(), "not hashed again")

	time.Sleep(10 * time.Millisecond) // a distinct modification time
	b, err := os.ReadFile(files[0])
	require.NoError(t, err)
	b[len(b)-10] ^= 0x20
	require.NoError(t, os.WriteFile(files[0], b, 0o644))
	gen := o.generated.Load()
	got, _ = cacheTestMessages(t, o)
	require.Equal(t, want, got, "same bytes")
	assert.Greater(t, o.generated.Load(), gen, "the changed file was checked, found bad and regenerated")
}

// A file this process wrote is read back without being hashed: its body is
// what it rendered (a document dropped from memory and read again, in a
// large organisation's run).
func TestDiskCacheTrustsWhatItWrote(t *testing.T) {
	cfg := Config{Seed: 12, Users: 6, MessagesPerUser: 60, MaxAttachmentSize: 64 << 10, CacheDir: t.TempDir(), CacheBytes: 1}
	o, err := New(cfg)
	require.NoError(t, err)
	want, _ := cacheTestMessages(t, o) // renders and writes every document
	require.Positive(t, o.generated.Load())
	reads := o.diskReads.Load()
	got, _ := cacheTestMessages(t, o) // nothing kept in memory: read back
	require.Equal(t, want, got)
	assert.Greater(t, o.diskReads.Load(), reads)
	assert.Zero(t, o.disk.hashed.Load(), "its own files are not checked")

	// One put there since by someone else (the same bytes, a new file) is.
	files, err := filepath.Glob(filepath.Join(o.disk.dir, "*.b64"))
	require.NoError(t, err)
	b, err := os.ReadFile(files[0])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(files[0]+".new", b, 0o644))
	require.NoError(t, os.Rename(files[0]+".new", files[0]))
	got, _ = cacheTestMessages(t, o)
	require.Equal(t, want, got)
	assert.EqualValues(t, 1, o.disk.hashed.Load(), "the replaced file is checked, once")

	// Another process's file is checked.
	o2, err := New(cfg)
	require.NoError(t, err)
	got, _ = cacheTestMessages(t, o2)
	require.Equal(t, want, got)
	assert.Positive(t, o2.disk.hashed.Load())
	assert.Zero(t, o2.generated.Load())
}

// A skeleton made through the disk cache's headers alone (a new Org, no
// document in memory) has the size and attachment digests of the message,
// and reads no document body.
func TestSkeletonFromDiskHeaders(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Seed: 13, Users: 8, MessagesPerUser: 80, MaxAttachmentSize: 64 << 10, CacheDir: dir}
	o1, err := New(cfg)
	require.NoError(t, err)
	type msgRef struct {
		addr, folder string
		uid          uint32
	}
	var refs []msgRef
	var want []*Message
	for _, u := range o1.Users() {
		for _, f := range o1.Folders(u.Address) {
			for uid := uint32(1); uid <= f.Count; uid++ {
				m, err := o1.Message(u.Address, f.Name, uid)
				require.NoError(t, err)
				if len(m.Attachments) > 0 {
					refs, want = append(refs, msgRef{u.Address, f.Name, uid}), append(want, m)
				}
			}
		}
	}
	require.Greater(t, len(refs), 20)
	o2, err := New(cfg)
	require.NoError(t, err)
	for i, r := range refs {
		sk, err := o2.Skeleton(r.addr, r.folder, r.uid)
		require.NoError(t, err)
		n := len(sk.Raw)
		for _, om := range sk.Omitted {
			n += om.Bytes
		}
		assert.Equal(t, len(want[i].Raw), n)
		assert.Len(t, sk.Omitted, len(want[i].Attachments))
		assert.Equal(t, want[i].Attachments, sk.Attachments)
	}
	assert.Zero(t, o2.generated.Load(), "nothing rendered")
	assert.Zero(t, o2.diskReads.Load(), "no document body read")
}
