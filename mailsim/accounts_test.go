package mailsim

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/corpus"
)

var updateGolden = flag.Bool("update-accounts-golden", false, "rewrite testdata/accounts.golden.json")

// TestAccountsFileShape pins the accounts.json format field by field:
// clients (imapbench, scripts, the Dovecot target) read it.
func TestAccountsFileShape(t *testing.T) {
	path := filepath.Join(t.TempDir(), "accounts.json")
	err := WriteAccounts(path, []account.Account{
		{Address: "a.b@x.test", Password: "pw1", Name: "A B", Department: "Cabinet", Role: "director", Title: "Directeur", Kind: "person"},
		{Address: "c@x.test", Password: "pw2", Name: "C", Department: "DRH", Role: "agent", Kind: "person"},
		{Address: "team@x.test", Password: "", Name: "Team", Department: "DRH", Role: "shared", Kind: "shared", Delegates: []string{"a.b@x.test", "c@x.test"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `[
  {
    "address": "a.b@x.test",
    "password": "pw1",
    "name": "A B",
    "department": "Cabinet",
    "role": "director",
    "title": "Directeur",
    "kind": "person"
  },
  {
    "address": "c@x.test",
    "password": "pw2",
    "name": "C",
    "department": "DRH",
    "role": "agent",
    "kind": "person"
  },
  {
    "address": "team@x.test",
    "password": "",
    "name": "Team",
    "department": "DRH",
    "role": "shared",
    "kind": "shared",
    "delegates": [
      "a.b@x.test",
      "c@x.test"
    ]
  }
]
`
	if string(got) != want {
		t.Errorf("accounts.json changed shape:\n got: %s\nwant: %s", got, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("accounts.json mode: %v %v, want 0600", fi.Mode().Perm(), err)
	}
}

// TestAccountsFileGolden checks a generated organisation's accounts.json
// byte for byte against testdata/accounts.golden.json.
func TestAccountsFileGolden(t *testing.T) {
	org, err := corpus.New(corpus.Config{Seed: 7, Users: 6, MessagesPerUser: 1})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "accounts.json")
	if err := WriteAccounts(path, OrgAccounts(org)); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "accounts.golden.json")
	if *updateGolden {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("accounts.json of seed 7 differs from %s:\n got: %s", golden, got)
	}
}
