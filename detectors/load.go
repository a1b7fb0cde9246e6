package detectors

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/maildrill/maildrill/detectors/sigma"
	"github.com/maildrill/maildrill/detectors/yamlsafe"
)

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

// PackFile is the name of a rule pack's configuration file, at the root of
// the pack's directory. It is not a rule file: loaders and lint skip it
// (package rulepack reads it).
const PackFile = "pack.yml"

// isPackFile reports whether p (a path in a pack walked from root) is the
// pack's configuration file.
func isPackFile(root, p string) bool {
	return path.Clean(p) == path.Join(root, PackFile)
}
