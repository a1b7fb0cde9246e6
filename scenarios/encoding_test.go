package scenarios

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const encodingScenario = "id: enc\ntitle: saved by a Windows editor\nactors:\n  - id: a\n    kind: attacker\n    credentials: {user: director}\n    steps:\n      - login: {}\n"

// A scenario saved with a UTF-8 byte order mark reads as without one; one
// saved as UTF-16 is refused with its file and what to do. The mark used
// to become part of the first key ("unknown key \ufeffid").
func TestScenarioEncodings(t *testing.T) {
	sc, err := Parse("bom.yaml", []byte("\xEF\xBB\xBF"+encodingScenario))
	require.NoError(t, err)
	assert.Equal(t, "enc", sc.ID)

	dir := t.TempDir()
	u16 := []byte{0xFF, 0xFE}
	for _, c := range encodingScenario {
		u16 = append(u16, byte(c), 0)
	}
	p := filepath.Join(dir, "utf16.yaml")
	require.NoError(t, os.WriteFile(p, u16, 0o644))
	_, err = ParseFile(p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), p+": the file is UTF-16 text (it starts with a byte order mark): save it as UTF-8")
}
