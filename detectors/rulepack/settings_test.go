package rulepack

import (
	"fmt"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/detectors"
	"github.com/maildrill/maildrill/detectors/sigma"
	"github.com/maildrill/maildrill/detectors/yamlsafe"
)

// hourFires reports whether a rule '@timestamp|hour: hour' fires on an
// event at ts (RFC 3339, as written in the JSON line) under cfg.
func hourFires(t *testing.T, cfg detectors.Config, hour int, ts string) bool {
	t.Helper()
	rule := fmt.Sprintf("title: hour %d\nid: h%d\nlogsource: {product: maildrill}\ndetection:\n  sel:\n    '@timestamp|hour': %d\n  condition: sel\n", hour, hour, hour)
	rules, errs := detectors.ParseRules("h.yml", []byte(rule))
	require.Empty(t, errs)
	eng, err := detectors.NewEngine(rules, cfg)
	require.NoError(t, err)
	ev, err := detectors.ParseJSONEvent([]byte(`{"@timestamp":"`+ts+`","event.id":"e1","event.action":"imap.login"}`), detectors.JSONOptions{})
	require.NoError(t, err)
	return len(eng.Process(ev))+len(eng.Flush()) > 0
}

// The Sigma specification: time modifiers take the value as written, with
// no time-zone conversion. That is the engine's default (Location nil).
func TestTimeModifiersAsWrittenByDefault(t *testing.T) {
	var def detectors.Config
	assert.True(t, hourFires(t, def, 21, "2025-12-11T21:59:59Z"))
	assert.False(t, hourFires(t, def, 22, "2025-12-11T21:59:59Z"))
	assert.True(t, hourFires(t, def, 22, "2025-12-11T22:59:59+01:00"), "the event's own offset")
	assert.False(t, hourFires(t, def, 21, "2025-12-11T22:59:59+01:00"), "not converted to UTC")
}

// The built-in pack reads office hours in Europe/Paris, and says so in its
// pack.yml.
func TestPackTimeZoneIsExplicit(t *testing.T) {
	s, found, err := ReadSettings(FS(), ".", yamlsafe.Limits{})
	require.NoError(t, err)
	require.True(t, found, "rules/pack.yml")
	assert.Equal(t, "Europe/Paris", s.TimeModifiers.Timezone)
	cfg := Config()
	require.NotNil(t, cfg.Location)
	assert.Equal(t, "Europe/Paris", cfg.Location.String())
	assert.True(t, hourFires(t, cfg, 22, "2025-12-11T21:59:59Z"), "21:59:59Z is 22:59:59 in Paris")
	assert.False(t, hourFires(t, cfg, 21, "2025-12-11T21:59:59Z"))
	assert.Equal(t, "Europe/Paris (pack.yml)", TimeModifiersText(cfg.Location, File))
	assert.Equal(t, "as written (no time-zone conversion)", TimeModifiersText(nil, File))
}

func TestConfigFS(t *testing.T) {
	rule := []byte("title: r\nlogsource: {product: maildrill}\ndetection:\n  sel:\n    a: b\n  condition: sel\n")
	t.Run("no pack.yml: as written", func(t *testing.T) {
		cfg, found, err := ConfigFS(fstest.MapFS{"r.yml": {Data: rule}}, ".")
		require.NoError(t, err)
		assert.False(t, found)
		assert.Nil(t, cfg.Location)
		assert.Equal(t, DefaultPlaceholders(), cfg.Placeholders)
	})
	t.Run("timezone", func(t *testing.T) {
		fsys := fstest.MapFS{"r.yml": {Data: rule}, "pack.yml": {Data: []byte("time_modifiers:\n  timezone: America/New_York\n")}}
		cfg, found, err := ConfigFS(fsys, ".")
		require.NoError(t, err)
		assert.True(t, found)
		require.NotNil(t, cfg.Location)
		assert.Equal(t, "America/New_York", cfg.Location.String())
		rules, errs := detectors.LoadFS(fsys, ".")
		assert.Empty(t, errs, "pack.yml is not a rule")
		assert.Len(t, rules, 1)
	})
	t.Run("empty timezone: as written", func(t *testing.T) {
		cfg, _, err := ConfigFS(fstest.MapFS{"pack.yml": {Data: []byte("time_modifiers:\n  timezone: ''\n")}}, ".")
		require.NoError(t, err)
		assert.Nil(t, cfg.Location)
	})
	for name, bad := range map[string]struct{ data, want string }{
		"unknown key":     {"time_modifiers:\n  timezone: UTC\n  tz: UTC\n", "unknown field \"tz\""},
		"unknown section": {"timezones: UTC\n", "unknown field \"timezones\""},
		"unknown zone":    {"time_modifiers:\n  timezone: Mars/Olympus\n", "Mars/Olympus"},
		"nesting bomb":    {"time_modifiers: " + nested(100) + "\n", "nesting deeper"},
	} {
		t.Run(name, func(t *testing.T) {
			_, found, err := ConfigFS(fstest.MapFS{"pack.yml": {Data: []byte(bad.data)}}, ".")
			require.Error(t, err)
			assert.True(t, found)
			assert.Contains(t, err.Error(), "pack.yml")
			assert.Contains(t, err.Error(), bad.want)
		})
	}
}

// A pack.yml below the root is not the pack's settings: it is loaded as a
// rule file (and refused as one here).
func TestFileOnlyAtRoot(t *testing.T) {
	_, errs := detectors.LoadFS(fstest.MapFS{"sub/pack.yml": {Data: []byte("time_modifiers:\n  timezone: UTC\n")}}, ".")
	require.NotEmpty(t, errs)
	var se *sigma.Error
	assert.ErrorAs(t, errs[0], &se)
}

func nested(n int) string {
	s := ""
	for range n {
		s += "["
	}
	for range n {
		s += "]"
	}
	return s
}

// Pack settings saved with a UTF-8 byte order mark read as without one.
func TestSettingsWithByteOrderMark(t *testing.T) {
	s, err := ParseSettings([]byte("\xEF\xBB\xBFtime_modifiers: {timezone: Europe/Paris}\n"), yamlsafe.Limits{})
	require.NoError(t, err)
	assert.Equal(t, "Europe/Paris", s.TimeModifiers.Timezone)
}
