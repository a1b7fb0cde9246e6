package scenarios

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const injectsBase = `id: drill
title: drill
actors:
  - id: a
    kind: attacker
    credentials: {user: director}
    steps:
      - {id: login, login: {}}
expect:
  - {rule: IMAP Login From Outside The Office Network, after: login, within: 10m}
`

// Injects parse with each kind of release and question.
func TestInjectsParse(t *testing.T) {
	sc, err := Parse("drill.yaml", []byte(injectsBase+`injects:
  - id: opening
    title: Night shift
    text: You are on call.
    release: {at: "+0s"}
  - id: after-login
    text: A user calls about a strange login.
    release: {after: login, delay: 5m}
    questions:
      - text: Who do you call first?
      - {id: sev, text: How severe?, choices: [low, high], answer: high}
  - id: alert
    text: An alert fired.
    release: {on_alert: "IMAP Login*"}
  - id: press
    text: The press calls.
    release: {no_alert: IMAP Bulk Attachment Download (count), by: "01:30"}
`))
	require.NoError(t, err)
	require.Len(t, sc.Injects, 4)
	assert.Equal(t, time.Duration(0), sc.Injects[0].Release.At.Offset)
	assert.Equal(t, "login", sc.Injects[1].Release.After)
	assert.Equal(t, 5*time.Minute, sc.Injects[1].Release.Delay)
	require.Len(t, sc.Injects[1].Questions, 2)
	assert.Equal(t, "q1", sc.Injects[1].Questions[0].ID)
	assert.Equal(t, []string{"low", "high"}, sc.Injects[1].Questions[1].Choices)
	assert.Equal(t, "high", sc.Injects[1].Questions[1].Answer)
	assert.Equal(t, "IMAP Login*", sc.Injects[2].Release.OnAlert)
	assert.True(t, sc.Injects[3].Release.By.IsClock)
	require.NoError(t, Resolve(sc, nil), "the rules the releases name exist")
}

// A broken inject is reported with its file:line:col and a hint; an
// unknown rule in a release is found by Resolve like an expectation's.
func TestInjectsErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{"injects: {id: x}\n", `drill.yaml:11:11: injects must be a list`},
		{"injects:\n  - {id: x, text: t}\n", `drill.yaml:12:6: inject "x" has no release`},
		{"injects:\n  - {id: x, text: t, release: {after: logn}}\n", `drill.yaml:12:39: inject "x" released after unknown step "logn" (did you mean "login"?)`},
		{"injects:\n  - {id: x, text: t, release: {at: \"+1h\", after: login}}\n", `drill.yaml:12:32: inject "x": a release needs exactly one condition, got 2`},
		{"injects:\n  - {id: x, text: t, release: {no_alert: r}}\n", `drill.yaml:12:32: release no_alert without by`},
		{"injects:\n  - {id: x, text: t, release: {at: \"+1h\"}, questions: [{text: q, choices: [a, b], answer: c}]}\n", `expected answer "c" is not one of the choices`},
		{"injects:\n  - {id: x, text: t, release: {at: \"+1h\"}, questoins: []}\n", `unknown key "questoins" in an inject (did you mean "questions"?)`},
		{"injects:\n  - {id: x, text: t, release: {at: \"+1h\"}}\n  - {id: x, text: u, release: {at: \"+2h\"}}\n", `duplicate inject id "x"`},
	}
	for _, c := range cases {
		_, err := Parse("drill.yaml", []byte(injectsBase+c.src))
		require.Error(t, err, c.src)
		assert.Contains(t, err.Error(), c.want, c.src)
	}
	sc, err := Parse("drill.yaml", []byte(injectsBase+"injects:\n  - {id: x, text: t, release: {on_alert: IMAP Logn From Tor}}\n"))
	require.NoError(t, err)
	err = Resolve(sc, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `drill.yaml:12:42: inject rule "IMAP Logn From Tor": no loaded rule has this id, name or title`)
}

// The fuzz corpus holds a scenario with injects.
func TestInjectsFuzzSeed(t *testing.T) {
	src := injectsBase + "injects:\n  - {id: x, text: t, release: {after: login, delay: 1m}, questions: [{text: q, choices: [a, b], answer: a}]}\n"
	p := filepath.Join("testdata", "fuzz", "FuzzParse", "injects")
	want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", src)
	if got, err := os.ReadFile(p); err != nil || string(got) != want {
		require.NoError(t, os.WriteFile(p, []byte(want), 0o644))
	}
	_, err := Parse("seed.yaml", []byte(src))
	require.NoError(t, err)
}
