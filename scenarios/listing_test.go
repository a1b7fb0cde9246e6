package scenarios

import (
	"bytes"
	"strings"
	"testing"
)

func TestWriteLibrary(t *testing.T) {
	var b bytes.Buffer
	if err := WriteLibrary(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lib, err := Library()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "SCENARIO") || !strings.Contains(out, "\nStep kinds:\n") {
		t.Fatalf("unexpected layout:\n%s", out)
	}
	for _, s := range lib {
		if !strings.Contains(out, s.ID+" ") {
			t.Errorf("scenario %s not listed", s.ID)
		}
	}
	for _, k := range StepKinds() {
		if !strings.Contains(out, "  "+k.Name+" ") {
			t.Errorf("step kind %s not listed", k.Name)
		}
	}
}
