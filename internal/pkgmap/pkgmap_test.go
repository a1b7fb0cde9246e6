package pkgmap

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the README's package map")

const (
	begin = "<!-- BEGIN PACKAGE MAP"
	end   = "<!-- END PACKAGE MAP"
)

// The README's package map is generated from `go list`: a stale one fails
// here. go test ./internal/pkgmap -update rewrites it.
func TestReadmePackageMap(t *testing.T) {
	pkgs, err := List("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkgs {
		if Purpose(p) == "" {
			t.Errorf("%s: no package doc comment to say what it is for", p.Path)
		}
	}
	src, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(src)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("README.md: no %q … %q markers around the package map", begin+" -->", end+" -->")
	}
	i += strings.Index(doc[i:], "\n") + 1
	got := doc[:i] + Markdown(pkgs) + doc[j:]
	if *update {
		if err := os.WriteFile("../../README.md", []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got != doc {
		t.Errorf("README.md: the package map is stale: go test ./internal/pkgmap -update")
	}
}

func TestReduceAndPurpose(t *testing.T) {
	pkgs := []Package{
		{Path: "a", Imports: []string{"b", "c"}},
		{Path: "b", Imports: []string{"c"}},
		{Path: "c", Doc: "Package c is the bottom layer (c for cellar), so that nothing is below: it imports nothing."},
	}
	r := Reduce(pkgs)
	if strings.Join(r[0].Imports, ",") != "b" || strings.Join(r[1].Imports, ",") != "c" {
		t.Errorf("Reduce: a imports %v, b imports %v; want a → b, b → c", r[0].Imports, r[1].Imports)
	}
	if got := Purpose(pkgs[2]); got != "the bottom layer" {
		t.Errorf("Purpose = %q", got)
	}
	md := Markdown(pkgs)
	if !strings.Contains(md, "  a[a] --> b[b]\n") || strings.Contains(md, "a[a] --> c[c]") || !strings.Contains(md, "| `a` |  | `b`, `c` |") {
		t.Errorf("Markdown:\n%s", md)
	}
}
