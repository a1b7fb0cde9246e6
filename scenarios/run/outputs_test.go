package run

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestOpenOutputs(t *testing.T) {
	dir := t.TempDir()
	var stdout bytes.Buffer
	o, err := OpenOutputs(filepath.Join(dir, "ev.jsonl"), "-", "", &stdout)
	if err != nil {
		t.Fatal(err)
	}
	var opts Options
	o.Set(&opts)
	if opts.Events == nil || opts.Truth != &stdout || opts.Syslog != nil {
		t.Fatalf("Set: events %v, truth %v, syslog %v", opts.Events, opts.Truth, opts.Syslog)
	}
	opts.Events.Write([]byte("{}\n"))
	o.Close()
	if b, err := os.ReadFile(filepath.Join(dir, "ev.jsonl")); err != nil || string(b) != "{}\n" {
		t.Errorf("events file: %q, %v", b, err)
	}
	_, err = OpenOutputs("", "", filepath.Join(dir, "missing", "mail.log"), &stdout)
	var oe *OutputError
	if !errors.As(err, &oe) || oe.Name != "syslog" {
		t.Errorf("an uncreatable file: got %v, want an OutputError naming syslog", err)
	}
}
