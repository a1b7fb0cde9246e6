package rulepack

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"regexp"
	"text/template"
)

// ruleNameRe is a scaffold rule's name: its file name and the Sigma name.
var ruleNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_]*$`)

var ruleTmpl = template.Must(template.New("rule").Parse(`title: IMAP Login By A Scripted Client ({{.Name}})
id: {{.ID}}
name: {{.Name}}
status: experimental
description: |
  A successful IMAP login whose client identifies itself (IMAP ID) as a
  scripting library rather than a mail client. Edit the detection, then
  keep tests/{{.Name}}.tp.jsonl (must fire) and tests/{{.Name}}.tn.jsonl
  (must not) in step: maildrill rules lint DIR && maildrill rules test DIR.
author: your team
date: 2026-01-01
tags:
  - attack.initial-access
  - attack.t1078
logsource:
  product: maildrill
  service: imap
detection:
  selection:
    event.action: imap.login
    event.outcome: success
  scripted:
    client.name|contains:
      - python
      - curl
      - imaplib
  condition: selection and scripted
falsepositives:
  - A backup or archiving job (list its address in a filter)
level: medium
`))

const sampleEvent = `{"@timestamp": "2025-12-10T22:10:%02d.000+01:00", "event.id": "%s-%04d", "event.sequence": %d, "event.action": "imap.login", "service.type": "imap", "service.name": "imaps", "tls.established": true, "labels.run_id": "samples", "user.name": "director@interieur.test", "source.ip": "198.51.100.23", "source.port": 50000, "session.id": "sess-%d", "event.outcome": "%s", "client.name": "%s"}
`

// Scaffold is a new rule named name (lower case, digits, '_'): the rule
// file NAME.yml with a fresh id, and its samples tests/NAME.tp.jsonl (it
// must fire) and tests/NAME.tn.jsonl (it must not), which `maildrill
// rules lint` and `rules test` accept as written.
func Scaffold(name string) (rule, tp, tn []byte, err error) {
	if !ruleNameRe.MatchString(name) {
		return nil, nil, nil, fmt.Errorf("rule name %q: want lower-case letters, digits and '_', starting with a letter or digit (e.g. imap_scripted_login)", name)
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, nil, nil, err
	}
	id[6] = id[6]&0x0f | 0x40 // version 4
	id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
	uuid := fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:16])
	var b bytes.Buffer
	if err := ruleTmpl.Execute(&b, struct{ Name, ID string }{name, uuid}); err != nil {
		return nil, nil, nil, err
	}
	ev := func(i int, outcome, client string) string {
		return fmt.Sprintf(sampleEvent, i, name, i, i, i, outcome, client)
	}
	tp = []byte("# a login by a Python script\n" + ev(1, "success", "python-imaplib"))
	tn = []byte("# a mail client's login; a script's failed login\n" + ev(1, "success", "Thunderbird") + ev(2, "failure", "python-imaplib"))
	return b.Bytes(), tp, tn, nil
}
