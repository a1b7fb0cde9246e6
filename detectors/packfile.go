package detectors

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/maildrill/maildrill/detectors/yamlsafe"
)

// PackFile is the name of a rule pack's configuration file, at the root of
// the pack's directory. It is not a rule file: loaders and lint skip it.
const PackFile = "pack.yml"

// PackSettings are the settings a rule pack declares in its PackFile.
type PackSettings struct {
	TimeModifiers TimeModifierSettings `yaml:"time_modifiers"`
}

// TimeModifierSettings say how the Sigma time modifiers (|hour ...) read
// event times.
type TimeModifierSettings struct {
	// Timezone is an IANA time zone name (Europe/Paris) in which the
	// modifiers read event times. Empty: the value as written (the event's
	// own offset, no time-zone conversion), as the Sigma specification says.
	Timezone string `yaml:"timezone"`
}

// Location is the time zone of s (nil: the value as written).
func (s PackSettings) Location() (*time.Location, error) {
	if s.TimeModifiers.Timezone == "" {
		return nil, nil
	}
	loc, err := time.LoadLocation(s.TimeModifiers.Timezone)
	if err != nil {
		return nil, fmt.Errorf("time_modifiers.timezone %q: %w", s.TimeModifiers.Timezone, err)
	}
	return loc, nil
}

// isPackFile reports whether p (a path in a pack walked from root) is the
// pack's configuration file.
func isPackFile(root, p string) bool {
	return path.Clean(p) == path.Join(root, PackFile)
}

// ReadPackSettings reads root/PackFile of fsys within the YAML limits l.
// found is false (and the settings zero) when the pack has no such file.
// Unknown keys and unknown time zones are errors naming the file.
func ReadPackSettings(fsys fs.FS, root string, l yamlsafe.Limits) (s PackSettings, found bool, err error) {
	name := path.Join(root, PackFile)
	data, err := yamlsafe.ReadFS(fsys, name, l)
	if errors.Is(err, fs.ErrNotExist) {
		return PackSettings{}, false, nil
	}
	if err != nil {
		return PackSettings{}, true, fmt.Errorf("%s: %w", name, err)
	}
	s, err = ParsePackSettings(data, l)
	if err != nil {
		return PackSettings{}, true, fmt.Errorf("%s: %w", name, err)
	}
	return s, true, nil
}

// ParsePackSettings parses the content of a PackFile within the YAML limits
// l; unknown keys are refused.
func ParsePackSettings(data []byte, l yamlsafe.Limits) (PackSettings, error) {
	var s PackSettings
	if _, err := yamlsafe.Parse(data, l); err != nil {
		return s, err
	}
	if err := yaml.UnmarshalWithOptions(data, &s, yaml.DisallowUnknownField()); err != nil {
		return PackSettings{}, fmt.Errorf("%s (known keys: time_modifiers.timezone)", yaml.FormatError(err, false, false))
	}
	if _, err := s.Location(); err != nil {
		return PackSettings{}, err
	}
	return s, nil
}

// ConfigFS returns the configuration for the pack at root in fsys: the
// maildrill logsources, the ministry placeholders, and the time zone of the
// pack's PackFile (none, the value as written, without that file). found
// says whether the pack has a PackFile.
func ConfigFS(fsys fs.FS, root string) (cfg Config, found bool, err error) {
	s, found, err := ReadPackSettings(fsys, root, yamlsafe.Limits{})
	if err != nil {
		return Config{}, found, err
	}
	loc, _ := s.Location() // checked by ReadPackSettings
	return Config{Placeholders: DefaultPlaceholders(), Location: loc}, found, nil
}

// TimeModifiersText describes how the time modifiers of cfg read event
// times, for listings: "Europe/Paris (pack.yml)", or "as written (no
// time-zone conversion)". source says where the zone was set.
func TimeModifiersText(loc *time.Location, source string) string {
	if loc == nil {
		return "as written (no time-zone conversion)"
	}
	if source == "" {
		return loc.String()
	}
	return loc.String() + " (" + source + ")"
}
