// Package procgroup starts a child process in a process group of its own
// and signals the whole group, so that stopping the child also reaches
// what it started (a build script's debootstrap, a daemon's workers).
// Where there are no process groups (Windows) the child alone is
// signalled, and only by killing it.
package procgroup
