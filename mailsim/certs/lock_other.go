//go:build !unix

package certs

import (
	"errors"
	"os"
)

// LockFileName is the lock file Lock keeps in a certificate directory.
const LockFileName = ".maildrill.lock"

// ErrInUse is returned (wrapped) by Lock when another process holds the
// directory.
var ErrInUse = errors.New("in use by another maildrill")

// DirLock is a claim on a certificate directory. Without flock (not a
// Unix system) it only creates the directory.
type DirLock struct{}

// Lock creates dir if missing. On this platform it cannot exclude another
// maildrill: give each its own --cert-dir.
func Lock(dir string) (*DirLock, error) { return &DirLock{}, os.MkdirAll(dir, 0o755) }

// Unlock does nothing here.
func (l *DirLock) Unlock() error { return nil }
