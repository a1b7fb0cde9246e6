package scenarios

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// driverImports are the packages a run reaches only through
// mailsim/target: the container drivers and the organisation's
// generator.
var driverImports = []string{
	"github.com/maildrill/maildrill/mailsim/container",
	"github.com/maildrill/maildrill/mailsim/dovecot",
	"github.com/maildrill/maildrill/mailsim/corpus",
}

// TestNoDriverImports: no Go file under scenarios/ (tests and every
// build tag included) imports a mail-system driver; a run asks
// mailsim/target for its target and its organisation.
func TestNoDriverImports(t *testing.T) {
	bad := importsUnder(t, ".", driverImports)
	for _, b := range bad {
		t.Error(b)
	}
}

// TestNoDriverImportsCatches: the check sees an import where one is.
func TestNoDriverImportsCatches(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "report")
	writeFile(t, filepath.Join(sub, "x_test.go"), "package report\n\nimport (\n\t\"fmt\"\n\tc \"github.com/maildrill/maildrill/mailsim/corpus\"\n)\n")
	writeFile(t, filepath.Join(dir, "testdata", "y.go"), "package y\n\nimport \"github.com/maildrill/maildrill/mailsim/dovecot\"\n")
	bad := importsUnder(t, dir, driverImports)
	if len(bad) != 1 || !strings.Contains(bad[0], "x_test.go:5:4: imports github.com/maildrill/maildrill/mailsim/corpus") {
		t.Errorf("got %q", bad)
	}
}

// importsUnder lists, as file:line:col, every import of one of pkgs in
// the Go files under root (testdata and hidden directories skipped, as
// the go tool skips them).
func importsUnder(t *testing.T, root string, pkgs []string) []string {
	t.Helper()
	var bad []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return err
			}
			for _, b := range pkgs {
				if p == b {
					bad = append(bad, fset.Position(imp.Path.Pos()).String()+": imports "+p+" (use mailsim/target)")
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return bad
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
