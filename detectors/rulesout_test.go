package detectors

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

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
