package scenarios

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every library scenario names only what its organisation has.
func TestResolveOrgLibrary(t *testing.T) {
	lib, err := Library()
	require.NoError(t, err)
	require.NotEmpty(t, lib)
	for _, sc := range lib {
		assert.NoError(t, ResolveOrg(sc, sc.Env.Seed), sc.ID)
	}
}

func orgScenario(t *testing.T, creds, steps string) *Scenario {
	t.Helper()
	sc, err := Parse("o.yaml", []byte(`id: o
title: o
environment: {seed: 7, users: 12, messages: 2, start: 2025-12-11T07:00:00+01:00, duration: 30m}
actors:
  - id: a
    kind: attacker
    credentials: `+creds+`
    steps:
`+steps))
	require.NoError(t, err)
	return sc
}

// Names of accounts, folders, file types and recipients are resolved
// against the organisation the seed generates, each error at its value
// with the nearest name.
func TestResolveOrg(t *testing.T) {
	for _, ok := range []string{
		"      - {login: {}}\n      - {examine: INBOX}\n      - {download_attachments: {types: [pdf, XLSX, .csv]}}\n",
		"      - {examine: \"@director/INBOX\"}\n      - {examine: \"@director\"}\n      - {search: {mailbox: \"@secretariat/Sent\"}}\n",
		"      - {login: {user: director}}\n      - {select: Archive}\n      - {move: {mailbox: INBOX, name: Trash}}\n",
		"      - {send: {to: [someone@outside.example]}}\n",
		"      - {spray: {users: 12}}\n      - {spray: {users: all}}\n",
		"      - {forward: {to: [x@outside.example]}}\n      - {download_attachments: {types: [eml]}}\n",
	} {
		require.NoError(t, ResolveOrg(orgScenario(t, "{user: secretariat}", ok), 7), ok)
	}
	for _, c := range []struct{ creds, steps, want string }{
		{"{user: secretaryat}", "      - logout\n",
			`o.yaml:7:25: credentials user: no account "secretaryat" in the organisation of seed 7 (12 people, 6 shared mailboxes) (did you mean "secretariat"?)`},
		{"{user: secretariat}", "      - {download_attachments: {types: [pdf, pdff]}}\n",
			`o.yaml:9:46: download_attachments types: no attachment of the organisation's mail is of type "pdff" (did you mean "pdf"?; known types: csv, docx, pdf, xlsx, zip)`},
		{"{user: secretariat}", "      - {examine: \"@directr/INBOX\"}\n",
			`o.yaml:9:19: examine mailbox "@directr/INBOX": no account "directr" in the organisation of seed 7 (12 people, 6 shared mailboxes) (did you mean "director"?)`},
		{"{user: secretariat}", "      - {examine: \"@director/INBX\"}\n",
			`o.yaml:9:19: examine mailbox "@director/INBX": herve.perrot@interieur.test (director) has no folder "INBX" (did you mean "INBOX"?)`},
		{"{user: secretariat}", "      - {search: {mailbox: Snt}}\n",
			`o.yaml:9:28: search mailbox "Snt": lucie.jean@interieur.test (secretariat) has no folder "Snt" (did you mean "Sent"?)`},
		{"{user: secretariat}", "      - {brute_force: {user: directeur}}\n",
			`o.yaml:9:30: brute_force user: no account "directeur" in the organisation of seed 7 (12 people, 6 shared mailboxes) (did you mean "director"?)`},
		{"{user: secretariat}", "      - {login: {user: nobody}}\n",
			`o.yaml:9:24: login user: no account "nobody" in the organisation of seed 7 (12 people, 6 shared mailboxes) (give an address, a local part or a role: `},
		{"{user: secretariat}", "      - {spray: {users: 13}}\n",
			`o.yaml:9:25: spray users: 13, but the organisation of seed 7 has 12 people (environment.users) (at most 12, or users: all)`},
		{"{user: secretariat}", "      - {send: {to: [ghost@interieur.test]}}\n",
			`o.yaml:9:22: send to: "ghost@interieur.test" is at the organisation's domain but names no account of seed 7`},
		{"{user: secretariat}", "      - {move: {mailbox: INBOX, name: Archive/1999}}\n",
			`o.yaml:9:39: move name "Archive/1999": lucie.jean@interieur.test (secretariat) has no folder "Archive/1999" (did you mean "Archive/2025"?)`},
		{"{user: secretariat}", "      - {examine: Users/nobody/INBOX}\n",
			`o.yaml:9:19: examine mailbox "Users/nobody/INBOX": no account "nobody" in the Users namespace`},
		{"{list: [{user: nobody, password: x}, {user: ghost, password: y}]}", "      - {login: {}}\n",
			`o.yaml:7:33: credentials list: no entry names an account of the organisation of seed 7`},
	} {
		err := ResolveOrg(orgScenario(t, c.creds, c.steps), 7)
		require.Error(t, err, c.steps)
		var es Errors
		require.True(t, errors.As(err, &es), "positioned: %v", err)
		assert.Contains(t, err.Error(), c.want)
	}
	// A stolen list may hold wrong users: one right one is enough.
	require.NoError(t, ResolveOrg(orgScenario(t, "{list: [{user: nobody, password: x}, {user: director, password: y}]}", "      - {login: {}}\n      - {examine: INBOX}\n"), 7))
}

// BenchmarkResolveOrg measures what resolving a scenario's names costs
// before a run: generating the organisation's directory and looking the
// names up, for the flagship scenario (40 users) and for 10,000 users.
//
//	go test ./scenarios -run X -bench ResolveOrg
func BenchmarkResolveOrg(b *testing.B) {
	base, err := Load("ministry-overnight")
	if err != nil {
		b.Fatal(err)
	}
	for _, users := range []int{base.Env.Users, 10000} {
		sc := *base
		sc.Env.Users = users
		b.Run(fmt.Sprintf("users=%d", users), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if err := ResolveOrg(&sc, sc.Env.Seed); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
