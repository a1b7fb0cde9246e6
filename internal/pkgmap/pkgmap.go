// Package pkgmap draws the module's package map for the README: which
// package imports which (a Mermaid graph, each edge implied by others left
// out) and one line per package saying what it is for, from its doc
// comment.
package pkgmap

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"sort"
	"strings"
)

// Package is one package of the module.
type Package struct {
	Path    string   // relative to the module: detectors/sigma
	Doc     string   // the first sentence of its doc comment
	Imports []string // the module's packages it imports, relative
}

// List runs `go list` in dir over the module's packages.
func List(dir string) ([]Package, error) {
	cmd := exec.Command("go", "list", "-json=ImportPath,Doc,Imports,Module", "./...")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %v: %s", err, stderr.String())
	}
	var pkgs []Package
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath, Doc string
			Imports         []string
			Module          struct{ Path string }
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list: %w", err)
		}
		mod := p.Module.Path + "/"
		pk := Package{Path: strings.TrimPrefix(p.ImportPath, mod), Doc: p.Doc}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, mod) {
				pk.Imports = append(pk.Imports, strings.TrimPrefix(imp, mod))
			}
		}
		pkgs = append(pkgs, pk)
	}
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].Path < pkgs[j].Path })
	return pkgs, nil
}

// Reduce drops the imports another import already leads to (A imports B
// and C, B imports C: A → C is left out), so that the graph shows the
// layering rather than every edge.
func Reduce(pkgs []Package) []Package {
	deps := map[string][]string{}
	for _, p := range pkgs {
		deps[p.Path] = p.Imports
	}
	var reaches func(from, to string, seen map[string]bool) bool
	reaches = func(from, to string, seen map[string]bool) bool {
		for _, d := range deps[from] {
			if d == to {
				return true
			}
			if !seen[d] {
				seen[d] = true
				if reaches(d, to, seen) {
					return true
				}
			}
		}
		return false
	}
	out := make([]Package, len(pkgs))
	for i, p := range pkgs {
		out[i] = Package{Path: p.Path, Doc: p.Doc}
		for _, c := range p.Imports {
			implied := false
			for _, b := range p.Imports {
				if b != c && reaches(b, c, map[string]bool{}) {
					implied = true
					break
				}
			}
			if !implied {
				out[i].Imports = append(out[i].Imports, c)
			}
		}
	}
	return out
}

// Purpose is what a package's doc says it is for, in one line: its first
// sentence without "Package x (is)" / "Command x" and without asides in
// parentheses, up to a colon, a dash or a ", so that".
func Purpose(p Package) string {
	s := p.Doc
	for _, prefix := range []string{"Package ", "Command "} {
		if rest, ok := strings.CutPrefix(s, prefix); ok {
			if _, after, ok := strings.Cut(rest, " "); ok {
				s = after
			}
		}
	}
	s = strings.TrimPrefix(s, "is ")
	s = parenthesis.ReplaceAllString(s, "")
	for _, sep := range []string{": ", " — ", ", so that"} {
		if i := strings.Index(s, sep); i > 0 {
			s = s[:i]
		}
	}
	return strings.TrimSuffix(s, ".")
}

// Markdown is the map as the README shows it: a Mermaid graph of the
// reduced imports, then a table of every package, what it is for and what
// it imports directly.
func Markdown(pkgs []Package) string {
	var b strings.Builder
	b.WriteString("```mermaid\nflowchart LR\n")
	for _, p := range Reduce(pkgs) {
		for _, imp := range p.Imports {
			fmt.Fprintf(&b, "  %s[%s] --> %s[%s]\n", node(p.Path), p.Path, node(imp), imp)
		}
	}
	b.WriteString("```\n\n| package | what it is for | imports (in this module) |\n|---|---|---|\n")
	for _, p := range pkgs {
		imps := make([]string, len(p.Imports))
		for i, imp := range p.Imports {
			imps[i] = "`" + imp + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", p.Path, strings.ReplaceAll(Purpose(p), "|", `\|`), strings.Join(imps, ", "))
	}
	return b.String()
}

var parenthesis = regexp.MustCompile(` \([^)]*\)`)

func node(path string) string { return strings.NewReplacer("/", "_", "-", "_", ".", "_").Replace(path) }
