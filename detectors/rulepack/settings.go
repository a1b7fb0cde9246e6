package rulepack

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/maildrill/maildrill/detectors"
	"github.com/maildrill/maildrill/detectors/yamlsafe"
)

// File is the name of a rule pack's configuration file, at the root of
// the pack's directory (detectors.File: loaders and lint skip it).
const File = detectors.PackFile

// Settings are the settings a rule pack declares in its File.
type Settings struct {
	TimeModifiers TimeModifierSettings `yaml:"time_modifiers"`
	// Placeholders are the values of the rules' %name% placeholders, over
	// the defaults (DefaultPlaceholders), e.g. office_networks: [10.0.0.0/8].
	Placeholders map[string][]string `yaml:"placeholders"`
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
func (s Settings) Location() (*time.Location, error) {
	if s.TimeModifiers.Timezone == "" {
		return nil, nil
	}
	loc, err := time.LoadLocation(s.TimeModifiers.Timezone)
	if err != nil {
		return nil, fmt.Errorf("time_modifiers.timezone %q: %w", s.TimeModifiers.Timezone, err)
	}
	return loc, nil
}

// ReadSettings reads root/File of fsys within the YAML limits l.
// found is false (and the settings zero) when the pack has no such file.
// Unknown keys and unknown time zones are errors naming the file.
func ReadSettings(fsys fs.FS, root string, l yamlsafe.Limits) (s Settings, found bool, err error) {
	name := path.Join(root, File)
	data, err := yamlsafe.ReadFS(fsys, name, l)
	if errors.Is(err, fs.ErrNotExist) {
		return Settings{}, false, nil
	}
	if err != nil {
		return Settings{}, true, fmt.Errorf("%s: %w", name, err)
	}
	s, err = ParseSettings(data, l)
	if err != nil {
		return Settings{}, true, fmt.Errorf("%s: %w", name, err)
	}
	return s, true, nil
}

// ParseSettings parses the content of a File within the YAML limits
// l; unknown keys are refused.
func ParseSettings(data []byte, l yamlsafe.Limits) (Settings, error) {
	var s Settings
	if _, err := yamlsafe.Parse(data, l); err != nil {
		return s, err
	}
	data, _ = yamlsafe.Text(data) // Parse has refused what Text refuses
	if err := yaml.UnmarshalWithOptions(data, &s, yaml.DisallowUnknownField()); err != nil {
		return Settings{}, fmt.Errorf("%s (known keys: time_modifiers.timezone, placeholders)", yaml.FormatError(err, false, false))
	}
	if _, err := s.Location(); err != nil {
		return Settings{}, err
	}
	for name, vals := range s.Placeholders {
		if name == "" || strings.Trim(name, "%") != name {
			return Settings{}, fmt.Errorf("placeholders: name %q: want a bare name (office_networks, not %%office_networks%%)", name)
		}
		if len(vals) == 0 {
			return Settings{}, fmt.Errorf("placeholders.%s: want at least one value", name)
		}
	}
	return s, nil
}

// ConfigFS returns the configuration for the pack at root in fsys: the
// maildrill logsources, the ministry placeholders, and the time zone of the
// pack's File (none, the value as written, without that file). found
// says whether the pack has a File.
func ConfigFS(fsys fs.FS, root string) (cfg detectors.Config, found bool, err error) {
	s, found, err := ReadSettings(fsys, root, yamlsafe.Limits{})
	if err != nil {
		return detectors.Config{}, found, err
	}
	loc, _ := s.Location() // checked by ReadSettings
	ph := DefaultPlaceholders()
	for name, vals := range s.Placeholders {
		ph[name] = vals
	}
	return detectors.Config{Placeholders: ph, Location: loc}, found, nil
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
