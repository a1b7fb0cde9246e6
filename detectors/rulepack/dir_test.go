package rulepack

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/detectors"
)

func TestDirAndConfigSource(t *testing.T) {
	fsys, label, err := Dir("")
	require.NoError(t, err)
	assert.Equal(t, "built-in pack", label)
	cfg, source, err := ConfigSource(fsys)
	require.NoError(t, err)
	assert.Equal(t, File, source)
	assert.Equal(t, "Europe/Paris", cfg.Location.String())

	dir := t.TempDir()
	fsys, label, err = Dir(dir)
	require.NoError(t, err)
	assert.Equal(t, dir, label)
	_, source, err = ConfigSource(fsys)
	require.NoError(t, err)
	assert.Empty(t, source, "no pack.yml: the defaults")

	file := filepath.Join(dir, "r.yml")
	require.NoError(t, os.WriteFile(file, []byte("title: r\n"), 0o644))
	_, _, err = Dir(file)
	assert.ErrorContains(t, err, file+" is not a directory")
	_, _, err = Dir(filepath.Join(dir, "missing"))
	assert.ErrorContains(t, err, "rules directory: ")
}

func TestReportUnfireableFS(t *testing.T) {
	dir := t.TempDir()
	rule := "title: win\nid: w1\nlogsource: {product: windows, category: process_creation}\ndetection:\n  sel: {a: 1}\n  condition: sel\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "win.yml"), []byte(rule), 0o644))
	var w bytes.Buffer
	ReportUnfireableFS(&w, os.DirFS(dir), detectors.Config{}, true, "", dir)
	assert.True(t, strings.HasPrefix(w.String(), "1 of 1 rule cannot fire"), w.String())
	assert.Contains(t, w.String(), filepath.Join(dir, "win.yml")+":1: win (product: windows, category: process_creation)")
}
