package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestCommit(t *testing.T) {
	const rev = "0123456789abcdef0123456789abcdef01234567"
	info := func(kv ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{}
		for i := 0; i < len(kv); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return bi
	}
	for _, c := range []struct {
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{info("vcs", "git", "vcs.revision", rev, "vcs.modified", "false"), true, rev},
		{info("vcs.revision", rev, "vcs.modified", "true"), true, rev + "-dirty"},
		{info("-buildvcs", "false"), true, "unknown"}, // built without VCS stamping
		{nil, false, "unknown"}, // no build information
	} {
		if got := Commit(c.info, c.ok); got != c.want {
			t.Errorf("Commit(%v) = %q, want %q", c.info, got, c.want)
		}
	}
	if l := Line("maildrill", "v1"); !strings.HasPrefix(l, "maildrill v1 (commit ") {
		t.Errorf("Line = %q", l)
	}
}
