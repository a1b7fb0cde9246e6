package alertsrc

import (
	"errors"
	"strings"
	"testing"
)

func TestOpen(t *testing.T) {
	in, err := Open(IntakeConfig{Mapping: "nonsense"})
	if in != nil || err != nil {
		t.Errorf("no source: got %v, %v; want nil, nil (the mapping is not read)", in, err)
	}
	_, err = Open(IntakeConfig{File: "alerts.jsonl", Mapping: "nonsense"})
	var ie *IntakeError
	if !errors.As(err, &ie) || ie.Field != "Mapping" {
		t.Errorf("bad mapping: got %v", err)
	}
	_, err = Open(IntakeConfig{Webhook: "256.0.0.1:x"})
	if !errors.As(err, &ie) || ie.Field != "Webhook" {
		t.Errorf("bad webhook address: got %v", err)
	}
	in, err = Open(IntakeConfig{Webhook: "127.0.0.1:0", File: "a.jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if !strings.HasPrefix(in.URL(), "http://127.0.0.1:") || len(in.Sources("r1")) != 2 {
		t.Errorf("webhook at %q, %d sources", in.URL(), len(in.Sources("r1")))
	}
}
