package report

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestFilesWrite(t *testing.T) {
	rep := Build([]Run{fixture(t)}, time.Unix(0, 0))
	dir := t.TempDir()
	var stdout bytes.Buffer
	f := Files{JSON: "-", JUnit: filepath.Join(dir, "junit.xml")}
	if !f.ToStdout() {
		t.Fatal("ToStdout: want true with JSON on -")
	}
	if err := f.Write(rep, &stdout); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(stdout.Bytes(), []byte(`"schema"`)) {
		t.Errorf("stdout holds no JSON report: %.80q", stdout.String())
	}
	if b, err := os.ReadFile(f.JUnit); err != nil || !bytes.Contains(b, []byte("<testsuites")) {
		t.Errorf("junit file: %v %.80q", err, b)
	}
	err := Files{HTML: filepath.Join(dir, "missing", "r.html")}.Write(rep, &stdout)
	var fe *FileError
	if !errors.As(err, &fe) || fe.Format != "html" {
		t.Errorf("unwritable file: got %v, want a FileError for html", err)
	}
}

func TestWriteSummary(t *testing.T) {
	rep := Build([]Run{fixture(t)}, time.Unix(0, 0))
	var b bytes.Buffer
	WriteSummary(&b, rep)
	want := fmt.Sprintf("\nscenarios: %d passed, %d failed; expectations: %d met, %d not met; unexpected alerts: %d\n",
		rep.ScenariosPassed(), rep.Summary.Scenarios-rep.ScenariosPassed(), rep.Summary.Passed, rep.Summary.Failed, rep.Summary.Unexpected)
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	if rep.ScenariosPassed() > rep.Summary.Scenarios || (rep.Passed && rep.ScenariosPassed() != rep.Summary.Scenarios) {
		t.Errorf("%d of %d scenarios passed, report passed %v", rep.ScenariosPassed(), rep.Summary.Scenarios, rep.Passed)
	}
}
