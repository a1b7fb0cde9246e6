package rulepack

import (
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/maildrill/maildrill/detectors"
)

// Dir is the pack in dir, or the built-in pack for "": its files and the
// label that names it in messages ("built-in pack", or dir).
func Dir(dir string) (fsys fs.FS, label string, err error) {
	if dir == "" {
		return FS(), "built-in pack", nil
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, "", fmt.Errorf("rules directory: %w", err)
	}
	if !st.IsDir() {
		return nil, "", fmt.Errorf("%s is not a directory", dir)
	}
	return os.DirFS(dir), dir, nil
}

// ConfigSource is the configuration of the pack at the root of fsys
// (ConfigFS) and where it comes from: File, or "" for the defaults.
func ConfigSource(fsys fs.FS) (detectors.Config, string, error) {
	cfg, found, err := ConfigFS(fsys, ".")
	if found && err == nil {
		return cfg, File, nil
	}
	return cfg, "", err
}

// ReportUnfireableFS is detectors.ReportUnfireable for the rules of the
// pack at the root of fsys under cfg; dir prefixes their paths. A pack
// that does not load or compile is left to the caller to report.
func ReportUnfireableFS(w io.Writer, fsys fs.FS, cfg detectors.Config, verbose bool, hint, dir string) {
	p, err := LoadFS(fsys)
	if err != nil {
		return
	}
	cfg.Lenient = true
	if eng, err := detectors.NewEngine(p.Rules, cfg); err == nil {
		detectors.ReportUnfireable(w, eng, verbose, hint, dir)
	}
}
