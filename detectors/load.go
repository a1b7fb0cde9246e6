package detectors

import (
	"embed"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	_ "time/tzdata" // the pack's office hours are Europe/Paris, wherever we run

	"github.com/maildrill/maildrill/detectors/sigma"
	"github.com/maildrill/maildrill/detectors/yamlsafe"
)

//go:embed rules
var packFS embed.FS

// Pack returns the built-in rule pack: rules/*.yml with their samples in
// rules/tests/.
func Pack() fs.FS {
	sub, err := fs.Sub(packFS, "rules")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	return sub
}

// PackRules parses the built-in rule pack.
func PackRules() ([]*sigma.Rule, error) {
	rules, errs := LoadFS(Pack(), ".")
	return rules, errors.Join(errs...)
}

// ParseRules parses the Sigma documents of one YAML file.
func ParseRules(name string, data []byte) ([]*sigma.Rule, []error) {
	return sigma.ParseFile(name, data)
}

// Loader loads rule files within YAML limits (file size, nesting depth,
// aliases); the zero Loader uses yamlsafe's defaults.
type Loader struct {
	YAML yamlsafe.Limits
}

// LoadFS parses every *.yml / *.yaml file under root in fsys (recursively),
// in lexical order. It returns the rules parsed and one error per refused
// document or file.
func LoadFS(fsys fs.FS, root string) ([]*sigma.Rule, []error) {
	return Loader{}.LoadFS(fsys, root)
}

// LoadPath loads rules from a directory or a single file on disk. File names
// in errors are the paths given.
func LoadPath(p string) ([]*sigma.Rule, []error) {
	return Loader{}.LoadPath(p)
}

// ReadFS reads a rule file of fsys within the size limit; a file too large
// is a *sigma.Error naming it.
func (l Loader) ReadFS(fsys fs.FS, name string) ([]byte, error) {
	data, err := yamlsafe.ReadFS(fsys, name, l.YAML)
	if e, ok := sigma.LimitError(name, err); ok {
		return nil, e
	}
	return data, err
}

// LoadFS is LoadFS within l's limits.
func (l Loader) LoadFS(fsys fs.FS, root string) ([]*sigma.Rule, []error) {
	var rules []*sigma.Rule
	var errs []error
	var files []string
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if d.IsDir() {
			if p != root && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		if ext := strings.ToLower(path.Ext(p)); (ext == ".yml" || ext == ".yaml") && !isPackFile(root, p) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	sort.Strings(files)
	for _, f := range files {
		data, err := l.ReadFS(fsys, f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rs, es := sigma.ParseFileLimits(f, data, l.YAML)
		rules = append(rules, rs...)
		errs = append(errs, es...)
	}
	return rules, errs
}

// LoadPath is LoadPath within l's limits.
func (l Loader) LoadPath(p string) ([]*sigma.Rule, []error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, []error{err}
	}
	if !st.IsDir() {
		data, err := yamlsafe.ReadFile(p, l.YAML)
		if e, ok := sigma.LimitError(p, err); ok {
			return nil, []error{e}
		}
		if err != nil {
			return nil, []error{err}
		}
		return sigma.ParseFileLimits(p, data, l.YAML)
	}
	rules, errs := l.LoadFS(os.DirFS(p), ".")
	fix := func(f string) string { return filepath.Join(p, filepath.FromSlash(f)) }
	for _, r := range rules {
		r.File = fix(r.File)
	}
	for i, e := range errs {
		var se *sigma.Error
		if errors.As(e, &se) {
			se.File = fix(se.File)
			errs[i] = se
		}
	}
	return rules, errs
}

// DefaultPlaceholders are the placeholder values the pack's rules use: the
// office network of the simulated ministry.
func DefaultPlaceholders() map[string][]string {
	return map[string][]string{
		"office_networks":  {"10.20.0.0/16"},
		"internal_domains": {"interieur.test"},
	}
}

// PackConfig returns the configuration the built-in rule pack is written
// for: the maildrill logsources, the ministry placeholders, and the time
// zone of the time modifiers its rules/pack.yml declares (Europe/Paris:
// office hours are the ministry's local hours). The engine's own default,
// a nil Location, reads times as written.
func PackConfig() Config {
	cfg, _, err := ConfigFS(Pack(), ".")
	if err != nil {
		panic(err) // the embedded pack.yml is checked by TestPackFile
	}
	return cfg
}
