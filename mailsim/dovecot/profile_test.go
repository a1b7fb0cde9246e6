package dovecot

import (
	"os"
	"testing"
)

// The container image and the loopback runner log the same way.
func TestEnhancedConfInImage(t *testing.T) {
	b, err := os.ReadFile("../../docker/dovecot/conf/enhanced.conf")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != EnhancedLogging {
		t.Error("docker/dovecot/conf/enhanced.conf differs from EnhancedLogging: copy one to the other")
	}
}
