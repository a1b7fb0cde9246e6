// Package rulepack is maildrill's built-in Sigma rule pack — rules/*.yml,
// their true- and false-positive samples in rules/tests/ and the pack's
// configuration in rules/pack.yml — and the loader of any rule pack with
// its configuration (a directory's pack.yml). The engine (package
// detectors) knows nothing of it.
package rulepack

import (
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	_ "time/tzdata" // the pack's office hours are Europe/Paris, wherever it runs

	"github.com/maildrill/maildrill/detectors"
	"github.com/maildrill/maildrill/detectors/sigma"
)

// Pack is a set of rules with the engine configuration they are
// written for.
type Pack struct {
	Rules  []*sigma.Rule
	Config detectors.Config
	// Settings is File when the configuration comes from the pack's
	// pack.yml, "" when it is the defaults (a single rule file, or a
	// directory without one).
	Settings string
	// BuiltIn is true for the pack embedded in the binary.
	BuiltIn bool
}

// Load loads the rules at path, a directory (recursively) or a
// single file, with their configuration: a directory's own pack.yml when
// it has one, else the defaults, time modifiers reading times as written
// (Sigma's specification). path "" is the built-in pack, with its
// configuration (Config). Every problem is reported, each rule's with
// its file and position, under path ("PATH: ..."); a path without rules
// is an error.
func Load(path string) (*Pack, error) {
	if path == "" {
		p, err := LoadFS(FS())
		if err != nil {
			return nil, err
		}
		p.BuiltIn = true
		return p, nil
	}
	rules, errs := detectors.LoadPath(path)
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %w", path, errors.Join(errs...))
	}
	if len(rules) == 0 {
		return nil, fmt.Errorf("%s: no rules found", path)
	}
	p := &Pack{Rules: rules, Config: detectors.Config{Placeholders: DefaultPlaceholders()}}
	if st, err := os.Stat(path); err != nil || !st.IsDir() {
		return p, nil
	}
	cfg, found, err := ConfigFS(os.DirFS(path), ".")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	p.Config = cfg
	if found {
		p.Settings = File
	}
	return p, nil
}

// LoadFS loads the pack at the root of fsys: the configuration of
// its pack.yml (the defaults without one), then every rule, named by its
// path in fsys.
func LoadFS(fsys fs.FS) (*Pack, error) {
	cfg, found, err := ConfigFS(fsys, ".")
	if err != nil {
		return nil, err
	}
	rules, errs := detectors.LoadFS(fsys, ".")
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	p := &Pack{Rules: rules, Config: cfg}
	if found {
		p.Settings = File
	}
	return p, nil
}

//go:embed rules
var packFS embed.FS

// FS is the built-in rule pack: rules/*.yml with their samples in
// rules/tests/ and its configuration in rules/pack.yml.
func FS() fs.FS {
	sub, err := fs.Sub(packFS, "rules")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	return sub
}

// Rules parses the built-in rule pack.
func Rules() ([]*sigma.Rule, error) {
	rules, errs := detectors.LoadFS(FS(), ".")
	return rules, errors.Join(errs...)
}

// DefaultPlaceholders are the placeholder values the pack's rules use: the
// office network of the simulated ministry.
func DefaultPlaceholders() map[string][]string {
	return map[string][]string{
		"office_networks":  {"10.20.0.0/16"},
		"internal_domains": {"interieur.test"},
	}
}

// Config returns the configuration the built-in rule pack is written
// for: the maildrill logsources, the ministry placeholders, and the time
// zone of the time modifiers its rules/pack.yml declares (Europe/Paris:
// office hours are the ministry's local hours). The engine's own default,
// a nil Location, reads times as written.
func Config() detectors.Config {
	cfg, _, err := ConfigFS(FS(), ".")
	if err != nil {
		panic(err) // the embedded pack.yml is checked by TestPackTimeZoneIsExplicit
	}
	return cfg
}

// ReportUnfireable is detectors.ReportUnfireable for a list of rules run
// with the built-in pack's configuration, as scenario runs do; nil rules
// is the built-in pack. A rule set the engine refuses is left to the run
// to report.
func ReportUnfireable(w io.Writer, rules []*sigma.Rule, verbose bool) {
	if rules == nil {
		p, err := Load("")
		if err != nil {
			return
		}
		rules = p.Rules
	}
	cfg := Config()
	cfg.Lenient = true
	eng, err := detectors.NewEngine(rules, cfg)
	if err != nil {
		return
	}
	detectors.ReportUnfireable(w, eng, verbose, "", "")
}
