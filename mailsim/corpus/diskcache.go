package corpus

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maildrill/maildrill/internal/nozero"
)

// generatorVersion names the output of the document generators. Bump it
// with every change that alters the bytes of a document (the golden hashes
// change then too), including a dependency upgrade that does: documents
// cached on disk by an older version are then ignored rather than served.
const generatorVersion = "2"

// diskCache keeps encoded documents in files, one per (type, variant):
//
//	CacheDir/<generatorVersion>/<seed>/<fingerprint>/<type>-<variant>.b64
//
// The fingerprint covers the rest of the configuration a document depends
// on (domain, users, end date, size cap), the Go release (compress/flate
// and image/jpeg are part of the generator) and the fpdf version, so that
// organisations that differ only there do not share files. A file is a header line naming the
// document, its decoded size and SHA-256, the length and SHA-256 of the
// body, then the body: the base64 lines as messages carry them. Files are written to a
// temporary name and renamed, and checked when read; a file that does not
// check out is ignored and rewritten.
type diskCache struct {
	dir string
	fp  string
	// verified remembers the files whose body this process has checked,
	// by path: a file read again that is still the same file (os.SameFile,
	// same size and modification time) is not hashed again; one that was
	// replaced is.
	verified sync.Map     // string → os.FileInfo
	hashed   atomic.Int64 // bodies hashed to check them
}

func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

const diskMagic = "maildrill-corpus-doc/1"

func newDiskCache(cfg *Config) (*diskCache, error) {
	id := fmt.Sprintf("domain=%s users=%d end=%s/%s max=%d go=%s fpdf=%s", cfg.Domain, cfg.Users,
		cfg.End.Format(time.RFC3339Nano), cfg.End.Location(), cfg.MaxAttachmentSize, runtime.Version(), fpdfVersion())
	sum := sha256.Sum256([]byte(id))
	fp := hex.EncodeToString(sum[:8])
	dir := filepath.Join(cfg.CacheDir, generatorVersion, strconv.FormatInt(cfg.Seed, 10), fp)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("corpus: cache directory: %w", err)
	}
	return &diskCache{dir: dir, fp: fp}, nil
}

func (c *diskCache) path(m *docMeta) string {
	return filepath.Join(c.dir, fmt.Sprintf("%s-%02d.b64", docTypes[m.typ].id, m.variant))
}

func (c *diskCache) header(m *docMeta, d *encodedDoc) string {
	h := sha256.New()
	for _, p := range d.b64 {
		h.Write(p)
	}
	return fmt.Sprintf("%s %s %s %s %d %d %s %d %x\n", diskMagic, generatorVersion, c.fp,
		docTypes[m.typ].id, m.variant, d.size, d.sha256, d.n64, h.Sum(nil))
}

// read returns the cached document, or false when there is none or it does
// not check out.
func (c *diskCache) read(m *docMeta) (*encodedDoc, bool) {
	path := c.path(m)
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, false
	}
	b := nozero.Bytes(int(fi.Size())) // read whole below
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, false
	}
	nl := bytes.IndexByte(b[:min(len(b), 512)], '\n')
	if nl < 0 {
		return nil, false
	}
	h, ok := c.parseHeader(b[:nl], m)
	body := b[nl+1:]
	if !ok || h.n != len(body) {
		return nil, false
	}
	if v, ok := c.verified.Load(path); !ok || !sameFile(v.(os.FileInfo), fi) {
		c.hashed.Add(1)
		if got := sha256.Sum256(body); hex.EncodeToString(got[:]) != h.sum {
			c.verified.Delete(path)
			return nil, false
		}
		c.verified.Store(path, fi)
	}
	return &encodedDoc{b64: [][]byte{body}, n64: len(body), size: h.size, sha256: h.docSum}, true
}

// readSummary returns a cached document's decoded size and digest (no
// b64) from its file's first line, the file's length checked against it;
// the body is neither read nor hashed (a document is the same however
// often it is made, so a damaged body does not change them).
func (c *diskCache) readSummary(m *docMeta) (*encodedDoc, bool) {
	f, err := os.Open(c.path(m))
	if err != nil {
		return nil, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, false
	}
	var head [512]byte
	k, _ := io.ReadFull(f, head[:])
	nl := bytes.IndexByte(head[:k], '\n')
	if nl < 0 {
		return nil, false
	}
	h, ok := c.parseHeader(head[:nl], m)
	if !ok || int64(h.n) != fi.Size()-int64(nl+1) {
		return nil, false
	}
	return &encodedDoc{size: h.size, sha256: h.docSum}, true
}

// diskHeader is what a cache file's first line says of its body.
type diskHeader struct {
	size, n     int    // decoded and encoded lengths
	docSum, sum string // the document's SHA-256, the body's
}

// parseHeader reads a cache file's first line (written by header) and
// checks it belongs to m and to this generator; the body's length is the
// caller's to check against n.
func (c *diskCache) parseHeader(line []byte, m *docMeta) (diskHeader, bool) {
	var (
		magic, version, fp, typ string
		variant                 int
		h                       diskHeader
	)
	if k, err := fmt.Sscanf(string(line), "%s %s %s %s %d %d %s %d %s", &magic, &version, &fp, &typ, &variant, &h.size, &h.docSum, &h.n, &h.sum); err != nil || k != 9 {
		return h, false
	}
	ok := magic == diskMagic && version == generatorVersion && fp == c.fp && typ == docTypes[m.typ].id && variant == m.variant &&
		h.size >= 0 && h.n == encodedLen(h.size) && len(h.docSum) == 64
	return h, ok
}

// write stores d, atomically. Errors are ignored: the cache only saves time.
func (c *diskCache) write(m *docMeta, d *encodedDoc) {
	path := c.path(m)
	f, err := os.CreateTemp(c.dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return
	}
	_, err = f.WriteString(c.header(m, d))
	for _, p := range d.b64 {
		if err == nil {
			_, err = f.Write(p)
		}
	}
	// The file as written: its body is what was just rendered, so a read
	// that finds this very file (not one another process put there since)
	// need not hash it.
	var fi os.FileInfo
	if err == nil {
		fi, err = f.Stat()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644) // CreateTemp makes it 0600
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return
	}
	c.verified.Store(path, fi)
}

// encodedLen is the length of encodeBase64Lines' output for n input bytes.
func encodedLen(n int) int {
	lines := (n + 56) / 57
	return (n+2)/3*4 + 2*lines
}

// fpdfVersion is the version of the PDF library built in, when known.
func fpdfVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/go-pdf/fpdf" {
				if d.Replace != nil {
					d = d.Replace
				}
				return d.Version + d.Sum
			}
		}
	}
	return "unknown"
}
