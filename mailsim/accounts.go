package mailsim

import (
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/maildrill/maildrill/mailsim/account"
)

// WriteAccounts writes the accounts as JSON, mode 0600, through a
// temporary file renamed into place: a reader (e.g. docker cp) never sees
// half of it.
func WriteAccounts(path string, accounts []account.Account) error {
	b, err := json.MarshalIndent(accounts, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".accounts-*.json")
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
