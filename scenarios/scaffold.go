package scenarios

import (
	"bytes"
	"fmt"
	"text/template"
)

// scaffoldTmpl is the scenario `maildrill new scenario NAME` writes: a
// small organisation, a working day, a brute force at night and the
// expectations on it, each key commented. It validates as written.
var scaffoldTmpl = template.Must(template.New("scenario").Parse(`# {{.ID}}: a scenario scaffold. Edit it, then:
#   maildrill validate {{.ID}}.yaml    # every problem with file:line:col
#   maildrill run {{.ID}}.yaml         # replay it and judge the expectations
# The language: scenarios/README.md; the step kinds: maildrill list.
id: {{.ID}}
title: Brute force of the director's mailbox at night
description: What this scenario checks, in one sentence.
narrative: |
  22:10: a password list against the director's account, a few seconds
  apart, from outside the office network; then the attacker reads the inbox.
attack: [T1110.001, T1078]          # ATT&CK techniques, for the Navigator layer
environment:
  seed: 7                           # the synthetic organisation: same seed, same mailboxes
  users: 12
  messages: 20                      # per mailbox
  start: 2025-12-10T18:00:00+01:00  # scenario time: the clock starts here
  timezone: Europe/Paris
  duration: 6h
actors:
  - id: staff                       # ordinary activity beside the attack
    kind: staff
    staff: {count: 4, workday: "18:00-23:00", mail_per_day: 3}
  - id: attacker
    kind: attacker
    source: 198.51.100.23           # the attacker's address, as the server logs it
    pacing: {delay: 5s, jitter: 0.2}
    credentials: {from: brute_force}
    steps:
      - id: brute
        at: "22:10"
        brute_force: {user: director, attempts: 25, delay: 4s}
      - id: read
        examine: INBOX
      - fetch_headers: {limit: 10}
      - logout
expect:
  # Each expectation names a rule (id, name or title; maildrill rules list)
  # and the window in which it must fire.
  - rule: IMAP Brute Force Against One Account
    after: brute
    within: 5m
  - rule: IMAP Login From Outside The Office Network
    after: brute
    edge: end
    within: 1m
  # No rule may fire on the staff's evening before the attack.
  - must_not_fire: true
    from: 0m
    to: 4h
`))

// Scaffold is a new scenario file with the given id: a runnable example
// to edit, which validates as written against the built-in pack.
func Scaffold(id string) ([]byte, error) {
	if !idRe.MatchString(id) {
		return nil, fmt.Errorf("scenario name %q: want lower-case letters, digits, '-' and '_', starting with a letter or digit (e.g. night-brute-force)", id)
	}
	var b bytes.Buffer
	if err := scaffoldTmpl.Execute(&b, struct{ ID string }{id}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
