package rulepack

import (
	"testing"

	"github.com/maildrill/maildrill/detectors/yamlsafe"
)

// FuzzParseSettings: any pack.yml content is parsed or refused with an
// error, never a panic; what parses has a loadable zone and named,
// non-empty placeholders.
func FuzzParseSettings(f *testing.F) {
	f.Add([]byte("time_modifiers:\n  timezone: Europe/Paris\n"))
	f.Add([]byte("placeholders:\n  office_networks: [10.0.0.0/8]\n"))
	f.Add([]byte("placeholders: {'%x%': [a]}\n"))
	f.Add([]byte("placeholders: {x: []}\n"))
	f.Add([]byte("timezone: UTC\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSettings(data, yamlsafe.Limits{})
		if err != nil {
			return
		}
		if _, err := s.Location(); err != nil {
			t.Fatalf("parsed settings with a bad zone: %v", err)
		}
		for name, vals := range s.Placeholders {
			if name == "" || len(vals) == 0 {
				t.Fatalf("parsed placeholder %q with values %v", name, vals)
			}
		}
	})
}
