package rulepack

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/detectors/sigma"
)

// layerRule is a minimal detection rule with id.
func layerRule(id, title string) string {
	return "title: " + title + "\nid: " + id + "\nlogsource: {product: maildrill, service: imap}\n" +
		"detection:\n  sel:\n    event.action: imap.login\n  condition: sel\nlevel: low\n"
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

func ids(rules []*sigma.Rule) map[string]bool {
	m := map[string]bool{}
	for _, r := range rules {
		m[r.ID] = true
	}
	return m
}

func TestLoadLayersAddsToThePack(t *testing.T) {
	builtIn, err := Load("")
	require.NoError(t, err)
	a, b := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(a, "one.yml"), layerRule("11111111-0000-0000-0000-000000000001", "Layer A"))
	writeFile(t, filepath.Join(b, "sub", "two.yml"), layerRule("22222222-0000-0000-0000-000000000002", "Layer B"))

	p, err := LoadLayers(Layers{Paths: []string{a, b}})
	require.NoError(t, err)
	require.Len(t, p.Rules, len(builtIn.Rules)+2, "both layers add to the built-in pack")
	got := ids(p.Rules)
	assert.True(t, got["11111111-0000-0000-0000-000000000001"])
	assert.True(t, got["22222222-0000-0000-0000-000000000002"])
	for _, r := range builtIn.Rules {
		assert.True(t, got[r.ID], "built-in rule %s kept", r.ID)
	}
	assert.Equal(t, "Europe/Paris", p.Config.Location.String(), "the built-in pack's pack.yml still applies")
	assert.False(t, p.BuiltIn)

	p, err = LoadLayers(Layers{Paths: []string{a, filepath.Join(b, "sub", "two.yml")}, NoPack: true})
	require.NoError(t, err)
	assert.Len(t, p.Rules, 2, "--no-pack: only the given rules")
	assert.Nil(t, p.Config.Location, "no pack.yml anywhere: times as written")

	p, err = LoadLayers(Layers{})
	require.NoError(t, err)
	assert.True(t, p.BuiltIn)
	assert.Len(t, p.Rules, len(builtIn.Rules))
}

func TestLoadLayersNoPackNeedsRules(t *testing.T) {
	_, err := LoadLayers(Layers{NoPack: true})
	var le *LayerError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "NoPack", le.Field)
	assert.Contains(t, err.Error(), "--rules")
}

func TestLoadLayersDuplicateIDNamesBothFiles(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(a, "one.yml"), layerRule("33333333-0000-0000-0000-000000000003", "First"))
	writeFile(t, filepath.Join(b, "other.yml"), layerRule("33333333-0000-0000-0000-000000000003", "Second"))
	_, err := LoadLayers(Layers{Paths: []string{a, b}})
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, "33333333-0000-0000-0000-000000000003")
	assert.Contains(t, msg, filepath.Join(a, "one.yml")+":1:1")
	assert.Contains(t, msg, filepath.Join(b, "other.yml")+":1:1")

	// Against the built-in pack: its file is named as the pack's.
	builtIn, err := Load("")
	require.NoError(t, err)
	r := builtIn.Rules[0]
	writeFile(t, filepath.Join(a, "one.yml"), layerRule(r.ID, "Copy"))
	_, err = LoadLayers(Layers{Paths: []string{a}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), BuiltInLabel+"/"+r.File)
	assert.Contains(t, err.Error(), filepath.Join(a, "one.yml"))
	// ... and is fine without it.
	_, err = LoadLayers(Layers{Paths: []string{a}, NoPack: true})
	require.NoError(t, err)
}

func TestLoadLayersConfiguration(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(a, "one.yml"), strings.Replace(layerRule("44444444-0000-0000-0000-000000000004", "A"),
		"  condition: sel\n", "  vpn:\n    source.ip|cidr|expand: '%vpn%'\n  condition: sel and not vpn\n", 1))
	writeFile(t, filepath.Join(a, File), "placeholders:\n  office_networks: [192.168.0.0/16]\n  vpn: [10.9.0.0/16]\n")
	writeFile(t, filepath.Join(b, "two.yml"), layerRule("55555555-0000-0000-0000-000000000005", "B"))
	writeFile(t, filepath.Join(b, File), "time_modifiers: {timezone: UTC}\n")

	p, err := LoadLayers(Layers{Paths: []string{a, b}})
	require.NoError(t, err)
	assert.Equal(t, []string{"192.168.0.0/16"}, p.Config.Placeholders["office_networks"], "a layer's pack.yml sets placeholders")
	assert.Equal(t, []string{"10.9.0.0/16"}, p.Config.Placeholders["vpn"])
	assert.Equal(t, []string{"interieur.test"}, p.Config.Placeholders["internal_domains"], "the others keep their defaults")
	assert.Equal(t, "UTC", p.Config.Location.String(), "a layer's time zone overrides the built-in pack's")
	assert.Equal(t, File, p.Settings)

	// Two layers that disagree on the zone: an error naming both files.
	c := t.TempDir()
	writeFile(t, filepath.Join(c, "three.yml"), layerRule("66666666-0000-0000-0000-000000000006", "C"))
	writeFile(t, filepath.Join(c, File), "time_modifiers: {timezone: Asia/Tokyo}\n")
	_, err = LoadLayers(Layers{Paths: []string{b, c}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join(b, File))
	assert.Contains(t, err.Error(), filepath.Join(c, File))

	// The configuration file and the placeholders override, in that order.
	cfgFile := filepath.Join(t.TempDir(), "staging.yml")
	writeFile(t, cfgFile, "time_modifiers: {timezone: America/New_York}\nplaceholders:\n  office_networks: [172.16.0.0/12]\n  vpn: [10.8.0.0/16]\n")
	p, err = LoadLayers(Layers{Paths: []string{a, b}, ConfigFile: cfgFile, Placeholders: []string{"%vpn%=10.7.0.0/16,10.6.0.0/16"}})
	require.NoError(t, err)
	assert.Equal(t, "America/New_York", p.Config.Location.String())
	assert.Equal(t, []string{"172.16.0.0/12"}, p.Config.Placeholders["office_networks"])
	assert.Equal(t, []string{"10.7.0.0/16", "10.6.0.0/16"}, p.Config.Placeholders["vpn"])
	assert.Equal(t, cfgFile, p.Settings)
}

func TestLoadLayersBadInput(t *testing.T) {
	a := t.TempDir()
	writeFile(t, filepath.Join(a, "one.yml"), layerRule("77777777-0000-0000-0000-000000000007", "A"))
	bad := filepath.Join(t.TempDir(), "bad.yml")
	writeFile(t, bad, "time_modifiers: {timezone: Mars/Olympus}\n")
	unknown := filepath.Join(t.TempDir(), "unknown.yml")
	writeFile(t, unknown, "timezone: UTC\n")
	for _, tc := range []struct {
		name  string
		l     Layers
		field string
		want  string
	}{
		{"missing path", Layers{Paths: []string{filepath.Join(a, "nope")}}, "Paths", "nope"},
		{"bad zone", Layers{ConfigFile: bad}, "ConfigFile", "Mars/Olympus"},
		{"unknown key", Layers{ConfigFile: unknown}, "ConfigFile", "known keys"},
		{"missing config", Layers{ConfigFile: filepath.Join(a, "absent.yml")}, "ConfigFile", "absent.yml"},
		{"placeholder without =", Layers{Placeholders: []string{"office_networks"}}, "Placeholders", "NAME=VALUE"},
		{"placeholder without value", Layers{Placeholders: []string{"office_networks="}}, "Placeholders", "NAME=VALUE"},
		{"placeholder no rule uses", Layers{Placeholders: []string{"office_network=10.0.0.0/8"}}, "Placeholders",
			"no rule loaded uses %office_network% (the rules use %internal_domains%, %office_networks%)"},
		{"placeholder of a pack left out", Layers{NoPack: true, Paths: []string{a}, Placeholders: []string{"office_networks=10.0.0.0/8"}}, "Placeholders",
			"no rule loaded uses %office_networks% (the rules loaded use none)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadLayers(tc.l)
			var le *LayerError
			require.True(t, errors.As(err, &le), "%v", err)
			assert.Equal(t, tc.field, le.Field)
			assert.True(t, strings.Contains(err.Error(), tc.want), "%v", err)
		})
	}
}
