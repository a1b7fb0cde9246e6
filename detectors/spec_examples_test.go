package detectors

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/detectors/sigma"
)

// The examples of the correlation specification (v2.1), verbatim, each with a
// base rule named as the example refers to it, and a stream that must and one
// that must not make it fire.
func TestSpecCorrelationExamples(t *testing.T) {
	base := func(name string, field string, value any) string {
		return fmt.Sprintf("---\ntitle: %s\nid: %s\nname: %s\nlogsource: {product: windows}\ndetection:\n  sel:\n    %s: %v\n  condition: sel\n", name, name, name, field, value)
	}
	n := func(k int, f func(i int) fields) []fields {
		var out []fields
		for i := 0; i < k; i++ {
			out = append(out, f(i))
		}
		return out
	}
	cases := []struct {
		name      string
		yaml      string
		fire, not []fields
		step      time.Duration
	}{
		{
			name: "event_count: many failed logins",
			yaml: `title: Many failed logins
id: 0e95725d-7320-415d-80f7-004da920fc11
correlation:
    type: event_count
    rules:
        - 5638f7c0-ac70-491d-8465-2a65075e0d86
    group-by:
        - ComputerName
    timespan: 1h
    condition:
        gte: 100
` + base("5638f7c0-ac70-491d-8465-2a65075e0d86", "EventID", 4625),
			fire: n(100, func(i int) fields { return fields{"EventID": 4625, "ComputerName": "dc1"} }),
			not:  n(100, func(i int) fields { return fields{"EventID": 4625, "ComputerName": fmt.Sprint("pc", i%2)} }),
			step: 30 * time.Second,
		},
		{
			name: "value_count: failed logins with many users",
			yaml: `title: Failed login
id: 0e95725d-7320-415d-80f7-004da920fc12
correlation:
    type: value_count
    rules:
        - 5638f7c0-ac70-491d-8465-2a65075e0d86
    group-by:
        - ComputerName
        - WorkstationName
    timespan: 1d
    condition:
        field: User
        gte: 100
` + base("5638f7c0-ac70-491d-8465-2a65075e0d86", "EventID", 4625),
			fire: n(100, func(i int) fields {
				return fields{"EventID": 4625, "ComputerName": "dc1", "WorkstationName": "ws", "User": fmt.Sprint("u", i)}
			}),
			not: n(150, func(i int) fields {
				return fields{"EventID": 4625, "ComputerName": "dc1", "WorkstationName": "ws", "User": fmt.Sprint("u", i%99)}
			}),
			step: time.Minute,
		},
		{
			name: "temporal: recon commands",
			yaml: `title: recon
id: recon
correlation:
    type: temporal
    rules:
        - recon_cmd_a
        - recon_cmd_b
        - recon_cmd_c
    group-by:
        - ComputerName
        - User
    timespan: 5m
` + base("recon_cmd_a", "Image", "whoami.exe") + base("recon_cmd_b", "Image", "net.exe") + base("recon_cmd_c", "Image", "ipconfig.exe"),
			fire: []fields{{"Image": "net.exe", "ComputerName": "pc", "User": "u"}, {"Image": "ipconfig.exe", "ComputerName": "pc", "User": "u"}, {"Image": "whoami.exe", "ComputerName": "pc", "User": "u"}},
			not:  []fields{{"Image": "net.exe", "ComputerName": "pc", "User": "u"}, {"Image": "ipconfig.exe", "ComputerName": "pc", "User": "u"}, {"Image": "whoami.exe", "ComputerName": "pc", "User": "v"}},
			step: time.Minute,
		},
		{
			name: "temporal_ordered: failed logins then success",
			yaml: `title: brute then success
id: bts
correlation:
    type: temporal_ordered
    rules:
        - many_failed_logins
        - successful_login
    group-by:
        - User
    timespan: 1h
---
title: many failed
id: many_failed_logins
name: many_failed_logins
correlation:
    type: event_count
    rules:
        - failed
    group-by:
        - ComputerName
    timespan: 1h
    condition:
        gte: 3
` + base("failed", "EventID", 4625) + base("successful_login", "EventID", 4624),
			// the note of the spec: the inner rule groups by ComputerName, the outer by User
			fire: []fields{{"EventID": 4625, "ComputerName": "a", "User": "x"}, {"EventID": 4625, "ComputerName": "a", "User": "y"}, {"EventID": 4625, "ComputerName": "a", "User": "z"}, {"EventID": 4624, "ComputerName": "b", "User": "z"}},
			not:  []fields{{"EventID": 4625, "ComputerName": "a", "User": "x"}, {"EventID": 4625, "ComputerName": "a", "User": "y"}, {"EventID": 4625, "ComputerName": "a", "User": "z"}, {"EventID": 4624, "ComputerName": "b", "User": "x"}},
			step: time.Minute,
		},
		{
			name: "value_sum: possible exfiltration to website",
			yaml: `title: Possible Exfiltration to Website
id: exfil
correlation:
    type: value_sum
    rules:
        - website_access
    group-by:
        - SourceIP
        - User
    timespan: 1h
    condition:
        field: bytes_sent
        gt: 1000000
` + base("website_access", "event.category", "web"),
			fire: n(3, func(i int) fields {
				return fields{"event.category": "web", "SourceIP": "10.0.0.1", "User": "u", "bytes_sent": 400000}
			}),
			not: n(3, func(i int) fields {
				return fields{"event.category": "web", "SourceIP": "10.0.0.1", "User": "u", "bytes_sent": 300000}
			}),
			step: 10 * time.Minute,
		},
		{
			name: "value_avg: suspicious average network traffic",
			yaml: `title: Suspicious average network traffic
id: avg
correlation:
    type: value_avg
    rules:
        - rule_a_id
    group-by:
        - SourceIP
        - User
    timespan: 24h
    condition:
        field: BytesOut
        gt: 500
` + base("rule_a_id", "event.category", "network"),
			fire: []fields{{"event.category": "network", "SourceIP": "s", "User": "u", "BytesOut": 400}, {"event.category": "network", "SourceIP": "s", "User": "u", "BytesOut": 700}},
			not:  []fields{{"event.category": "network", "SourceIP": "s", "User": "u", "BytesOut": 400}, {"event.category": "network", "SourceIP": "s", "User": "u", "BytesOut": 600}},
			step: time.Hour,
		},
		{
			name: "value_percentile: rare process image",
			yaml: `title: A computer spawned a processes name in the last 24h than 1% of all the processes.
id: pct
correlation:
    type: value_percentile
    rules:
        - process_creation
    group-by:
        - ComputerName
    timespan: 24h
    condition:
        field: image
        lte: 1
` + base("process_creation", "EventID", 1),
			fire: append(n(150, func(i int) fields { return fields{"EventID": 1, "ComputerName": "pc", "image": "svchost.exe"} }),
				fields{"EventID": 1, "ComputerName": "pc", "image": "mimikatz.exe"}),
			not: append(n(50, func(i int) fields { return fields{"EventID": 1, "ComputerName": "pc", "image": "svchost.exe"} }),
				fields{"EventID": 1, "ComputerName": "pc", "image": "mimikatz.exe"}),
			step: time.Second,
		},
	}
	for _, c := range cases {
		for _, run := range []struct {
			evs  []fields
			want bool
		}{{c.fire, true}, {c.not, false}} {
			t.Run(fmt.Sprintf("%s/fires=%v", c.name, run.want), func(t *testing.T) {
				rules, errs := ParseRules("spec.yml", []byte(c.yaml))
				require.Empty(t, errs)
				ls := LogsourceMap{MatchUnmapped: true}
				e, err := NewEngine(rules, Config{Logsources: &ls})
				require.NoError(t, err)
				var evs []Event
				for i, f := range run.evs {
					evs = append(evs, mk(t, time.Duration(i)*c.step, fmt.Sprint(i), f))
				}
				top := rules[0].ID
				a := run0(e, evs, top)
				assert.Equal(t, run.want, len(a) > 0, "alerts: %v", a)
				for _, x := range run0(engineFor(t, rules), evs, "") {
					assert.Equal(t, top, x.RuleID, "only the outermost rule alerts")
				}
			})
		}
	}
}

func engineFor(t *testing.T, rules []*sigma.Rule) *Engine {
	ls := LogsourceMap{MatchUnmapped: true}
	e, err := NewEngine(rules, Config{Logsources: &ls})
	require.NoError(t, err)
	return e
}

func run0(e *Engine, evs []Event, rule string) []Alert { return run(e, evs, rule) }
