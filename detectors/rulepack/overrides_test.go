package rulepack

import (
	"errors"
	"testing"
	"time"

	"github.com/maildrill/maildrill/detectors"
)

func TestOverridesApply(t *testing.T) {
	base := detectors.Config{Placeholders: DefaultPlaceholders()}
	cfg, tm, err := Overrides{TZ: "UTC", TZSource: "--tz", Placeholders: []string{"%office_networks%=1.2.3.0/24"}, TimestampField: "ts"}.Apply(base, File)
	if err != nil {
		t.Fatal(err)
	}
	if tm != "UTC (--tz)" || cfg.TimestampField != "ts" || cfg.Placeholders["office_networks"][0] != "1.2.3.0/24" {
		t.Errorf("got tm %q, field %q, placeholders %v", tm, cfg.TimestampField, cfg.Placeholders)
	}
	for field, o := range map[string]Overrides{
		"TZ":           {TZ: "Mars/Olympus"},
		"Placeholders": {Placeholders: []string{"=x"}},
		"Lateness":     {Lateness: -time.Second}, // made every correlation's events late
		"Suppress":     {Suppress: -time.Second},
	} {
		_, _, err := o.Apply(detectors.Config{Placeholders: DefaultPlaceholders()}, "")
		var oe *OverrideError
		if !errors.As(err, &oe) || oe.Field != field {
			t.Errorf("%s: got %v, want an OverrideError naming it", field, err)
		}
	}
}
