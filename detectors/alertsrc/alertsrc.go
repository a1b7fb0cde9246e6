// Package alertsrc brings in alerts from outside detection systems, so that
// a blue team can judge its own SIEM against a scenario's expectations: an
// HTTP webhook receiver for alerts the SIEM posts, a JSON-lines file, or a
// command's output. A configurable field mapping turns each JSON alert into
// a detectors.Alert; the run id is the correlation marker; Poll waits, up to
// a deadline, for alerts that arrive late.
package alertsrc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/maildrill/maildrill/detectors"
)

// Source is somewhere outside alerts come from.
type Source interface {
	// Alerts returns every alert of the run received so far.
	Alerts(ctx context.Context) ([]detectors.Alert, error)
}

// Mapping says where an outside alert keeps what a verdict needs. Paths
// are dotted names, found flat ({"rule.name": ...}) or nested
// ({"rule": {"name": ...}}), as in events.
type Mapping struct {
	Rule   string // rule name or title; default "rule.name", then "rule.title"
	RuleID string // default "rule.id"
	Time   string // alert time; default "@timestamp"
	// TimeLayout parses Time when it is a string in another layout than
	// RFC 3339 (Go reference-time layout). Numbers are Unix seconds, or
	// milliseconds when larger than 1e12.
	TimeLayout string
	Level      string // default "rule.level"
	RunID      string // the run id; default "labels.run_id"
	// Keys are the group-by values expectations match on: the alert's
	// key name → path in the JSON (e.g. "user.name" → "user").
	Keys map[string]string
	// RequireRunID drops alerts that do not carry a run id. By default
	// only alerts carrying another run's id are dropped.
	RequireRunID bool
}

func (m Mapping) withDefaults() Mapping {
	if m.Rule == "" {
		m.Rule = "rule.name"
	}
	if m.RuleID == "" {
		m.RuleID = "rule.id"
	}
	if m.Time == "" {
		m.Time = "@timestamp"
	}
	if m.Level == "" {
		m.Level = "rule.level"
	}
	if m.RunID == "" {
		m.RunID = "labels.run_id"
	}
	return m
}

// ParseMapping reads a mapping written as comma-separated name=path pairs:
// rule, rule_id, time, time_layout, level, run_id, and key.NAME for a
// group-by key; e.g. "rule=alert.name,time=ts,key.user.name=user".
func ParseMapping(s string) (Mapping, error) {
	var m Mapping
	seen := map[string]bool{}
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			return m, fmt.Errorf("alert mapping %q: want name=path", kv)
		}
		if seen[k] {
			return m, fmt.Errorf("alert mapping: %s given twice", k)
		}
		seen[k] = true
		switch {
		case k == "rule":
			m.Rule = v
		case k == "rule_id":
			m.RuleID = v
		case k == "time":
			m.Time = v
		case k == "time_layout":
			m.TimeLayout = v
		case k == "level":
			m.Level = v
		case k == "run_id":
			m.RunID = v
		case strings.HasPrefix(k, "key.") && len(k) > 4:
			if m.Keys == nil {
				m.Keys = map[string]string{}
			}
			m.Keys[k[4:]] = v
		default:
			return m, fmt.Errorf("alert mapping: unknown name %q (rule, rule_id, time, time_layout, level, run_id, key.NAME)", k)
		}
	}
	return m, nil
}

// ErrOtherRun marks an alert of another run (or, with RequireRunID,
// without a run id).
var ErrOtherRun = errors.New("alert of another run")

// Convert turns one decoded JSON alert into a detectors.Alert for runID,
// or returns ErrOtherRun.
func (m Mapping) Convert(obj map[string]any, runID string) (detectors.Alert, error) {
	a, id, has, err := m.convert(obj)
	if err != nil {
		return a, err
	}
	if !m.accepts(id, has, runID) {
		return detectors.Alert{}, ErrOtherRun
	}
	return a, nil
}

// accepts says whether an alert carrying run id (when has) is runID's.
func (m Mapping) accepts(id string, has bool, runID string) bool {
	if has {
		return id == runID
	}
	return !m.RequireRunID
}

// convert maps an alert and says which run it names, if any.
func (m Mapping) convert(obj map[string]any) (a detectors.Alert, runID string, hasRunID bool, err error) {
	m = m.withDefaults()
	runID, hasRunID = lookupString(obj, m.RunID)
	name, ok := lookupString(obj, m.Rule)
	if !ok && m.Rule == "rule.name" {
		name, ok = lookupString(obj, "rule.title")
	}
	if !ok || name == "" {
		return a, runID, hasRunID, fmt.Errorf("alert without a rule name at %q", m.Rule)
	}
	tv, ok := lookup(obj, m.Time)
	if !ok {
		return a, runID, hasRunID, fmt.Errorf("alert %q without a time at %q", name, m.Time)
	}
	t, err := parseTime(tv, m.TimeLayout)
	if err != nil {
		return a, runID, hasRunID, fmt.Errorf("alert %q: time at %q: %w", name, m.Time, err)
	}
	a = detectors.Alert{RuleName: name, Title: name, Type: "outside", Time: t, First: t, Last: t, Group: map[string]string{}}
	a.RuleID, _ = lookupString(obj, m.RuleID)
	if a.RuleID == "" {
		a.RuleID = name
	}
	a.Level, _ = lookupString(obj, m.Level)
	for k, p := range m.Keys {
		if v, ok := lookupString(obj, p); ok {
			a.Group[k] = v
		}
	}
	return a, runID, hasRunID, nil
}

// Decode reads alerts from a body: one JSON object, an array of objects,
// or JSON lines. It returns the alerts of runID, and how many belonged to
// other runs.
func (m Mapping) Decode(body []byte, runID string) (alerts []detectors.Alert, other int, err error) {
	all, err := m.decodeAll(body)
	for _, t := range all {
		if m.accepts(t.runID, t.hasRunID, runID) {
			alerts = append(alerts, t.alert)
		} else {
			other++
		}
	}
	return alerts, other, err
}

// tagged is an alert with the run id it names.
type tagged struct {
	alert    detectors.Alert
	runID    string
	hasRunID bool
}

// decodeAll maps every alert of a body, whatever its run; on error it
// returns those before the bad one.
func (m Mapping) decodeAll(body []byte) ([]tagged, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var objs []map[string]any
	for {
		var v any
		if err := dec.Decode(&v); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("alerts: invalid JSON: %w", err)
		}
		switch x := v.(type) {
		case map[string]any:
			objs = append(objs, x)
		case []any:
			for _, it := range x {
				o, ok := it.(map[string]any)
				if !ok {
					return nil, errors.New("alerts: an array must hold objects")
				}
				objs = append(objs, o)
			}
		default:
			return nil, errors.New("alerts: want a JSON object, an array of objects, or JSON lines")
		}
	}
	var out []tagged
	for _, o := range objs {
		a, id, has, err := m.convert(o)
		if err != nil {
			return out, err
		}
		out = append(out, tagged{a, id, has})
	}
	return out, nil
}

func lookup(m map[string]any, name string) (any, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	// nested, or a mix of nested and flat: try every split at a dot
	for i := 0; i < len(name); i++ {
		if name[i] != '.' {
			continue
		}
		if sub, ok := m[name[:i]].(map[string]any); ok {
			if v, ok := lookup(sub, name[i+1:]); ok {
				return v, true
			}
		}
	}
	return nil, false
}

func lookupString(m map[string]any, name string) (string, bool) {
	v, ok := lookup(m, name)
	if !ok || v == nil {
		return "", false
	}
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return fmt.Sprint(v), true
}

func parseTime(v any, layout string) (time.Time, error) {
	var f float64
	switch x := v.(type) {
	case string:
		if layout != "" {
			return time.Parse(layout, x)
		}
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t, nil
		}
		n, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not RFC 3339 (set a time layout)", x)
		}
		f = n
	case json.Number:
		n, err := x.Float64()
		if err != nil {
			return time.Time{}, err
		}
		f = n
	case float64:
		f = x
	default:
		return time.Time{}, fmt.Errorf("unusable time %v", v)
	}
	if f > 1e12 { // milliseconds
		f /= 1000
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

// PollOptions tune Poll.
type PollOptions struct {
	// Deadline bounds the wait in wall time (default 30s).
	Deadline time.Duration
	// Interval is the time between polls (default 500ms).
	Interval time.Duration
	// Done, when set, ends the wait early: it sees every alert so far and
	// says whether they are enough (e.g. every expectation is met).
	Done func([]detectors.Alert) bool
	// Progress, when set, is called after each poll with the alerts so far.
	Progress func(poll int, alerts []detectors.Alert)
	// Once asks the sources once and does not wait (Deadline still bounds
	// that one poll).
	Once bool
}

// Poll asks the sources for alerts until Done says enough, the deadline
// passes, or ctx ends, and returns the last alerts seen, in time order.
// Reaching the deadline is not an error: alerts that never came are the
// verdicts' business.
func Poll(ctx context.Context, srcs []Source, o PollOptions) ([]detectors.Alert, error) {
	if o.Deadline <= 0 {
		o.Deadline = 30 * time.Second
	}
	if o.Interval <= 0 {
		o.Interval = 500 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, o.Deadline)
	defer cancel()
	var last []detectors.Alert
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	for poll := 1; ; poll++ {
		var all []detectors.Alert
		for _, s := range srcs {
			as, err := s.Alerts(ctx)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				return last, err
			}
			all = append(all, as...)
		}
		if ctx.Err() == nil || len(all) >= len(last) {
			last = sortAlerts(all)
		}
		if o.Progress != nil {
			o.Progress(poll, last)
		}
		if o.Once || (o.Done != nil && o.Done(last)) {
			return last, nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return last, nil
			}
			return last, ctx.Err()
		case <-tick.C:
		}
	}
}

func sortAlerts(as []detectors.Alert) []detectors.Alert {
	out := append([]detectors.Alert(nil), as...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}
