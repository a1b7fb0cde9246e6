package main

import (
	"bytes"
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// eachFlag calls fn for every flag of every command of the tree (local and
// inherited), with the command's path.
func eachFlag(root *cobra.Command, fn func(path string, f *pflag.Flag)) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.InitDefaultHelpFlag()
		c.Flags().VisitAll(func(f *pflag.Flag) { fn(c.CommandPath(), f) })
		c.InheritedFlags().VisitAll(func(f *pflag.Flag) { fn(c.CommandPath(), f) })
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// concepts: one flag name per concept everywhere; the other spellings may
// only be hidden, deprecated aliases.
var concepts = []struct {
	concept, name string
	synonyms      []string
}{
	{"audit events written as JSON lines", "events", []string{"audit-log", "audit", "event-log", "events-log", "audit-events"}},
	{"the admin API's bearer token", "admin-token", []string{"token", "api-token", "admin-api-token"}},
	{"more output", "verbose", []string{"debug", "verbosity", "loud"}},
	{"less output", "quiet", []string{"silent", "silence"}},
	{"rules beside the built-in pack", "rules", []string{"rule", "rules-dir", "rule-dir", "pack", "rules-path"}},
	{"a placeholder of the rules", "placeholder", []string{"placeholders", "var", "set"}},
	{"the corpus seed", "seed", []string{"corpus-seed", "random-seed"}},
	{"the JSON output", "json", []string{"json-out", "json-report", "output-json"}},
}

// TestFlagConventions walks the command tree: a flag name means one
// thing everywhere (one value type, one shorthand), -v is --verbose and
// -q is --quiet wherever they exist, and each concept above has one
// visible name: its other spellings are hidden deprecated aliases.
func TestFlagConventions(t *testing.T) {
	root := newRootCmd()
	type use struct{ typ, short, path string }
	seen := map[string]use{}
	deprecated := map[string][]string{}
	eachFlag(root, func(path string, f *pflag.Flag) {
		if f.Deprecated != "" {
			assert.True(t, f.Hidden, "%s --%s: a deprecated alias is hidden", path, f.Name)
			deprecated[f.Name] = append(deprecated[f.Name], path)
			return
		}
		if prev, ok := seen[f.Name]; ok {
			assert.Equal(t, prev.typ, f.Value.Type(), "--%s is a %s in %s but a %s in %s", f.Name, prev.typ, prev.path, f.Value.Type(), path)
			if prev.short != "" && f.Shorthand != "" {
				assert.Equal(t, prev.short, f.Shorthand, "--%s: -%s in %s but -%s in %s", f.Name, prev.short, prev.path, f.Shorthand, path)
			}
		} else {
			seen[f.Name] = use{f.Value.Type(), f.Shorthand, path}
		}
		switch f.Shorthand {
		case "v":
			assert.Equal(t, "verbose", f.Name, "%s: -v", path)
		case "q":
			assert.Equal(t, "quiet", f.Name, "%s: -q", path)
		}
		switch f.Name {
		case "verbose":
			assert.Equal(t, "v", f.Shorthand, "%s --verbose", path)
			assert.Equal(t, "bool", f.Value.Type(), "%s --verbose", path)
		case "quiet":
			assert.Equal(t, "q", f.Shorthand, "%s --quiet", path)
			assert.Equal(t, "bool", f.Value.Type(), "%s --quiet", path)
		}
	})
	for _, c := range concepts {
		require.Contains(t, seen, c.name, "%s: --%s exists", c.concept, c.name)
		for _, s := range c.synonyms {
			_, visible := seen[s]
			assert.False(t, visible, "%s is --%s: --%s may only be a hidden deprecated alias", c.concept, c.name, s)
		}
	}
	// The spellings of before: still accepted where they were.
	assert.ElementsMatch(t, []string{"maildrill serve"}, deprecated["audit-log"])
	assert.ElementsMatch(t, []string{"maildrill detect"}, deprecated["token"])
}

// TestDeprecatedAliasesStillWork: an old spelling sets the same value as
// the new one, and says which to use.
func TestDeprecatedAliasesStillWork(t *testing.T) {
	var errb bytes.Buffer
	cmd := newServeCmd()
	cmd.Flags().SetOutput(&errb)
	require.NoError(t, cmd.ParseFlags([]string{"--audit-log", "old.jsonl"}))
	assert.Equal(t, "old.jsonl", cmd.Flags().Lookup("events").Value.String())
	assert.Contains(t, errb.String(), "use --events")
	cmd = newDetectCmd()
	cmd.Flags().SetOutput(&errb)
	require.NoError(t, cmd.ParseFlags([]string{"--token", "s3cret"}))
	assert.Equal(t, "s3cret", cmd.Flags().Lookup("admin-token").Value.String())
	assert.Contains(t, errb.String(), "use --admin-token")

	// rules list --json alone prints to stdout, as it always did.
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"rules", "list", "--json"}, &out, &errb))
	assert.True(t, strings.HasPrefix(out.String(), "["), out.String()[:min(40, out.Len())])
}

// TestHelpListsEveryCommand: the command names a user meets in the help.
func TestHelpListsEveryCommand(t *testing.T) {
	var out, errb bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"--help"}, &out, &errb))
	var names []string
	for _, c := range newRootCmd().Commands() {
		names = append(names, c.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		assert.Contains(t, out.String(), n)
	}
}

// TestRulesFlagsEverywhere: every command that judges with rules takes
// the same rule flags.
func TestRulesFlagsEverywhere(t *testing.T) {
	root := newRootCmd()
	for _, path := range [][]string{{"run"}, {"test"}, {"replay"}, {"validate"}, {"detect"}, {"rules", "eval"}} {
		cmd, _, err := root.Find(path)
		require.NoError(t, err, path)
		for name, typ := range map[string]string{"rules": "stringArray", "no-pack": "bool", "rules-config": "string", "placeholder": "stringArray"} {
			f := cmd.Flags().Lookup(name)
			if assert.NotNil(t, f, "%v --%s", path, name) {
				assert.Equal(t, typ, f.Value.Type(), "%v --%s", path, name)
			}
		}
	}
}
