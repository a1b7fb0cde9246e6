package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim/corpus"
)

var (
	userVal    = regexp.MustCompile(`\buser:\s*`)
	mailboxVal = regexp.MustCompile(`\b(?:mailbox|examine|select):\s*`)
	typesVal   = regexp.MustCompile(`\btypes:\s*\[`)
	nameChars  = regexp.MustCompile(`^[A-Za-z0-9._@-]+`)
)

// double writes s with its middle letter doubled: a typo one edit away.
func double(s string) string {
	mid := len(s) / 2
	return s[:mid] + s[mid:mid+1] + s[mid:]
}

// misspellNames writes, for every library scenario, one copy per name of
// the organisation it uses — each account or role (credentials and step
// users), each mailbox's account and folder, each file type — with that
// one misspelt, and where the error must point: the value.
func misspellNames(t *testing.T) []misspelling {
	t.Helper()
	files, err := filepath.Glob("../../scenarios/library/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	dir := t.TempDir()
	var out []misspelling
	for _, f := range files {
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		lines := strings.Split(string(src), "\n")
		base := strings.TrimSuffix(filepath.Base(f), ".yaml")
		add := func(i, col, start, end int, what string) {
			l := lines[i]
			mod := append([]string(nil), lines...)
			mod[i] = l[:start] + double(l[start:end]) + l[end:]
			p := filepath.Join(dir, fmt.Sprintf("%s-%d-%d.yaml", base, i+1, start))
			require.NoError(t, os.WriteFile(p, []byte(strings.Join(mod, "\n")), 0o644))
			out = append(out, misspelling{name: fmt.Sprintf("%s:%d", base, i+1), path: p, line: i + 1, col: col, what: what})
		}
		inActors := false
		for i, l := range lines {
			inActors = inActors && !strings.HasPrefix(l, "expect:") || strings.HasPrefix(l, "actors:")
			if !inActors || strings.HasPrefix(strings.TrimSpace(l), "#") {
				continue
			}
			for _, m := range userVal.FindAllStringIndex(l, -1) {
				v := nameChars.FindString(l[m[1]:])
				if v != "" {
					add(i, m[1]+1, m[1], m[1]+len(v), "account "+v)
				}
			}
			for _, m := range mailboxVal.FindAllStringIndex(l, -1) {
				col, at := m[1]+1, m[1]
				if strings.HasPrefix(l[at:], `"`) {
					at++
				}
				if strings.HasPrefix(l[at:], "@") { // @who/folder: the account, then the folder
					who := nameChars.FindString(l[at+1:])
					require.NotEmpty(t, who, l)
					who = strings.SplitN(who, "/", 2)[0]
					add(i, col, at+1, at+1+len(who), "mailbox account "+who)
					at += 1 + len(who)
					if !strings.HasPrefix(l[at:], "/") {
						continue
					}
					at++
				}
				if folder := regexp.MustCompile(`^[A-Za-z0-9/]+`).FindString(l[at:]); folder != "" {
					add(i, col, at, at+len(folder), "folder "+folder)
				}
			}
			for _, m := range typesVal.FindAllStringIndex(l, -1) {
				at := m[1]
				for {
					for at < len(l) && (l[at] == ' ' || l[at] == ',') {
						at++
					}
					v := nameChars.FindString(l[at:])
					if v == "" {
						break
					}
					add(i, at+1, at, at+len(v), "type "+v)
					at += len(v)
				}
			}
		}
	}
	return out
}

// TestMisspeltNamesAreBadInput misspells, one at a time, every account
// or role, every mailbox's account and folder and every file type the
// library names: validate, run and test each refuse the scenario with exit
// 2 and the position of the misspelt value, before any run starts.
func TestMisspeltNamesAreBadInput(t *testing.T) {
	cases := misspellNames(t)
	count := map[string]int{}
	for _, c := range cases {
		count[strings.Fields(c.what)[0]]++
	}
	require.GreaterOrEqual(t, count["account"], 7, "every account of the library: %v", count)
	require.GreaterOrEqual(t, count["mailbox"], 5, "every @account mailbox of the library: %v", count)
	require.GreaterOrEqual(t, count["folder"], 8, "every folder of the library: %v", count)
	require.GreaterOrEqual(t, count["type"], 9, "every file type of the library: %v", count)
	for _, c := range cases {
		pos := fmt.Sprintf("%s:%d:%d: ", c.path, c.line, c.col)
		for _, args := range [][]string{
			{"validate", c.path},
			{"run", c.path, "--corpus-cache", "off"},
			{"test", c.path, "--corpus-cache", "off"},
		} {
			var out, errb bytes.Buffer
			err := run(context.Background(), args, &out, &errb)
			require.Error(t, err, "%s (%s): %s accepted it", c.name, c.what, args[0])
			assert.Equal(t, exitBadInput, exitCode(err, &errb), "%s (%s): %s", c.name, c.what, args[0])
			assert.Contains(t, errb.String(), pos, "%s (%s): %s names the position", c.name, c.what, args[0])
			for _, s := range []string{"MET", "MISSED", "▶", "expectations met"} {
				assert.NotContains(t, out.String()+errb.String(), s, "%s (%s): %s started a run", c.name, c.what, args[0])
			}
		}
	}
}

// TestMisspeltAccountAndType are the symptoms: credentials: {user:
// secretaryat} and types: [pdff] validated, and failed or silently did
// nothing hours into the scenario. validate, run and test refuse them with
// the position and the name meant.
func TestMisspeltAccountAndType(t *testing.T) {
	acc := libraryWith(t, "insider-delegated", "credentials: {user: secretariat}", "credentials: {user: secretaryat}")
	typ := libraryWith(t, "smtp-exfiltration", "types: [pdf, xlsx, csv, docx]", "types: [pdff, xlsx, csv, docx]")
	for _, c := range []struct{ path, want string }{
		{acc, acc + `:33:25: credentials user: no account "secretaryat" in the organisation of seed 14 (25 people, 6 shared mailboxes) (did you mean "secretariat"?)`},
		{typ, typ + `:36:56: download_attachments types: no attachment of the organisation's mail is of type "pdff" (did you mean "pdf"?; known types: csv, docx, pdf, xlsx, zip)`},
	} {
		for _, args := range [][]string{
			{"validate", c.path},
			{"run", c.path, "--corpus-cache", "off"},
			{"test", c.path, "--corpus-cache", "off"},
		} {
			var out, errb bytes.Buffer
			err := run(context.Background(), args, &out, &errb)
			assert.Equal(t, exitBadInput, exitCode(err, &errb), "%v", args)
			assert.Contains(t, errb.String(), c.want, "%v", args)
			assert.NotContains(t, out.String()+errb.String(), "▶", "%v: no run started", args)
		}
	}
}

// TestValidateSeed: validate --seed resolves against the organisation of
// another seed, as run --seed and test --seed run against it: a role the
// scenario's own seed has may be missing from another's.
func TestValidateSeed(t *testing.T) {
	var out, errb bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"validate", "smtp-exfiltration"}, &out, &errb), errb.String())
	for _, cmd := range []string{"validate", "run", "test"} {
		errb.Reset()
		args := []string{cmd, "smtp-exfiltration", "--seed", "5"}
		if cmd != "validate" {
			args = append(args, "--corpus-cache", "off")
		}
		err := run(context.Background(), args, &out, &errb)
		assert.Equal(t, exitBadInput, exitCode(err, &errb), "%s --seed 5", cmd)
		assert.Contains(t, errb.String(), `credentials user: no account "analyst" in the organisation of seed 5`, "%s --seed 5", cmd)
	}
}

// TestReplayResolvesAgainstTheRecording: replay resolves the scenario's
// names against the organisation the recording was made with (its
// header's seed), not the one the scenario file names today.
func TestReplayResolvesAgainstTheRecording(t *testing.T) {
	dir := t.TempDir()
	brute := filepath.Join(suiteDir, "brute.yaml")
	events, truth := filepath.Join(dir, "ev.jsonl"), filepath.Join(dir, "tr.jsonl")
	var out, errb bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"run", brute, "-q", "--events", events, "--truth", truth, "--corpus-cache", "off"}, &out, &errb), errb.String())
	src, err := os.ReadFile(brute)
	require.NoError(t, err)

	// A person of seed 12's organisation whom seed 13's does not have.
	org12, err := corpus.New(corpus.Config{Seed: 12, Users: 8, MessagesPerUser: 10})
	require.NoError(t, err)
	org13, err := corpus.New(corpus.Config{Seed: 13, Users: 8, MessagesPerUser: 10})
	require.NoError(t, err)
	var local string
	for _, u := range org12.Users() {
		if _, ok := org13.Lookup(u.Address); !ok && u.Kind == "person" {
			local, _, _ = strings.Cut(u.Address, "@")
			break
		}
	}
	require.NotEmpty(t, local)
	edited := filepath.Join(dir, "brute-edited.yaml")
	mod := strings.Replace(strings.Replace(string(src), "seed: 12", "seed: 13", 1), "brute_force: {user: director", "brute_force: {user: "+local, 1)
	require.NoError(t, os.WriteFile(edited, []byte(mod), 0o644))

	// validate reads the file's seed, 13: no such account.
	errb.Reset()
	err = run(context.Background(), []string{"validate", edited}, &out, &errb)
	assert.Equal(t, exitBadInput, exitCode(err, &errb))
	assert.Contains(t, errb.String(), fmt.Sprintf(`%s:26:29: brute_force user: no account %q in the organisation of seed 13`, edited, local))
	// --seed 12 is the recording's organisation: it has the account.
	errb.Reset()
	require.NoError(t, run(context.Background(), []string{"validate", "--seed", "12", edited}, &out, &errb), errb.String())
	// replay --force of the recording (seed 12) resolves against seed 12.
	errb.Reset()
	err = run(context.Background(), []string{"replay", "--events", events, "--truth", truth, "--force", edited}, &out, &errb)
	code := exitCode(err, &errb)
	assert.True(t, code == exitOK || code == exitFailed, "judged: exit %d: %s", code, errb.String())

	// A misspelt folder is refused by replay too, with its position.
	typo := filepath.Join(dir, "brute-typo.yaml")
	require.NoError(t, os.WriteFile(typo, []byte(strings.Replace(string(src), "examine: INBOX", "examine: INBX", 1)), 0o644))
	errb.Reset()
	err = run(context.Background(), []string{"replay", "--events", events, "--truth", truth, "--force", typo}, &out, &errb)
	assert.Equal(t, exitBadInput, exitCode(err, &errb))
	assert.Contains(t, errb.String(), typo+`:28:18: examine mailbox "INBX": `)
}
