package rulepack

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/maildrill/maildrill/detectors"
)

// Overrides change the configuration a rule pack declares, as the options
// of `maildrill rules` do.
type Overrides struct {
	TimestampField     string
	Lateness, Suppress time.Duration
	// TZ is the time zone of the time modifiers: "" the pack's, "event" or
	// "as-written" the value as written, else an IANA name. TZSource names
	// the override in TimeModifiersText ("--tz").
	TZ, TZSource string
	// Placeholders are name=value1,value2 settings, over the pack's.
	Placeholders []string
	// AnyLogsource runs rules whose logsource is not mapped on every event.
	AnyLogsource bool
}

// OverrideError is a refused value of an Overrides field (Field: "TZ",
// "Placeholders", "Lateness", "Suppress").
type OverrideError struct {
	Field, Value string
	Err          error
}

func (e *OverrideError) Error() string { return fmt.Sprintf("%s %q: %v", e.Field, e.Value, e.Err) }
func (e *OverrideError) Unwrap() error { return e.Err }

// Apply overrides cfg (whose time zone was set by source: File, or ""
// for the defaults) with o. tm describes how the time modifiers then read
// times (TimeModifiersText).
func (o Overrides) Apply(cfg detectors.Config, source string) (_ detectors.Config, tm string, _ error) {
	// A negative lateness made every correlation's events "late": no
	// correlation could fire.
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"Lateness", o.Lateness}, {"Suppress", o.Suppress}} {
		if d.v < 0 {
			return cfg, "", &OverrideError{Field: d.field, Value: d.v.String(), Err: errors.New("want a duration of 0 or more")}
		}
	}
	cfg.TimestampField = o.TimestampField
	cfg.Lateness = o.Lateness
	cfg.Suppress = o.Suppress
	switch strings.ToLower(o.TZ) {
	case "": // the pack's setting
	case "event", "as-written":
		cfg.Location, source = nil, o.TZSource
	default:
		loc, err := time.LoadLocation(o.TZ)
		if err != nil {
			return cfg, "", &OverrideError{Field: "TZ", Value: o.TZ, Err: err}
		}
		cfg.Location, source = loc, o.TZSource
	}
	tm = TimeModifiersText(cfg.Location, source)
	for _, p := range o.Placeholders {
		name, vals, ok := strings.Cut(p, "=")
		if !ok || name == "" {
			return cfg, "", &OverrideError{Field: "Placeholders", Value: p, Err: errors.New("want name=value1,value2")}
		}
		cfg.Placeholders[strings.Trim(name, "%")] = strings.Split(vals, ",")
	}
	if o.AnyLogsource {
		ls := detectors.MaildrillLogsources()
		ls.MatchUnmapped = true
		cfg.Logsources = &ls
	}
	return cfg, tm, nil
}
