package scenarios

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
)

//go:embed library/*.yaml
var libraryFS embed.FS

// Library lists the built-in scenarios, parsed.
func Library() ([]*Scenario, error) {
	entries, err := fs.ReadDir(libraryFS, "library")
	if err != nil {
		return nil, err
	}
	var out []*Scenario
	for _, e := range entries {
		data, err := libraryFS.ReadFile(path.Join("library", e.Name()))
		if err != nil {
			return nil, err
		}
		sc, err := Parse("library/"+e.Name(), data)
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// LibrarySource returns a library scenario's YAML.
func LibrarySource(name string) ([]byte, error) {
	return libraryFS.ReadFile(path.Join("library", name+".yaml"))
}

// Load finds a scenario by file path or library name.
func Load(nameOrPath string) (*Scenario, error) {
	return LoadLimits(nameOrPath, Limits{})
}

// LoadLimits is Load with a file parsed within lim.
func LoadLimits(nameOrPath string, lim Limits) (*Scenario, error) {
	if strings.HasSuffix(nameOrPath, ".yaml") || strings.HasSuffix(nameOrPath, ".yml") || strings.Contains(nameOrPath, "/") {
		if _, err := os.Stat(nameOrPath); err == nil {
			return ParseFileLimits(nameOrPath, lim)
		}
	}
	data, err := LibrarySource(nameOrPath)
	if err != nil {
		lib, _ := Library()
		var names []string
		for _, s := range lib {
			names = append(names, s.ID)
		}
		if _, serr := os.Stat(nameOrPath); serr != nil && (strings.Contains(nameOrPath, "/") || strings.Contains(nameOrPath, ".")) {
			return nil, fmt.Errorf("%s: no such file, and not a library scenario", nameOrPath)
		}
		return nil, fmt.Errorf("no scenario %q: %s (library: %s)", nameOrPath, suggest(nameOrPath, names), strings.Join(names, ", "))
	}
	return Parse("library/"+nameOrPath+".yaml", data)
}
