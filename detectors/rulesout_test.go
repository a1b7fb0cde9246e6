package detectors

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestOverridesApply(t *testing.T) {
	base := Config{Placeholders: DefaultPlaceholders()}
	cfg, tm, err := Overrides{TZ: "UTC", TZSource: "--tz", Placeholders: []string{"%office_networks%=1.2.3.0/24"}, TimestampField: "ts"}.Apply(base, PackFile)
	if err != nil {
		t.Fatal(err)
	}
	if tm != "UTC (--tz)" || cfg.TimestampField != "ts" || cfg.Placeholders["office_networks"][0] != "1.2.3.0/24" {
		t.Errorf("got tm %q, field %q, placeholders %v", tm, cfg.TimestampField, cfg.Placeholders)
	}
	for field, o := range map[string]Overrides{
		"TZ":           {TZ: "Mars/Olympus"},
		"Placeholders": {Placeholders: []string{"=x"}},
	} {
		_, _, err := o.Apply(Config{Placeholders: DefaultPlaceholders()}, "")
		var oe *OverrideError
		if !errors.As(err, &oe) || oe.Field != field {
			t.Errorf("%s: got %v, want an OverrideError naming it", field, err)
		}
	}
}

func TestEvaluateToStopsAndReports(t *testing.T) {
	eng, err := NewEngine(nil, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, log bytes.Buffer
	err = EvaluateTo(ctx, eng, strings.NewReader(`{"@timestamp":"2025-01-01T00:00:00Z"}`+"\n"), "ev.jsonl", JSONOptions{}, &out, &log)
	var se *StoppedError
	if !errors.As(err, &se) || !strings.Contains(log.String(), "stopped at line 1 of ev.jsonl") {
		t.Errorf("got %v, log %q", err, log.String())
	}
	log.Reset()
	err = EvaluateTo(context.Background(), eng, strings.NewReader("{}\n"), "ev.jsonl", JSONOptions{}, &out, &log)
	if err == nil || !strings.Contains(err.Error(), "ev.jsonl:1:") {
		t.Errorf("a line without a timestamp: got %v", err)
	}
}
