package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// versionRE is the shape of the version line: version, commit, Go version.
var versionRE = regexp.MustCompile(`^maildrill (\S+) \(commit ([0-9a-f]{40}(-dirty)?|unknown), (go\S+) \S+/\S+\)\n$`)

func TestVersionInProcess(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out, errb bytes.Buffer
		require.NoError(t, run(context.Background(), args, &out, &errb), "%v: %s", args, errb.String())
		m := versionRE.FindStringSubmatch(out.String())
		require.NotNil(t, m, "%v printed %q", args, out.String())
		assert.Equal(t, "devel", m[1], "the default version")
		assert.Equal(t, runtime.Version(), m[4])
		assert.Empty(t, errb.String())
	}
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"version", "extra"}, &out, &errb)
	require.Error(t, err)
	assert.Equal(t, exitBadInput, exitCode(err, &errb))
}

func TestVersionBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "maildrill")
	out, err := exec.Command("go", "build", "-ldflags", "-X main.version=v0.9.1-test", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	var lines []string
	for _, arg := range []string{"version", "--version"} {
		out, err := exec.Command(bin, arg).Output()
		require.NoError(t, err, arg)
		m := versionRE.FindStringSubmatch(string(out))
		require.NotNil(t, m, "%s printed %q", arg, out)
		assert.Equal(t, "v0.9.1-test", m[1], "set with -ldflags -X main.version")
		assert.Equal(t, runtime.Version(), m[4], "built by the same toolchain as the test")
		lines = append(lines, string(out))
	}
	assert.Equal(t, lines[0], lines[1], "version and --version print the same")
}
