package dovecot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	recipe "github.com/maildrill/maildrill/docker/dovecot"
	"github.com/maildrill/maildrill/internal/procgroup"
)

// FindRecipe returns the docker/dovecot folder of the maildrill checkout
// that holds the working directory (or $MAILDRILL_REPO); outside a
// checkout, the recipe built into this binary, extracted to the user's
// cache directory.
func FindRecipe() (string, error) {
	dir := os.Getenv("MAILDRILL_REPO")
	if dir == "" {
		var err error
		if dir, err = os.Getwd(); err != nil {
			return "", err
		}
	}
	for d := dir; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "docker", "dovecot", "build.sh")
		if _, err := os.Stat(p); err == nil {
			return filepath.Dir(p), nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	if os.Getenv("MAILDRILL_REPO") != "" {
		return "", fmt.Errorf("dovecot: no docker/dovecot/build.sh under MAILDRILL_REPO=%s", dir)
	}
	return extractRecipe()
}

// extractRecipe writes the embedded recipe to <cache>/maildrill/dovecot-
// recipe/<content hash>/ (once) and returns that folder.
func extractRecipe() (string, error) {
	h := sha256.New()
	type file struct {
		path string
		data []byte
	}
	var files []file
	err := fs.WalkDir(recipe.Files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".go") {
			return err
		}
		b, err := recipe.Files.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		h.Write(b)
		files = append(files, file{p, b})
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("dovecot: embedded recipe: %w", err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "maildrill", "dovecot-recipe", hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(dir, "build.sh")); err == nil {
		return dir, nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "partial-")
	if err != nil {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return "", fmt.Errorf("dovecot: recipe cache: %w", err)
		}
		if tmp, err = os.MkdirTemp(filepath.Dir(dir), "partial-"); err != nil {
			return "", fmt.Errorf("dovecot: recipe cache: %w", err)
		}
	}
	for _, f := range files {
		p := filepath.Join(tmp, filepath.FromSlash(f.path))
		mode := os.FileMode(0o644)
		if strings.HasSuffix(f.path, ".sh") {
			mode = 0o755
		}
		err := os.MkdirAll(filepath.Dir(p), 0o755)
		if err == nil {
			err = os.WriteFile(p, f.data, mode)
		}
		if err != nil {
			os.RemoveAll(tmp)
			return "", fmt.Errorf("dovecot: recipe cache: %w", err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if _, serr := os.Stat(filepath.Join(dir, "build.sh")); serr != nil { // not a concurrent winner
			return "", fmt.Errorf("dovecot: recipe cache: %w", err)
		}
	}
	return dir, nil
}

// BuildImage builds (or finds, by the recipe's content hash) the Dovecot +
// Postfix image with docker/dovecot/build.sh and returns its tag. A cold
// build runs debootstrap first; it needs root, debootstrap and the mirror
// apt is configured with.
func BuildImage(ctx context.Context) (string, error) { return BuildImageProgress(ctx, nil) }

// BuildImageProgress is BuildImage that passes each step build.sh
// announces ("==> ..." lines: debootstrap stages, import, timings) to
// progress as it happens.
func BuildImageProgress(ctx context.Context, progress func(string)) (string, error) {
	dir, err := FindRecipe()
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	errb := &stepWriter{progress: progress}
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(dir, "build.sh"))
	cmd.Stdout, cmd.Stderr = &out, errb
	// On cancellation (Ctrl-C) the whole build stops — debootstrap, its
	// chroot, docker import — not only bash: SIGTERM to the process group,
	// whose scripts remove their work trees on the way out.
	cmd.SysProcAttr = procgroup.Own()
	cmd.Cancel = func() error { return procgroup.Signal(cmd.Process, syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("dovecot: image build stopped: %w", ctx.Err())
		}
		return "", fmt.Errorf("dovecot: build.sh: %w\n%s", err, errb.tail())
	}
	tag := strings.TrimSpace(out.String())
	if tag == "" {
		return "", errors.New("dovecot: build.sh printed no tag")
	}
	return tag, nil
}

// stepWriter keeps build.sh's stderr (the last 8 KiB, for errors) and
// passes its "==> " lines to progress.
type stepWriter struct {
	mu       sync.Mutex
	progress func(string)
	partial  []byte
	all      []byte
}

func (w *stepWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all = append(w.all, b...)
	if len(w.all) > 16<<10 {
		w.all = append(w.all[:0], w.all[len(w.all)-8<<10:]...)
	}
	if w.progress == nil {
		return len(b), nil
	}
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		if line, ok := strings.CutPrefix(string(w.partial[:i]), "==> "); ok {
			w.progress(line)
		}
		w.partial = w.partial[i+1:]
	}
	return len(b), nil
}

func (w *stepWriter) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := string(w.all)
	if len(s) > 8<<10 {
		s = s[len(s)-8<<10:]
	}
	return s
}
