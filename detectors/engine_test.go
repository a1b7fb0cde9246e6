package detectors

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/detectors/sigma"
)

var t0 = time.Date(2025, 12, 11, 23, 40, 0, 0, time.UTC)

type fields map[string]any

// mk builds an event at t0+offset with an id.
func mk(t testing.TB, off time.Duration, id string, f fields) Event {
	t.Helper()
	m := map[string]any{"@timestamp": t0.Add(off).Format(time.RFC3339Nano), "event.id": id}
	for k, v := range f {
		m[k] = v
	}
	e, err := NewMapEvent(m, JSONOptions{})
	require.NoError(t, err)
	return e
}

func engine(t testing.TB, yaml string, cfg Config) *Engine {
	t.Helper()
	rules, errs := ParseRules("test.yml", []byte(yaml))
	require.Empty(t, errs)
	if cfg.Logsources == nil {
		cfg.Logsources = &LogsourceMap{MatchUnmapped: true}
	}
	e, err := NewEngine(rules, cfg)
	require.NoError(t, err)
	return e
}

// run feeds events and flushes, returning alerts of rule id (all when "").
func run(e *Engine, evs []Event, rule string) []Alert {
	var out []Alert
	for _, ev := range evs {
		out = append(out, e.Process(ev)...)
	}
	out = append(out, e.Flush()...)
	if rule == "" {
		return out
	}
	var f []Alert
	for _, a := range out {
		if a.RuleID == rule {
			f = append(f, a)
		}
	}
	return f
}

const baseRules = `
title: failed login
id: failed
name: failed_login
logsource: {product: test}
detection:
  sel:
    event.action: login
    event.outcome: failure
  condition: sel
---
title: successful login
id: success
name: successful_login
logsource: {product: test}
detection:
  sel:
    event.action: login
    event.outcome: success
  condition: sel
---
title: fetch
id: fetch
name: fetch
logsource: {product: test}
detection:
  sel:
    event.action: fetch
  condition: sel
`

func corr(body string) string {
	return "title: corr\nid: corr\nlevel: high\ntags: [attack.t1110.003, other]\ncorrelation:\n" + body + "---\n" + baseRules
}

func fail(t testing.TB, off time.Duration, id, user, ip string) Event {
	return mk(t, off, id, fields{"event.action": "login", "event.outcome": "failure", "user.name": user, "source.ip": ip})
}

func TestDetectionAlert(t *testing.T) {
	e := engine(t, baseRules, Config{})
	a := run(e, []Event{fail(t, 0, "e1", "u", "1.1.1.1"), mk(t, time.Second, "e2", fields{"event.action": "other"})}, "")
	require.Len(t, a, 1)
	assert.Equal(t, "failed", a[0].RuleID)
	assert.Equal(t, "failed login", a[0].Title)
	assert.Equal(t, []string{"e1"}, a[0].EventIDs)
	assert.True(t, a[0].Time.Equal(t0))
	assert.Equal(t, "detection", a[0].Type)
}

func TestEventCount(t *testing.T) {
	y := corr("  type: event_count\n  rules: [failed_login]\n  group-by: [source.ip]\n  timespan: 5m\n  condition: {gte: 3}\n")
	t.Run("fires at threshold with group and ids", func(t *testing.T) {
		e := engine(t, y, Config{})
		a := run(e, []Event{
			fail(t, 0, "1", "a", "9.9.9.9"), fail(t, time.Minute, "2", "b", "9.9.9.9"),
			fail(t, 2*time.Minute, "x", "c", "8.8.8.8"), fail(t, 3*time.Minute, "3", "c", "9.9.9.9"),
		}, "corr")
		require.Len(t, a, 1)
		assert.Equal(t, map[string]string{"source.ip": "9.9.9.9"}, a[0].Group)
		assert.Equal(t, []string{"1", "2", "3"}, a[0].EventIDs)
		assert.True(t, a[0].Time.Equal(t0.Add(3*time.Minute)))
		assert.True(t, a[0].First.Equal(t0))
		assert.True(t, a[0].Last.Equal(t0.Add(3*time.Minute)))
		assert.Equal(t, []string{"attack.t1110.003"}, a[0].Attack)
		assert.Equal(t, "high", a[0].Level)
		assert.Equal(t, float64(3), a[0].Value)
	})
	t.Run("base rules referenced do not alert alone", func(t *testing.T) {
		e := engine(t, y, Config{})
		a := run(e, []Event{fail(t, 0, "1", "a", "9.9.9.9")}, "failed")
		assert.Empty(t, a)
	})
	t.Run("exactly at the timespan boundary is inside", func(t *testing.T) {
		e := engine(t, y, Config{})
		a := run(e, []Event{fail(t, 0, "1", "a", "ip"), fail(t, time.Minute, "2", "a", "ip"), fail(t, 5*time.Minute, "3", "a", "ip")}, "corr")
		assert.Len(t, a, 1)
	})
	t.Run("one nanosecond past the boundary is outside", func(t *testing.T) {
		e := engine(t, y, Config{})
		a := run(e, []Event{fail(t, 0, "1", "a", "ip"), fail(t, time.Minute, "2", "a", "ip"), fail(t, 5*time.Minute+1, "3", "a", "ip")}, "corr")
		assert.Empty(t, a)
	})
	t.Run("sliding window", func(t *testing.T) {
		e := engine(t, y, Config{})
		// 0, 4m, 8m, 9m: the window [4m, 9m] holds 3
		a := run(e, []Event{fail(t, 0, "1", "a", "ip"), fail(t, 4*time.Minute, "2", "a", "ip"), fail(t, 8*time.Minute, "3", "a", "ip"), fail(t, 9*time.Minute, "4", "a", "ip")}, "corr")
		require.Len(t, a, 1)
		assert.Equal(t, []string{"2", "3", "4"}, a[0].EventIDs)
	})
	t.Run("restarts after firing", func(t *testing.T) {
		e := engine(t, y, Config{})
		var evs []Event
		for i := 0; i < 7; i++ {
			evs = append(evs, fail(t, time.Duration(i)*time.Second, fmt.Sprint(i), "a", "ip"))
		}
		assert.Len(t, run(e, evs, "corr"), 2)
	})
	t.Run("missing group field is not counted", func(t *testing.T) {
		e := engine(t, y, Config{})
		var evs []Event
		for i := 0; i < 4; i++ {
			evs = append(evs, mk(t, time.Duration(i)*time.Second, fmt.Sprint(i), fields{"event.action": "login", "event.outcome": "failure"}))
		}
		assert.Empty(t, run(e, evs, "corr"))
		assert.Equal(t, uint64(4), e.Stats().MissingGroupField)
	})
}

func TestEventCountUpperBound(t *testing.T) {
	cases := []struct {
		name  string
		cond  string
		n     int
		fires bool
	}{
		{"lt fires on a small window", "{lt: 3}", 2, true},
		{"lt silent on a big window", "{lt: 3}", 3, false},
		{"eq exact", "{eq: 4}", 4, true},
		{"eq not more", "{eq: 4}", 5, false},
		{"range inside", "{gt: 2, lte: 4}", 4, true},
		{"range above", "{gt: 2, lte: 4}", 5, false},
		{"range below", "{gt: 2, lte: 4}", 2, false},
		{"neq", "{neq: 3}", 2, true},
		{"lte", "{lte: 2}", 2, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := engine(t, corr("  type: event_count\n  rules: [failed]\n  group-by: [user.name]\n  timespan: 1m\n  condition: "+c.cond+"\n"), Config{})
			var evs []Event
			for i := 0; i < c.n; i++ {
				evs = append(evs, fail(t, time.Duration(i)*time.Second, fmt.Sprint(i), "u", "ip"))
			}
			// an event far later closes the window by watermark
			evs = append(evs, mk(t, time.Hour, "late", fields{"event.action": "noise"}))
			var got []Alert
			for _, ev := range evs {
				got = append(got, e.Process(ev)...)
			}
			var mine []Alert
			for _, a := range got {
				if a.RuleID == "corr" {
					mine = append(mine, a)
				}
			}
			assert.Equal(t, c.fires, len(mine) == 1, "alerts %v", mine)
			if c.fires {
				assert.Len(t, mine[0].EventIDs, c.n)
			}
		})
	}
}

func TestValueCount(t *testing.T) {
	y := corr("  type: value_count\n  rules: [failed_login]\n  group-by: [source.ip]\n  timespan: 5m\n  condition: {field: user.name, gte: 3}\n")
	e := engine(t, y, Config{})
	a := run(e, []Event{
		fail(t, 0, "1", "a", "ip"), fail(t, 1*time.Second, "2", "a", "ip"), fail(t, 2*time.Second, "3", "b", "ip"),
		fail(t, 3*time.Second, "4", "b", "ip"), fail(t, 4*time.Second, "5", "c", "ip"),
	}, "corr")
	require.Len(t, a, 1)
	assert.Equal(t, float64(3), a[0].Value)
	assert.Len(t, a[0].EventIDs, 5)
	t.Run("distinct values expire with the window", func(t *testing.T) {
		e := engine(t, y, Config{})
		a := run(e, []Event{fail(t, 0, "1", "a", "ip"), fail(t, time.Minute, "2", "b", "ip"), fail(t, 6*time.Minute, "3", "c", "ip")}, "corr")
		assert.Empty(t, a)
	})
	t.Run("multiple fields are a tuple", func(t *testing.T) {
		y := corr("  type: value_count\n  rules: [failed_login]\n  group-by: [source.ip]\n  timespan: 5m\n  condition: {field: [user.name, source.port], gte: 2}\n")
		e := engine(t, y, Config{})
		mkp := func(off time.Duration, id string, port float64) Event {
			return mk(t, off, id, fields{"event.action": "login", "event.outcome": "failure", "user.name": "a", "source.ip": "ip", "source.port": port})
		}
		assert.Empty(t, run(e, []Event{mkp(0, "1", 1), mkp(time.Second, "2", 1)}, "corr"))
		e = engine(t, y, Config{})
		assert.Len(t, run(e, []Event{mkp(0, "1", 1), mkp(time.Second, "2", 2)}, "corr"), 1)
	})
}

func TestValueSumAvg(t *testing.T) {
	fetch := func(off time.Duration, id string, size float64) Event {
		return mk(t, off, id, fields{"event.action": "fetch", "user.name": "u", "file.size": size})
	}
	t.Run("sum", func(t *testing.T) {
		e := engine(t, corr("  type: value_sum\n  rules: [fetch]\n  group-by: [user.name]\n  timespan: 1h\n  condition: {field: file.size, gt: 1000}\n"), Config{})
		a := run(e, []Event{fetch(0, "1", 400), fetch(time.Minute, "2", 600), fetch(2*time.Minute, "3", 1)}, "corr")
		require.Len(t, a, 1)
		assert.Equal(t, float64(1001), a[0].Value)
		assert.Equal(t, []string{"1", "2", "3"}, a[0].EventIDs)
	})
	t.Run("sum window slides", func(t *testing.T) {
		e := engine(t, corr("  type: value_sum\n  rules: [fetch]\n  group-by: [user.name]\n  timespan: 1h\n  condition: {field: file.size, gt: 1000}\n"), Config{})
		assert.Empty(t, run(e, []Event{fetch(0, "1", 600), fetch(61*time.Minute, "2", 600)}, "corr"))
	})
	t.Run("non numeric values are skipped", func(t *testing.T) {
		e := engine(t, corr("  type: value_sum\n  rules: [fetch]\n  group-by: [user.name]\n  timespan: 1h\n  condition: {field: file.size, gt: 10}\n"), Config{})
		assert.Empty(t, run(e, []Event{mk(t, 0, "1", fields{"event.action": "fetch", "user.name": "u", "file.size": "big"})}, "corr"))
	})
	t.Run("avg", func(t *testing.T) {
		e := engine(t, corr("  type: value_avg\n  rules: [fetch]\n  group-by: [user.name]\n  timespan: 24h\n  condition: {field: file.size, gt: 500}\n"), Config{})
		a := run(e, []Event{fetch(0, "1", 100), fetch(time.Minute, "2", 800), fetch(2*time.Minute, "3", 900)}, "corr")
		require.Len(t, a, 1)
		assert.InDelta(t, 600, a[0].Value, 0.001)
	})
}

func TestValuePercentile(t *testing.T) {
	y := corr("  type: value_percentile\n  rules: [fetch]\n  group-by: [user.name]\n  timespan: 1h\n  condition: {field: client.name, lte: 10}\n")
	e := engine(t, y, Config{})
	var evs []Event
	for i := 0; i < 19; i++ {
		evs = append(evs, mk(t, time.Duration(i)*time.Second, fmt.Sprint(i), fields{"event.action": "fetch", "user.name": "u", "client.name": "Thunderbird"}))
	}
	evs = append(evs, mk(t, 30*time.Second, "rare", fields{"event.action": "fetch", "user.name": "u", "client.name": "python-imaplib"}))
	a := run(e, evs, "corr")
	require.Len(t, a, 1)
	assert.Equal(t, []string{"rare"}, a[0].EventIDs)
	assert.InDelta(t, 5, a[0].Value, 0.001)
}

func TestTemporal(t *testing.T) {
	y := corr("  type: temporal\n  rules: [failed_login, fetch]\n  group-by: [user.name]\n  timespan: 5m\n")
	f := func(off time.Duration, id string) Event {
		return mk(t, off, id, fields{"event.action": "fetch", "user.name": "u"})
	}
	t.Run("any order", func(t *testing.T) {
		e := engine(t, y, Config{})
		a := run(e, []Event{f(0, "f1"), fail(t, time.Minute, "l1", "u", "ip")}, "corr")
		require.Len(t, a, 1)
		assert.ElementsMatch(t, []string{"f1", "l1"}, a[0].EventIDs)
		assert.True(t, a[0].First.Equal(t0))
	})
	t.Run("too far apart", func(t *testing.T) {
		e := engine(t, y, Config{})
		assert.Empty(t, run(e, []Event{f(0, "f1"), fail(t, 6*time.Minute, "l1", "u", "ip")}, "corr"))
	})
	t.Run("different groups", func(t *testing.T) {
		e := engine(t, y, Config{})
		assert.Empty(t, run(e, []Event{f(0, "f1"), fail(t, time.Minute, "l1", "other", "ip")}, "corr"))
	})
	t.Run("condition counts distinct rules", func(t *testing.T) {
		y := corr("  type: temporal\n  rules: [failed_login, fetch, successful_login]\n  group-by: [user.name]\n  timespan: 5m\n  condition: {gte: 2}\n")
		e := engine(t, y, Config{})
		assert.Len(t, run(e, []Event{f(0, "f1"), fail(t, time.Minute, "l1", "u", "ip")}, "corr"), 1)
	})
}

func TestTemporalOrdered(t *testing.T) {
	y := corr("  type: temporal_ordered\n  rules: [failed_login, successful_login, fetch]\n  group-by: [user.name]\n  timespan: 10m\n")
	ok := func(off time.Duration, id string) Event {
		return mk(t, off, id, fields{"event.action": "login", "event.outcome": "success", "user.name": "u"})
	}
	f := func(off time.Duration, id string) Event {
		return mk(t, off, id, fields{"event.action": "fetch", "user.name": "u"})
	}
	cases := []struct {
		name  string
		evs   []Event
		fires bool
	}{
		{"in order", []Event{fail(t, 0, "1", "u", "ip"), ok(time.Minute, "2"), f(2*time.Minute, "3")}, true},
		{"wrong order", []Event{ok(0, "2"), fail(t, time.Minute, "1", "u", "ip"), f(2*time.Minute, "3")}, false},
		{"last step missing", []Event{fail(t, 0, "1", "u", "ip"), ok(time.Minute, "2")}, false},
		{"too slow", []Event{fail(t, 0, "1", "u", "ip"), ok(time.Minute, "2"), f(10*time.Minute+1, "3")}, false},
		{"exactly at the boundary", []Event{fail(t, 0, "1", "u", "ip"), ok(time.Minute, "2"), f(10*time.Minute, "3")}, true},
		{"a later start rescues", []Event{fail(t, 0, "1", "u", "ip"), fail(t, 5*time.Minute, "1b", "u", "ip"), ok(6*time.Minute, "2"), f(14*time.Minute, "3")}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := engine(t, y, Config{})
			a := run(e, c.evs, "corr")
			assert.Equal(t, c.fires, len(a) == 1, "%v", a)
		})
	}
	t.Run("ids in order", func(t *testing.T) {
		e := engine(t, y, Config{})
		a := run(e, []Event{fail(t, 0, "1", "u", "ip"), ok(time.Minute, "2"), f(2*time.Minute, "3")}, "corr")
		require.Len(t, a, 1)
		assert.Equal(t, []string{"1", "2", "3"}, a[0].EventIDs)
	})
	t.Run("same rule twice", func(t *testing.T) {
		y := corr("  type: temporal_ordered\n  rules: [fetch, fetch]\n  group-by: [user.name]\n  timespan: 10m\n")
		e := engine(t, y, Config{})
		assert.Empty(t, run(e, []Event{f(0, "1")}, "corr"), "one event cannot fill two steps")
		e = engine(t, y, Config{})
		assert.Len(t, run(e, []Event{f(0, "1"), f(time.Second, "2")}, "corr"), 1)
	})
}

// The spec's complete example: failed logins followed by a successful login,
// a temporal_ordered correlation over an event_count correlation.
func TestSpecChainedExample(t *testing.T) {
	y := `title: Correlation - Multiple Failed Logins Followed by Successful Login
id: b180ead8-d58f-40b2-ae54-c8940995b9b6
correlation:
    type: temporal_ordered
    rules:
        - multiple_failed_login
        - successful_login
    group-by:
        - User
    timespan: 10m
level: high
---
title: Multiple failed logons
id: a8418a5a-5fc4-46b5-b23b-6c73beb19d41
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
	mkw := func(off time.Duration, id string, eid int, user, host string) Event {
		return mk(t, off, id, fields{"EventID": eid, "User": user, "ComputerName": host})
	}
	build := func(n int, successAt time.Duration, user string) []Event {
		var evs []Event
		for i := 0; i < n; i++ {
			evs = append(evs, mkw(time.Duration(i)*10*time.Second, fmt.Sprint("f", i), 4625, "admin", fmt.Sprint("host", i%3)))
		}
		return append(evs, mkw(successAt, "ok", 4624, user, "host0"))
	}
	cases := []struct {
		name  string
		evs   []Event
		fires bool
	}{
		{"10 failures then success", build(10, 3*time.Minute, "admin"), true},
		{"9 failures then success", build(9, 3*time.Minute, "admin"), false},
		{"success of another user", build(10, 3*time.Minute, "guest"), false},
		{"success too late", build(10, 90*time.Second+10*time.Minute+1, "admin"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := engine(t, y, Config{})
			all := run(e, c.evs, "")
			var ids []string
			for _, a := range all {
				ids = append(ids, a.RuleID)
			}
			if c.fires {
				require.Equal(t, []string{"b180ead8-d58f-40b2-ae54-c8940995b9b6"}, ids, "only the outermost correlation alerts")
				assert.Equal(t, map[string]string{"User": "admin"}, all[0].Group)
				assert.Len(t, all[0].EventIDs, 11)
				assert.Equal(t, "ok", all[0].EventIDs[10])
				assert.True(t, all[0].First.Equal(t0))
			} else {
				assert.Empty(t, ids)
			}
		})
	}
}

func TestAliases(t *testing.T) {
	y := `title: corr
id: corr
correlation:
  type: temporal
  rules: [internal_error, new_network_connection]
  group-by: [internal_ip, remote_ip]
  timespan: 10s
  aliases:
    internal_ip:
      internal_error: destination.ip
      new_network_connection: source.ip
    remote_ip:
      internal_error: source.ip
      new_network_connection: destination.ip
---
title: internal error
name: internal_error
logsource: {category: web}
detection:
  selection:
    http.response.status_code: 500
  condition: selection
---
title: new connection
name: new_network_connection
logsource: {category: network}
detection:
  selection:
    event.category: network
    event.type: connection
    event.outcome: success
  condition: selection
`
	errEv := mk(t, 0, "a", fields{"http.response.status_code": 500, "destination.ip": "10.0.0.1", "source.ip": "1.2.3.4"})
	conn := func(src, dst string) Event {
		return mk(t, 5*time.Second, "b", fields{"event.category": "network", "event.type": "connection", "event.outcome": "success", "source.ip": src, "destination.ip": dst})
	}
	e := engine(t, y, Config{})
	a := run(e, []Event{errEv, conn("10.0.0.1", "1.2.3.4")}, "corr")
	require.Len(t, a, 1)
	assert.Equal(t, map[string]string{"internal_ip": "10.0.0.1", "remote_ip": "1.2.3.4"}, a[0].Group)
	e = engine(t, y, Config{})
	assert.Empty(t, run(e, []Event{errEv, conn("1.2.3.4", "10.0.0.1")}, "corr"))
}

func TestGenerate(t *testing.T) {
	y := corr("  type: event_count\n  rules: [failed_login]\n  group-by: [source.ip]\n  timespan: 5m\n  condition: {gte: 2}\ngenerate: true\n")
	e := engine(t, y, Config{})
	a := run(e, []Event{fail(t, 0, "1", "a", "ip"), fail(t, time.Second, "2", "a", "ip")}, "")
	var ids []string
	for _, x := range a {
		ids = append(ids, x.RuleID)
	}
	sort.Strings(ids)
	assert.Equal(t, []string{"corr", "failed", "failed"}, ids)
}

func TestOutOfOrder(t *testing.T) {
	y := corr("  type: temporal_ordered\n  rules: [failed_login, successful_login]\n  group-by: [user.name]\n  timespan: 5m\n")
	ok := mk(t, 2*time.Minute, "ok", fields{"event.action": "login", "event.outcome": "success", "user.name": "u"})
	failEv := fail(t, time.Minute, "f", "u", "ip")
	t.Run("within lateness is reordered", func(t *testing.T) {
		e := engine(t, y, Config{Lateness: 2 * time.Minute})
		a := run(e, []Event{ok, failEv}, "corr")
		require.Len(t, a, 1)
		assert.Equal(t, []string{"f", "ok"}, a[0].EventIDs)
		assert.True(t, a[0].Time.Equal(t0.Add(2*time.Minute)))
	})
	t.Run("released by the watermark before flush", func(t *testing.T) {
		e := engine(t, y, Config{Lateness: 2 * time.Minute})
		var got []Alert
		for _, ev := range []Event{ok, failEv, mk(t, 10*time.Minute, "n", fields{"event.action": "noise"})} {
			got = append(got, e.Process(ev)...)
		}
		assert.Len(t, got, 1)
	})
	t.Run("beyond lateness is counted late", func(t *testing.T) {
		e := engine(t, y, Config{Lateness: 10 * time.Second})
		a := run(e, []Event{ok, failEv}, "corr")
		assert.Empty(t, a)
		assert.Equal(t, uint64(1), e.Stats().Late)
	})
	t.Run("no lateness means arrival order", func(t *testing.T) {
		e := engine(t, y, Config{})
		assert.Empty(t, run(e, []Event{ok, failEv}, "corr"))
	})
}

func TestEviction(t *testing.T) {
	y := corr("  type: event_count\n  rules: [failed_login]\n  group-by: [user.name]\n  timespan: 1h\n  condition: {gte: 2}\n")
	e := engine(t, y, Config{MaxGroups: 2})
	a := run(e, []Event{
		fail(t, 0, "1", "a", "ip"), fail(t, time.Second, "2", "b", "ip"), fail(t, 2*time.Second, "3", "c", "ip"), // evicts a
		fail(t, 3*time.Second, "4", "a", "ip"), // a starts again (and evicts b)
		fail(t, 4*time.Second, "5", "c", "ip"), // c completes
	}, "corr")
	require.Len(t, a, 1)
	assert.Equal(t, map[string]string{"user.name": "c"}, a[0].Group)
	st := e.Stats()
	assert.Equal(t, uint64(2), st.Evicted)
	assert.LessOrEqual(t, st.Groups, 2)
}

func TestExpiry(t *testing.T) {
	y := corr("  type: event_count\n  rules: [failed_login]\n  group-by: [user.name]\n  timespan: 1m\n  condition: {gte: 5}\n")
	e := engine(t, y, Config{})
	for i := 0; i < 100; i++ {
		e.Process(fail(t, time.Duration(i)*time.Second, fmt.Sprint(i), fmt.Sprint("u", i), "ip"))
	}
	st := e.Stats()
	assert.LessOrEqual(t, st.Groups, 62, "groups older than the timespan are dropped")
	assert.Greater(t, st.Expired, uint64(30))
	assert.Zero(t, st.Evicted)
}

func TestSuppression(t *testing.T) {
	t.Run("detection rule", func(t *testing.T) {
		e := engine(t, baseRules, Config{Suppress: time.Minute, SuppressKey: []string{"user.name"}})
		a := run(e, []Event{fail(t, 0, "1", "a", "ip"), fail(t, 30*time.Second, "2", "a", "ip"), fail(t, 40*time.Second, "3", "b", "ip"), fail(t, 61*time.Second, "4", "a", "ip")}, "failed")
		var ids []string
		for _, x := range a {
			ids = append(ids, x.EventIDs[0])
		}
		assert.Equal(t, []string{"1", "3", "4"}, ids)
		assert.Equal(t, uint64(1), e.Stats().Suppressed)
	})
	t.Run("correlation per group key, by rule", func(t *testing.T) {
		y := corr("  type: event_count\n  rules: [failed_login]\n  group-by: [user.name]\n  timespan: 1h\n  condition: {gte: 1}\n")
		e := engine(t, y, Config{SuppressRules: map[string]time.Duration{"corr": 10 * time.Minute}})
		a := run(e, []Event{fail(t, 0, "1", "a", "ip"), fail(t, time.Minute, "2", "a", "ip"), fail(t, 2*time.Minute, "3", "b", "ip"), fail(t, 11*time.Minute, "4", "a", "ip")}, "corr")
		assert.Len(t, a, 3)
	})
}

func TestNestedJSONAndFieldMap(t *testing.T) {
	y := "title: t\nid: t\nlogsource: {product: maildrill, service: imap}\ndetection:\n  sel:\n    Action: imap.login\n    User|endswith: '@interieur.test'\n  condition: sel\n"
	rules, errs := ParseRules("x.yml", []byte(y))
	require.Empty(t, errs)
	e, err := NewEngine(rules, Config{FieldMap: map[string]string{"Action": "event.action", "User": "user.name"}})
	require.NoError(t, err)
	nested, err := ParseJSONEvent([]byte(`{"@timestamp":"2025-12-11T23:40:00+01:00","event":{"action":"imap.login","id":"n1"},"service":{"type":"imap"},"user":{"name":"j.dupont@interieur.test"}}`), JSONOptions{})
	require.NoError(t, err)
	assert.Equal(t, "n1", nested.ID())
	flat, err := ParseJSONEvent([]byte(`{"@timestamp":"2025-12-11T23:40:01+01:00","event.action":"imap.login","service.type":"imap","user.name":"x@interieur.test"}`), JSONOptions{})
	require.NoError(t, err)
	other, err := ParseJSONEvent([]byte(`{"@timestamp":"2025-12-11T23:40:01+01:00","event.action":"imap.login","service.type":"smtp","user.name":"x@interieur.test"}`), JSONOptions{})
	require.NoError(t, err)
	assert.Len(t, e.Process(nested), 1)
	assert.Len(t, e.Process(flat), 1)
	assert.Empty(t, e.Process(other), "logsource service imap excludes smtp events")
}

func TestTimestampField(t *testing.T) {
	_, err := ParseJSONEvent([]byte(`{"ts":"2025-12-11T23:40:00Z"}`), JSONOptions{})
	assert.ErrorIs(t, err, ErrNoTimestamp)
	ev, err := ParseJSONEvent([]byte(`{"ts":"2025-12-11T23:40:00Z"}`), JSONOptions{TimestampField: "ts"})
	require.NoError(t, err)
	assert.True(t, ev.Time().Equal(t0))
	ev, err = ParseJSONEvent([]byte(`{"ts":1765496400}`), JSONOptions{TimestampField: "ts"})
	require.NoError(t, err)
	assert.Equal(t, int64(1765496400), ev.Time().Unix())
	ev, err = ParseJSONEvent([]byte(`{"ts":1765496400123}`), JSONOptions{TimestampField: "ts"})
	require.NoError(t, err)
	assert.Equal(t, int64(1765496400123), ev.Time().UnixMilli(), "milliseconds")

	// The engine orders events by int64 nanoseconds: times it cannot hold
	// wrapped around (2999 read as 1830) and passed as merely late.
	for _, ts := range []string{`"2999-01-01T00:00:00Z"`, `"1600-01-01T00:00:00Z"`, `1e300`, `-1e300`, `9e15`} {
		_, err := ParseJSONEvent([]byte(`{"ts":`+ts+`}`), JSONOptions{TimestampField: "ts"})
		require.ErrorIs(t, err, ErrNoTimestamp, ts)
		assert.Contains(t, err.Error(), "out of range", ts)
	}
	for _, ts := range []string{`"2261-12-31T00:00:00Z"`, `"1678-01-02T00:00:00Z"`, `-5`} {
		_, err := ParseJSONEvent([]byte(`{"ts":`+ts+`}`), JSONOptions{TimestampField: "ts"})
		assert.NoError(t, err, ts)
	}
}

func TestEngineErrors(t *testing.T) {
	cases := []struct{ name, y, want string }{
		{"unknown reference", "title: c\ncorrelation:\n  type: event_count\n  rules: [nope]\n  group-by: [u]\n  timespan: 5m\n  condition: {gte: 2}\n", "test.yml:4:11: correlation \"c\" refers to unknown rule \"nope\""},
		{"cycle", "title: a\nname: a\ncorrelation:\n  type: event_count\n  rules: [b]\n  group-by: [u]\n  timespan: 5m\n  condition: {gte: 2}\n---\ntitle: b\nname: b\ncorrelation:\n  type: event_count\n  rules: [a]\n  group-by: [u]\n  timespan: 5m\n  condition: {gte: 2}\n", "cycle"},
		{"duplicate id", "title: a\nid: x\nlogsource: {product: t}\ndetection: {s: {a: 1}, condition: s}\n---\ntitle: b\nid: x\nlogsource: {product: t}\ndetection: {s: {a: 1}, condition: s}\n", "duplicate rule id x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rules, errs := ParseRules("test.yml", []byte(c.y))
			require.Empty(t, errs)
			_, err := NewEngine(rules, Config{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			e, err := NewEngine(rules, Config{Lenient: true})
			require.NoError(t, err)
			assert.NotEmpty(t, e.Refused())
		})
	}
}

func TestUnmappedLogsourceInactive(t *testing.T) {
	y := "title: t\nlogsource: {product: windows}\ndetection: {s: {a: 1}, condition: s}\n"
	rules, _ := ParseRules("x.yml", []byte(y))
	e, err := NewEngine(rules, Config{})
	require.NoError(t, err)
	assert.Len(t, e.Inactive(), 1)
	assert.Empty(t, e.Process(mk(t, 0, "1", fields{"a": 1})))
}

type structEvent struct {
	id     string
	action string
	t      time.Time
}

func (s *structEvent) Field(n string) (any, bool) {
	switch n {
	case "event.id":
		return s.id, true
	case "event.action":
		return s.action, true
	case "event.outcome":
		return "failure", true
	}
	return nil, false
}
func (s *structEvent) Time() time.Time { return s.t }

func TestWrap(t *testing.T) {
	e := engine(t, baseRules, Config{})
	a := e.Process(Wrap(&structEvent{id: "s1", action: "login", t: t0}))
	require.Len(t, a, 1)
	assert.Equal(t, []string{"s1"}, a[0].EventIDs)
}

func TestIdenticalRulesEvaluatedOnce(t *testing.T) {
	y := baseRules + `---
title: failed login twin
id: twin
logsource: {product: test}
detection:
  sel:
    event.action: login
    event.outcome: failure
  condition: sel
`
	e := engine(t, y, Config{})
	a := run(e, []Event{fail(t, 0, "1", "u", "ip")}, "")
	var ids []string
	for _, x := range a {
		ids = append(ids, x.RuleID)
	}
	sort.Strings(ids)
	assert.Equal(t, []string{"failed", "twin"}, ids)
	d, _ := e.Rules()
	assert.Equal(t, 4, d)
	assert.Len(t, e.detect, 3, "the twin rides on the first rule's evaluation")
	assert.Equal(t, uint64(2), e.Stats().Matches)
}

func TestUnfireableCorrelations(t *testing.T) {
	y := `title: win
name: win
logsource: {product: windows}
detection: {s: {a: 1}, condition: s}
---
title: imap
name: imap
logsource: {product: maildrill, service: imap}
detection: {s: {a: 1}, condition: s}
---
title: count over win
name: count_win
correlation: {type: event_count, rules: [win], group-by: [u], timespan: 1m, condition: {gte: 2}}
---
title: count over both
correlation: {type: event_count, rules: [win, imap], group-by: [u], timespan: 1m, condition: {gte: 2}}
---
title: temporal over both
correlation: {type: temporal, rules: [win, imap], group-by: [u], timespan: 1m}
---
title: count over count over win
correlation: {type: event_count, rules: [count_win], group-by: [u], timespan: 1m, condition: {gte: 2}}
`
	rules, errs := ParseRules("x.yml", []byte(y))
	require.Empty(t, errs)
	e, err := NewEngine(rules, Config{})
	require.NoError(t, err)
	titles := func(rs []*sigma.Rule) (out []string) {
		for _, r := range rs {
			out = append(out, r.Title)
		}
		return out
	}
	assert.Equal(t, []string{"win"}, titles(e.Inactive()))
	assert.ElementsMatch(t, []string{"win", "count over win", "temporal over both", "count over count over win"}, titles(e.Unfireable()))

	ls := MaildrillLogsources()
	ls.MatchUnmapped = true
	e, err = NewEngine(rules, Config{Logsources: &ls})
	require.NoError(t, err)
	assert.Empty(t, e.Unfireable())
}

// Silent names the rules that never alert on their own: base rules of
// correlations none of which says generate: true, with those correlations.
func TestSilentBaseRules(t *testing.T) {
	y := `title: base a
name: a
logsource: {product: maildrill, service: imap}
detection: {s: {a: 1}, condition: s}
---
title: base b
name: b
logsource: {product: maildrill, service: imap}
detection: {s: {b: 1}, condition: s}
---
title: alone
logsource: {product: maildrill, service: imap}
detection: {s: {c: 1}, condition: s}
---
title: count a
correlation: {type: event_count, rules: [a], group-by: [u], timespan: 1m, condition: {gte: 2}}
---
title: count a again
correlation: {type: event_count, rules: [a], group-by: [u], timespan: 5m, condition: {gte: 5}}
---
title: count b, generating
correlation: {type: event_count, rules: [b], group-by: [u], timespan: 1m, condition: {gte: 2}}
generate: true
`
	rules, errs := ParseRules("x.yml", []byte(y))
	require.Empty(t, errs)
	e, err := NewEngine(rules, Config{})
	require.NoError(t, err)
	silent, over := e.Silent()
	require.Len(t, silent, 1, "b alerts (generate: true); alone and the correlations are not referenced")
	assert.Equal(t, "base a", silent[0].Title)
	require.Len(t, over[0], 2)
	assert.Equal(t, "count a", over[0][0].Title)
	assert.Equal(t, "count a again", over[0][1].Title)
}
