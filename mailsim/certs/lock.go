//go:build unix

package certs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFileName is the lock file Lock keeps in a certificate directory.
const LockFileName = ".maildrill.lock"

// ErrInUse is returned (wrapped) by Lock when another process, or another
// server of this one, holds the directory.
var ErrInUse = errors.New("in use by another maildrill")

// DirLock is an exclusive claim on a certificate directory: while it is
// held no other maildrill writes its CA there.
type DirLock struct {
	f *os.File
}

// Lock creates dir if missing and takes an exclusive, non-blocking flock
// on its lock file, before anything is written: a second server given the
// same directory fails at once instead of overwriting the CA the first
// one's clients trust. The lock lasts until Unlock or the process ends
// (the kernel drops it then: no stale lock after a crash).
func Lock(dir string) (*DirLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("certs: create directory: %w", err)
	}
	path := filepath.Join(dir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("certs: open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := ""
			if b, rerr := os.ReadFile(path); rerr == nil {
				if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
					who = fmt.Sprintf(" (pid %d)", pid)
				}
			}
			return nil, fmt.Errorf("certs: certificate directory %s is %w%s: its CA must not be overwritten; stop that one or choose another --cert-dir", dir, ErrInUse, who)
		}
		return nil, fmt.Errorf("certs: lock %s: %w", path, err)
	}
	// Who holds it, for the error above; best effort.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &DirLock{f: f}, nil
}

// Unlock releases the directory. Safe to call more than once. The lock
// file stays: removing it would let two processes lock different files.
func (l *DirLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor releases the flock
	l.f = nil
	return err
}
