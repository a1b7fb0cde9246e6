package target

import (
	"fmt"
	"slices"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/corpus"
	"github.com/maildrill/maildrill/mailsim/remote"
)

// Org is the organisation a seed generates, as every target serves it:
// the embedded target and the docker container run mailsim with that
// configuration, and the dovecot target is seeded with a Maildir export
// of it. Its people, shared mailboxes and their folders are known
// without starting anything.
type Org struct {
	org      *corpus.Org
	accounts []account.Account
	// the remote target's: its file's folders and domain
	remote *remote.File
}

// RemoteOrg is the organisation the remote target serves: the test
// accounts of the file, their domain, and the folders each declares
// (INBOX always).
func RemoteOrg(f *remote.File) *Org {
	return &Org{accounts: RemoteAccounts(f), remote: f}
}

// Remote tells whether the organisation is a remote file's.
func (o *Org) Remote() bool { return o.remote != nil }

// FoldersKnown tells whether Folders lists an account's folders: always
// for a generated organisation; for a remote file, when the account
// declares folders: (else only INBOX is known and any folder may exist).
func (o *Org) FoldersKnown(address string) bool {
	if o.remote == nil {
		return true
	}
	a, ok := o.remote.Find(address)
	return ok && len(a.Folders) > 0
}

// Describe names the organisation in messages.
func (o *Org) Describe(seed int64) string {
	if o.remote != nil {
		return "the remote file " + o.remote.Path
	}
	return fmt.Sprintf("the organisation of seed %d", seed)
}

// NewOrg generates the organisation of seed with users people and about
// messages messages each (0: the defaults).
func NewOrg(seed int64, users, messages int) (*Org, error) {
	org, err := corpus.New(corpus.Config{Seed: seed, Users: users, MessagesPerUser: messages})
	if err != nil {
		return nil, err
	}
	return &Org{org: org, accounts: mailsim.OrgAccounts(org)}, nil
}

// Accounts are the logins, people first (the director first of all),
// then the shared mailboxes; a target's Accounts are the same.
func (o *Org) Accounts() []account.Account { return o.accounts }

// Domain is the organisation's mail domain.
func (o *Org) Domain() string {
	if o.remote != nil {
		return o.remote.Domain
	}
	return o.org.Config().Domain
}

// Folders are the names of an account's generated folders, parents
// (such as "Archive") included; nil for an unknown address.
func (o *Org) Folders(address string) []string {
	if o.remote != nil {
		a, ok := o.remote.Find(address)
		if !ok {
			return nil
		}
		return append([]string{"INBOX"}, a.Folders...)
	}
	var out []string
	for _, f := range o.org.Folders(address) {
		out = append(out, f.Name)
	}
	return out
}

// AttachmentTypes are the file types (extensions) the organisation's
// attachments have, sorted.
func AttachmentTypes() []string { return corpus.AttachmentTypes() }

// CommonPasswords is a password-spray list: the weak and seasonal
// passwords about 3% of the people (never the director) have.
func CommonPasswords() []string { return slices.Clone(corpus.CommonPasswords) }
