package detectors

import (
	"fmt"
	"testing"
	"time"
)

// fuzzRules exercise every correlation type, chains, both window modes and
// aliases.
const fuzzRules = `title: a
name: a
logsource: {product: t}
detection: {s: {k: a}, condition: s}
---
title: b
name: b
logsource: {product: t}
detection: {s: {k: b}, condition: s}
---
title: c
name: c
logsource: {product: t}
detection: {s: {k|startswith: c}, condition: s}
---
title: ec
correlation: {type: event_count, rules: [a], group-by: [u], timespan: 10s, condition: {gte: 3}}
---
title: ec_range
name: ec_range
correlation: {type: event_count, rules: [a, b], group-by: [u], timespan: 10s, condition: {gt: 1, lte: 4}}
---
title: vc
name: vc
correlation: {type: value_count, rules: [c], group-by: [u], timespan: 10s, condition: {field: v, gte: 2}}
---
title: vs
correlation: {type: value_sum, rules: [a, c], group-by: [u], timespan: 10s, condition: {field: n, gt: 10}}
---
title: va
correlation: {type: value_avg, rules: [b], group-by: [u], timespan: 10s, condition: {field: n, lt: 3}}
---
title: vp
correlation: {type: value_percentile, rules: [c], group-by: [u], timespan: 10s, condition: {field: v, lte: 30}}
---
title: tp
correlation: {type: temporal, rules: [a, b, c], group-by: [u], timespan: 10s}
---
title: to
correlation: {type: temporal_ordered, rules: [vc, b, b], group-by: [u], timespan: 20s}
---
title: chain
correlation: {type: temporal_ordered, rules: [ec_range, a], group-by: [w], timespan: 30s, aliases: {w: {ec_range: u, a: v}}}
`

func FuzzEngine(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte("aaaabbbbccccaaaabbbbcccc"))
	f.Add([]byte{255, 0, 255, 0, 128, 7, 7, 7, 7, 7, 7, 7, 200, 3, 3, 3})
	rules, errs := ParseRules("fuzz.yml", []byte(fuzzRules))
	if len(errs) > 0 {
		f.Fatal(errs)
	}
	ls := LogsourceMap{MatchUnmapped: true}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4000 {
			return
		}
		e, err := NewEngine(rules, Config{Logsources: &ls, Lateness: 3 * time.Second, MaxGroups: 3, Suppress: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		now := t0
		var alerts []Alert
		for i := 0; i+1 < len(data); i += 2 {
			b, c := data[i], data[i+1]
			// time moves by -2s..+5s; kinds a, b, c1, c2; 4 users; small values
			now = now.Add(time.Duration(int(c%8)-2) * time.Second)
			k := []string{"a", "b", "c1", "c2"}[b%4]
			ev := mk(t, now.Sub(t0), fmt.Sprint(i), fields{"k": k, "u": fmt.Sprint("u", (b>>2)%4), "v": fmt.Sprint("u", (b>>4)%4), "n": float64(c % 7)})
			alerts = append(alerts, e.Process(ev)...)
		}
		alerts = append(alerts, e.Flush()...)
		for _, a := range alerts {
			if a.Time.IsZero() || a.First.IsZero() || a.Last.IsZero() {
				t.Fatalf("alert without times: %+v", a)
			}
			if a.First.After(a.Time) || a.First.After(a.Last) {
				t.Fatalf("first after completion: %+v", a)
			}
			if len(a.EventIDs) == 0 {
				t.Fatalf("alert without events: %+v", a)
			}
		}
		st := e.Stats()
		if st.Groups > 3*9 {
			t.Fatalf("%d groups held with MaxGroups 3", st.Groups)
		}
	})
}

// The fuzz harness is not vacuous: its rules fire on an ordinary stream.
func TestFuzzRulesFire(t *testing.T) {
	rules, errs := ParseRules("fuzz.yml", []byte(fuzzRules))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	ls := LogsourceMap{MatchUnmapped: true}
	e, err := NewEngine(rules, Config{Logsources: &ls, Lateness: 3 * time.Second, MaxGroups: 3})
	if err != nil {
		t.Fatal(err)
	}
	var evs []Event
	for i := 0; i < 200; i++ {
		k := []string{"a", "b", "c1", "c2"}[i%4]
		evs = append(evs, mk(t, time.Duration(i)*time.Second, fmt.Sprint(i), fields{"k": k, "u": fmt.Sprint("u", (i/16)%2), "v": fmt.Sprint("u", i%3), "n": float64(i % 7)}))
	}
	fired := map[string]bool{}
	for _, a := range run(e, evs, "") {
		fired[a.RuleID] = true
	}
	for _, want := range []string{"ec", "vs", "tp", "to", "vp"} {
		if !fired[want] {
			t.Errorf("%s did not fire (fired: %v)", want, fired)
		}
	}
}
