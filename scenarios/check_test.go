package scenarios

import (
	"bytes"
	"strings"
	"testing"

	"github.com/maildrill/maildrill/detectors/rulepack"
)

func TestCheckFiles(t *testing.T) {
	pack, err := rulepack.Load("")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = CheckFiles(&out, []string{"ministry-overnight", "no-such-scenario"}, pack.Rules, 0)
	if !strings.HasPrefix(out.String(), "ministry-overnight: ok (ministry-overnight, ") {
		t.Errorf("valid scenario: wrote %q", out.String())
	}
	if err == nil || !strings.Contains(err.Error(), "no-such-scenario") {
		t.Errorf("unknown scenario: got %v", err)
	}
}
