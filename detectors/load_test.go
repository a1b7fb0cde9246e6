package detectors

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/detectors/yamlsafe"
)

// A rule file larger than the limit is refused by name, without being read whole.
func TestLoadRefusesLargeFiles(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yml")
	require.NoError(t, os.WriteFile(big, []byte("title: big\n"+strings.Repeat("# padding\n", 120<<10)), 0o644))
	small := filepath.Join(dir, "small.yml")
	require.NoError(t, os.WriteFile(small, []byte("title: small\nlogsource: {product: maildrill}\ndetection:\n  sel: {f: x}\n  condition: sel\n"), 0o644))

	_, errs := Loader{YAML: yamlsafe.Limits{MaxBytes: 1 << 20}}.LoadPath(big)
	require.Len(t, errs, 1)
	assert.Equal(t, big+": file larger than 1 MiB (the limit for a YAML file)", errs[0].Error())

	rules, errs := LoadPath(dir)
	require.Len(t, errs, 1)
	assert.Equal(t, big+": file larger than 1 MiB (the limit for a YAML file)", errs[0].Error())
	require.Len(t, rules, 1, "the other files still load")
	assert.Equal(t, "small", rules[0].Title)

	_, errs = Loader{YAML: yamlsafe.Limits{MaxBytes: 64}}.LoadPath(small)
	require.Len(t, errs, 1)
	assert.Equal(t, small+": file larger than 64 bytes (the limit for a YAML file)", errs[0].Error())
}
