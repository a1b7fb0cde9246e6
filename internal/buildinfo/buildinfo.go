// Package buildinfo says which build a binary is: its VCS commit and its
// version line.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Commit is the VCS revision the binary was built from, with "-dirty"
// when the work tree had changes, or "unknown" when the build did not
// record it (go run, go test, -buildvcs=false). info and ok are what
// debug.ReadBuildInfo returns.
func Commit(info *debug.BuildInfo, ok bool) string {
	if !ok || info == nil {
		return "unknown"
	}
	var rev string
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "unknown"
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// CurrentCommit is the Commit of the running binary.
func CurrentCommit() string { return Commit(debug.ReadBuildInfo()) }

// Line is a binary's version line: "NAME VERSION (commit C, GOVERSION OS/ARCH)".
func Line(name, version string) string {
	return fmt.Sprintf("%s %s (commit %s, %s %s/%s)", name, version, CurrentCommit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
