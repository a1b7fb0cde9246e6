package rulepack

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLoadRulePack: "" is the built-in pack with its pack.yml (Europe/Paris);
// a directory brings its own pack.yml, else times as written; a single
// file has no pack settings; a bad pack.yml, a broken rule and an empty
// directory are errors naming the path.
func TestLoad(t *testing.T) {
	builtIn, err := Load("")
	require.NoError(t, err)
	require.True(t, builtIn.BuiltIn)
	require.NotEmpty(t, builtIn.Rules)
	require.Equal(t, "Europe/Paris", builtIn.Config.Location.String())
	require.Equal(t, File, builtIn.Settings)

	rule, err := os.ReadFile("rules/imap_password_spray.yml")
	require.NoError(t, err)

	plain := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(plain, "rule.yml"), rule, 0o644))
	p, err := Load(plain)
	require.NoError(t, err)
	require.Nil(t, p.Config.Location, "no pack.yml: times as written")
	require.Empty(t, p.Settings)
	require.Equal(t, filepath.Join(plain, "rule.yml"), p.Rules[0].File)
	require.Equal(t, DefaultPlaceholders(), p.Config.Placeholders)

	p, err = Load(filepath.Join(plain, "rule.yml"))
	require.NoError(t, err)
	require.Nil(t, p.Config.Location)

	paris := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(paris, "rule.yml"), rule, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(paris, "pack.yml"), []byte("time_modifiers: {timezone: Europe/Paris}\n"), 0o644))
	p, err = Load(paris)
	require.NoError(t, err)
	require.Equal(t, "Europe/Paris", p.Config.Location.String())
	require.Equal(t, File, p.Settings)

	bad := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bad, "rule.yml"), rule, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(bad, "pack.yml"), []byte("time_modifiers: {zone: Mars/Olympus}\n"), 0o644))
	_, err = Load(bad)
	require.ErrorContains(t, err, bad+": ")
	require.ErrorContains(t, err, "pack.yml")

	broken := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(broken, "rule.yml"), []byte("title: x\ndetection: {condition: nothing}\n"), 0o644))
	_, err = Load(broken)
	require.ErrorContains(t, err, filepath.Join(broken, "rule.yml"))

	_, err = Load(t.TempDir())
	require.ErrorContains(t, err, "no rules found")
}
