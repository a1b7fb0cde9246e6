package mailsim

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExportMaildirs(t *testing.T) {
	cfg := Config{Seed: 3, Users: 2, MessagesPerUser: 4}
	org, _, err := NewStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr := org.Users()[0].Address
	root := t.TempDir()
	var dirs []string
	err = ExportMaildirs(context.Background(), cfg, []string{"  " + addr + "  "}, root, func(_, dir string) { dirs = append(dirs, dir) })
	if !errors.Is(err, ErrNoMailbox) {
		t.Errorf("an address with spaces matches no mailbox: got %v", err)
	}
	err = ExportMaildirs(context.Background(), cfg, []string{strings.ToUpper(addr)}, root, func(_, dir string) { dirs = append(dirs, dir) })
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != 1 {
		t.Fatalf("exported %v, want the one mailbox asked for", dirs)
	}
	if _, err := os.Stat(filepath.Join(dirs[0], "cur")); err != nil {
		t.Errorf("no Maildir written: %v", err)
	}
}
