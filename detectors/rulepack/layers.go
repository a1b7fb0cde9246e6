package rulepack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/maildrill/maildrill/detectors"
	"github.com/maildrill/maildrill/detectors/sigma"
	"github.com/maildrill/maildrill/detectors/yamlsafe"
)

// Layers say which rules judge a run: the built-in pack (unless NoPack),
// then the rules of every path of Paths (a directory, recursively, or a
// single file), in order, all in one engine.
type Layers struct {
	Paths  []string
	NoPack bool
	// ConfigFile is a configuration file in the pack.yml format that
	// overrides the layers' own (their pack.yml files).
	ConfigFile string
	// Placeholders are name=value1,value2 settings, over everything else.
	Placeholders []string
}

// LayerError is a refused field of Layers (Field: "Paths", "NoPack",
// "ConfigFile", "Placeholders"); Value is what was refused.
type LayerError struct {
	Field, Value string
	Err          error
}

func (e *LayerError) Error() string {
	if e.Value == "" {
		return e.Err.Error()
	}
	return e.Value + ": " + e.Err.Error()
}
func (e *LayerError) Unwrap() error { return e.Err }

// BuiltInLabel names the built-in pack's files in messages.
const BuiltInLabel = "built-in pack"

// LoadLayers loads the rules l names, with one configuration: the
// built-in pack's (its pack.yml) unless NoPack, else the defaults; over
// it, each directory layer's pack.yml in order (two layers that set
// different time zones are an error naming both files); over that,
// ConfigFile; over everything, Placeholders. A rule id defined twice,
// within a layer or across layers and the built-in pack, is an error
// naming both files. Without any path and without NoPack it is the
// built-in pack, as Load("") is.
func LoadLayers(l Layers) (*Pack, error) {
	if l.NoPack && len(l.Paths) == 0 {
		return nil, &LayerError{Field: "NoPack", Err: errors.New("leaves no rule: name your rules with --rules DIR_OR_FILE (repeatable)")}
	}
	var p *Pack
	tzFrom := "" // the file that set the time zone, for conflicts
	if l.NoPack {
		p = &Pack{Config: detectors.Config{Placeholders: DefaultPlaceholders()}}
	} else {
		b, err := Load("")
		if err != nil {
			return nil, err
		}
		p = b
		tzFrom = BuiltInLabel + "/" + File
	}
	seen := map[string]*sigma.Rule{}
	builtIn := map[*sigma.Rule]bool{}
	for _, r := range p.Rules {
		builtIn[r] = true
	}
	label := func(r *sigma.Rule) string {
		name := r.File
		if builtIn[r] {
			name = BuiltInLabel + "/" + r.File
		}
		return fmt.Sprintf("%s:%d:%d", name, r.Pos.Line, r.Pos.Col)
	}
	var dups []error
	add := func(rs []*sigma.Rule) {
		for _, r := range rs {
			if r.ID != "" {
				if prev, ok := seen[r.ID]; ok {
					dups = append(dups, fmt.Errorf("rule id %s is defined twice: in %s and in %s", r.ID, label(prev), label(r)))
					continue
				}
				seen[r.ID] = r
			}
		}
	}
	add(p.Rules)
	user := false
	for _, path := range l.Paths {
		if path == "" {
			return nil, &LayerError{Field: "Paths", Err: errors.New("empty path")}
		}
		lp, err := Load(path)
		if err != nil {
			// Load names path already.
			return nil, &LayerError{Field: "Paths", Err: err}
		}
		add(lp.Rules)
		p.Rules = append(p.Rules, lp.Rules...)
		if lp.Settings == "" {
			continue
		}
		file := filepath.Join(path, File)
		s, _, err := ReadSettings(os.DirFS(path), ".", yamlsafe.Limits{})
		if err != nil {
			return nil, &LayerError{Field: "Paths", Value: path, Err: err}
		}
		if s.TimeModifiers.Timezone != "" {
			if user && p.Config.Location != nil && p.Config.Location.String() != s.TimeModifiers.Timezone {
				return nil, &LayerError{Field: "Paths", Err: fmt.Errorf("%s sets time_modifiers.timezone %s but %s sets %s: one engine reads times in one zone (set it once, or with --rules-config)",
					file, s.TimeModifiers.Timezone, tzFrom, p.Config.Location)}
			}
			p.Config.Location = lp.Config.Location
			tzFrom, user = file, true
		}
		for name, vals := range s.Placeholders {
			p.Config.Placeholders[name] = vals
		}
		p.Settings = File
	}
	if len(dups) > 0 {
		return nil, &LayerError{Field: "Paths", Err: errors.Join(dups...)}
	}
	if l.ConfigFile != "" {
		data, err := yamlsafe.ReadFile(l.ConfigFile, yamlsafe.Limits{})
		if err != nil {
			return nil, &LayerError{Field: "ConfigFile", Value: l.ConfigFile, Err: err}
		}
		s, err := ParseSettings(data, yamlsafe.Limits{})
		if err != nil {
			return nil, &LayerError{Field: "ConfigFile", Value: l.ConfigFile, Err: err}
		}
		if s.TimeModifiers.Timezone != "" {
			p.Config.Location, _ = s.Location()
		}
		for name, vals := range s.Placeholders {
			p.Config.Placeholders[name] = vals
		}
		p.Settings = l.ConfigFile
	}
	for _, ph := range l.Placeholders {
		name, vals, ok := strings.Cut(ph, "=")
		name = strings.Trim(name, "%")
		if !ok || name == "" || vals == "" {
			return nil, &LayerError{Field: "Placeholders", Value: ph, Err: errors.New("want NAME=VALUE1,VALUE2")}
		}
		p.Config.Placeholders[name] = strings.Split(vals, ",")
		if err := CheckPlaceholders(p.Rules, []string{ph}); err != nil {
			return nil, &LayerError{Field: "Placeholders", Value: ph, Err: err}
		}
	}
	p.BuiltIn = !l.NoPack && len(l.Paths) == 0
	return p, nil
}

// CheckPlaceholders refuses a placeholder setting (NAME=VALUES, as
// --placeholder takes it) whose name no rule of rules uses: a misspelt
// name would leave the rules on their defaults and the verdicts judged on
// values the user did not mean. Names are compared without regard to
// case, as the engine expands them.
func CheckPlaceholders(rules []*sigma.Rule, settings []string) error {
	used := map[string]bool{}
	var names []string
	for _, r := range rules {
		for _, n := range r.Placeholders() {
			if k := strings.ToLower(n); !used[k] {
				used[k] = true
				names = append(names, "%"+n+"%")
			}
		}
	}
	sort.Strings(names)
	for _, ph := range settings {
		name, _, _ := strings.Cut(ph, "=")
		name = strings.Trim(name, "%")
		if used[strings.ToLower(name)] {
			continue
		}
		known := "the rules loaded use none"
		if len(names) > 0 {
			known = "the rules use " + strings.Join(names, ", ")
		}
		return fmt.Errorf("no rule loaded uses %%%s%% (%s)", name, known)
	}
	return nil
}
