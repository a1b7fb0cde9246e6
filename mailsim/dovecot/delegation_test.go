package dovecot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maildrill/maildrill/mailsim/account"
)

func TestDelegationFiles(t *testing.T) {
	accounts := []account.Account{
		{Address: "director@interieur.test", Password: "pw1", Delegates: []string{"secretariat@interieur.test", "secretariat@interieur.test", "director@interieur.test"}},
		{Address: "secretariat@interieur.test", Password: "pw2"},
		{Address: "cabinet@interieur.test", Password: "pw3", Kind: "shared", Delegates: []string{"director@interieur.test", "secretariat@interieur.test"}},
	}
	if got, want := passwdFile(accounts), "director@interieur.test:{PLAIN}pw1\nsecretariat@interieur.test:{PLAIN}pw2\n"; got != want {
		t.Errorf("passwd:\n%s\nwant\n%s", got, want)
	}
	wantUsers := "director@interieur.test:::::/srv/maildrill/users/director@interieur.test::\n" +
		"secretariat@interieur.test:::::/srv/maildrill/users/secretariat@interieur.test::\n" +
		"cabinet@interieur.test:::::/srv/maildrill/shared/cabinet@interieur.test::\n"
	if got := usersFile(accounts); got != wantUsers {
		t.Errorf("users:\n%s\nwant\n%s", got, wantUsers)
	}
	wantDict := "shared/shared-boxes/user/director@interieur.test/cabinet@interieur.test\n1\n" +
		"shared/shared-boxes/user/secretariat@interieur.test/cabinet@interieur.test\n1\n" +
		"shared/shared-boxes/user/secretariat@interieur.test/director@interieur.test\n1\n"
	if got := sharedDict(accounts); got != wantDict {
		t.Errorf("dict:\n%s\nwant\n%s", got, wantDict)
	}

	root := t.TempDir()
	inbox := filepath.Join(root, "director@interieur.test", "Maildir")
	for _, d := range []string{"cur", ".Sent/cur", ".Archive.2025/cur"} {
		if err := os.MkdirAll(filepath.Join(inbox, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeACLs(root, accounts); err != nil {
		t.Fatal(err)
	}
	want := "owner lrwstipekxa\nuser=secretariat@interieur.test lrwstipekx\n"
	for _, d := range []string{"", ".Sent", ".Archive.2025"} {
		b, err := os.ReadFile(filepath.Join(inbox, d, "dovecot-acl"))
		if err != nil || string(b) != want {
			t.Errorf("%s/dovecot-acl: %q, %v", d, b, err)
		}
	}
	// No Maildir yet (nothing exported): an empty one, with its ACL.
	b, err := os.ReadFile(filepath.Join(root, "cabinet@interieur.test", "Maildir", "dovecot-acl"))
	if err != nil || !strings.Contains(string(b), "user=director@interieur.test lrwstipekx\n") {
		t.Errorf("cabinet: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(root, "secretariat@interieur.test")); !os.IsNotExist(err) {
		t.Errorf("an account without delegates got a Maildir: %v", err)
	}
	if err := writeACLs(root, []account.Account{{Address: "../x", Delegates: []string{"a@b"}}}); err == nil {
		t.Error("an address with a slash was used as a directory")
	}
}
