package sigma

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The complete example of the correlation specification: a multi-document file.
const specCorrelationExample = `title: Correlation - Multiple Failed Logins Followed by Successful Login
id: b180ead8-d58f-40b2-ae54-c8940995b9b6
status: experimental
description: Detects multiple failed logins by a single user followed by a successful login of that user
references:
    - https://reference.com
author: Florian Roth (Nextron Systems)
date: 2023-06-16
correlation:
    type: temporal_ordered
    rules:
        - multiple_failed_login
        - successful_login
    group-by:
        - User
    timespan: 10m
falsepositives:
    - Unlikely
level: high
---
title: Multiple failed logons
id: a8418a5a-5fc4-46b5-b23b-6c73beb19d41
description: Detects multiple failed logins within a certain amount of time
name: multiple_failed_login
correlation:
    type: event_count
    rules:
        - failed_login
    group-by:
        - User
    timespan: 10m
    condition:
        gte: 10
---
title: Single failed login
id: 53ba33fd-3a50-4468-a5ef-c583635cfa92
name: failed_login
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID:
            - 529
            - 4625
    condition: selection
---
title: Successful login
id: 4d0a2c83-c62c-4ed4-b475-c7e23a9269b8
description: Detects a successful login
name: successful_login
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID:
            - 528
            - 4624
    condition: selection
`

func TestParseMultiDocument(t *testing.T) {
	rules, errs := ParseFile("mr.yml", []byte(specCorrelationExample))
	require.Empty(t, errs)
	require.Len(t, rules, 4)
	c := rules[0].Correlation
	require.NotNil(t, c)
	assert.Equal(t, "temporal_ordered", c.Type)
	assert.Equal(t, []string{"multiple_failed_login", "successful_login"}, c.Rules)
	assert.Equal(t, []string{"User"}, c.GroupBy)
	assert.Equal(t, 10*time.Minute, c.Timespan)
	assert.Equal(t, "high", rules[0].Level)
	ec := rules[1].Correlation
	require.NotNil(t, ec)
	assert.Equal(t, []CorrOp{{"gte", 10}}, ec.Cond.Ops)
	assert.Equal(t, "failed_login", rules[2].Name)
	assert.Equal(t, Logsource{Product: "windows", Service: "security"}, rules[2].Logsource)
	assert.Equal(t, 35, rules[2].Pos.Line)
}

func TestParseTimespan(t *testing.T) {
	ok := map[string]time.Duration{"30s": 30 * time.Second, "5m": 5 * time.Minute, "1h": time.Hour, "90m": 90 * time.Minute,
		"2d": 48 * time.Hour, "1w": 7 * 24 * time.Hour, "1M": 30 * 24 * time.Hour, "1y": 365 * 24 * time.Hour}
	for in, want := range ok {
		got, err := ParseTimespan(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "5", "m", "0s", "-5m", "5x", "1.5h", "5 m", "99999999999999d"} {
		_, err := ParseTimespan(in)
		assert.Error(t, err, in)
	}
}

func TestCorrelationConditions(t *testing.T) {
	c := CorrCondition{Ops: []CorrOp{{"gt", 100}, {"lte", 200}}}
	assert.False(t, c.Holds(100))
	assert.True(t, c.Holds(101))
	assert.True(t, c.Holds(200))
	assert.False(t, c.Holds(201))
	assert.False(t, c.LowerBoundOnly())
	for op, want := range map[string][3]bool{ // value 9, 10, 11 against 10
		"gt": {false, false, true}, "gte": {false, true, true}, "lt": {true, false, false},
		"lte": {true, true, false}, "eq": {false, true, false}, "neq": {true, false, true},
	} {
		cc := CorrCondition{Ops: []CorrOp{{op, 10}}}
		for i, v := range []float64{9, 10, 11} {
			assert.Equal(t, want[i], cc.Holds(v), "%s %v", op, v)
		}
	}
}

func TestParseErrorsHavePositions(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"yaml syntax", "title: a\ndetection: [\n", "x.yml:"},
		{"not a map", "- a\n- b\n", "x.yml:1:1: a Sigma rule must be a YAML map"},
		{"no title", "logsource: {product: a}\ndetection: {s: {a: 1}, condition: s}\n", "missing title"},
		{"no logsource", "title: t\ndetection:\n  s: {a: 1}\n  condition: s\n", "missing logsource"},
		{"no condition", "title: t\nlogsource: {product: a}\ndetection:\n  s: {a: 1}\n", "no condition"},
		{"duplicate key", "title: t\ntitle: u\n", "x.yml:2:1"},
		{"bad timespan", "title: t\ncorrelation:\n  type: event_count\n  rules: [a]\n  group-by: [u]\n  timespan: 5x\n  condition: {gte: 2}\n", "x.yml:6:13: bad correlation.timespan"},
		{"unknown type", "title: t\ncorrelation:\n  type: bogus\n  rules: [a]\n  timespan: 5m\n", "x.yml:3:9: unknown correlation type"},
		{"missing condition", "title: t\ncorrelation:\n  type: event_count\n  rules: [a]\n  group-by: [u]\n  timespan: 5m\n", "needs a condition"},
		{"value_count no field", "title: t\ncorrelation:\n  type: value_count\n  rules: [a]\n  group-by: [u]\n  timespan: 5m\n  condition: {gte: 2}\n", "condition.field"},
		{"bad condition op", "title: t\ncorrelation:\n  type: event_count\n  rules: [a]\n  group-by: [u]\n  timespan: 5m\n  condition: {more: 2}\n", "x.yml:7:15: unknown correlation condition"},
		{"v1 collection", "action: global\ntitle: t\n", "rule collections"},
		{"timeframe", "title: t\nlogsource: {product: a}\ndetection:\n  s: {a: 1}\n  timeframe: 5m\n  condition: s\n", "x.yml:5:3: unsupported: detection.timeframe"},
		{"undefined alias", "title: *nope\n", "x.yml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errs := ParseFile("x.yml", []byte(c.src))
			require.NotEmpty(t, errs)
			assert.Contains(t, errs[0].Error(), c.want)
		})
	}
}

func TestConditionErrorColumn(t *testing.T) {
	r := mustRule(t, detection("  sel:\n    a: 1\n  condition: sel and (a or"))
	_, err := Compile(r, Options{})
	require.Error(t, err)
	// condition value starts at line 6 col 14; the error is at the end (offset 13)
	assert.Contains(t, err.Error(), "test.yml:6:27:")
}

func TestYAMLAnchorsAndMerge(t *testing.T) {
	src := "title: t\nlogsource: {product: a}\ndetection:\n  base: &b\n    a: 1\n  sel:\n    <<: *b\n    c: 2\n  condition: sel\n"
	r := mustRule(t, src)
	m, err := Compile(r, Options{})
	require.NoError(t, err)
	assert.True(t, m.Match(tev{"a": 1, "c": 2}))
	assert.False(t, m.Match(tev{"c": 2}))
}

func TestParseRelated(t *testing.T) {
	const head = "title: Variant\nid: 11111111-2222-3333-4444-555555555555\nlogsource: {product: maildrill}\ndetection: {sel: {a: 1}, condition: sel}\n"
	rules, errs := ParseFile("v.yml", []byte(head+"related:\n  - id: 0e99c94e-97dc-42f7-bd5d-4c70b8854360\n    type: derived\n  - id: 228bf5d4-2c32-45d1-934a-a3d171a063cf\n    type: similar\n"))
	require.Empty(t, errs)
	require.Len(t, rules, 1)
	require.Len(t, rules[0].Related, 2)
	assert.Equal(t, "similar", rules[0].Related[1].Type)
	assert.Equal(t, []string{"0e99c94e-97dc-42f7-bd5d-4c70b8854360"}, rules[0].DerivedFrom())

	bad := []struct{ yaml, want string }{
		{"related:\n  - id: 0e99c94e-97dc-42f7-bd5d-4c70b8854360\n    type: cousin\n", `v.yml:7:11: related[0]: unknown type "cousin": one of derived, obsolete, merged, renamed, similar`},
		{"related:\n  - id: not-a-uuid\n    type: derived\n", `v.yml:6:9: related[0]: id "not-a-uuid" is not a UUID`},
		{"related:\n  - type: derived\n", "v.yml:6:5: related[0]: id is missing"},
		{"related:\n  - id: 0e99c94e-97dc-42f7-bd5d-4c70b8854360\n", "v.yml:6:5: related[0]: type is missing"},
		{"related: 0e99c94e-97dc-42f7-bd5d-4c70b8854360\n", "v.yml:5:10: related must be a list"},
		{"related:\n  - id: 0e99c94e-97dc-42f7-bd5d-4c70b8854360\n    type: derived\n    why: x\n", `v.yml:8:5: related[0]: unknown key "why"`},
	}
	for _, c := range bad {
		_, errs := ParseFile("v.yml", []byte(head+c.yaml))
		require.Len(t, errs, 1, c.yaml)
		assert.Contains(t, errs[0].Error(), c.want, c.yaml)
	}
}
