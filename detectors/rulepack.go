package detectors

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/maildrill/maildrill/detectors/sigma"
)

// RulePack is a set of rules with the engine configuration they are
// written for.
type RulePack struct {
	Rules  []*sigma.Rule
	Config Config
	// Settings is PackFile when the configuration comes from the pack's
	// pack.yml, "" when it is the defaults (a single rule file, or a
	// directory without one).
	Settings string
	// BuiltIn is true for the pack embedded in the binary.
	BuiltIn bool
}

// LoadRulePack loads the rules at path, a directory (recursively) or a
// single file, with their configuration: a directory's own pack.yml when
// it has one, else the defaults, time modifiers reading times as written
// (Sigma's specification). path "" is the built-in pack, with its
// configuration (PackConfig). Every problem is reported, each rule's with
// its file and position, under path ("PATH: ..."); a path without rules
// is an error.
func LoadRulePack(path string) (*RulePack, error) {
	if path == "" {
		p, err := LoadRulePackFS(Pack())
		if err != nil {
			return nil, err
		}
		p.BuiltIn = true
		return p, nil
	}
	rules, errs := LoadPath(path)
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %w", path, errors.Join(errs...))
	}
	if len(rules) == 0 {
		return nil, fmt.Errorf("%s: no rules found", path)
	}
	p := &RulePack{Rules: rules, Config: Config{Placeholders: DefaultPlaceholders()}}
	if st, err := os.Stat(path); err != nil || !st.IsDir() {
		return p, nil
	}
	cfg, found, err := ConfigFS(os.DirFS(path), ".")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	p.Config = cfg
	if found {
		p.Settings = PackFile
	}
	return p, nil
}

// LoadRulePackFS loads the pack at the root of fsys: the configuration of
// its pack.yml (the defaults without one), then every rule, named by its
// path in fsys.
func LoadRulePackFS(fsys fs.FS) (*RulePack, error) {
	cfg, found, err := ConfigFS(fsys, ".")
	if err != nil {
		return nil, err
	}
	rules, errs := LoadFS(fsys, ".")
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	p := &RulePack{Rules: rules, Config: cfg}
	if found {
		p.Settings = PackFile
	}
	return p, nil
}
