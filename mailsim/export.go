package mailsim

import (
	"context"
	"errors"
	"strings"
)

// ErrNoMailbox is ExportMaildirs' error when no mailbox matches the
// addresses asked for.
var ErrNoMailbox = errors.New("no mailbox matched")

// ExportMaildirs writes the mailboxes of cfg's organisation under root, in
// Maildir++ layout with dovecot-uidlist files (store.ExportMaildirs):
// every mailbox, or those of the addresses only (case-insensitive). done
// is called after each mailbox. An organisation that cannot be built is
// reported before any file is written.
func ExportMaildirs(ctx context.Context, cfg Config, only []string, root string, done func(owner, dir string)) error {
	org, st, err := NewStore(cfg)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, u := range only {
		want[strings.ToLower(u)] = true
	}
	var owners []string
	for _, u := range org.Users() {
		if len(want) == 0 || want[strings.ToLower(u.Address)] {
			owners = append(owners, u.Address)
		}
	}
	if len(owners) == 0 {
		return ErrNoMailbox
	}
	return st.ExportMaildirs(ctx, owners, root, done)
}
