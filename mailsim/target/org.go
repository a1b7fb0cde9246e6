package target

import (
	"slices"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/corpus"
)

// Org is the organisation a seed generates, as every target serves it:
// the embedded target and the docker container run mailsim with that
// configuration, and the dovecot target is seeded with a Maildir export
// of it. Its people, shared mailboxes and their folders are known
// without starting anything.
type Org struct {
	org      *corpus.Org
	accounts []account.Account
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
func (o *Org) Domain() string { return o.org.Config().Domain }

// Folders are the names of an account's generated folders, parents
// (such as "Archive") included; nil for an unknown address.
func (o *Org) Folders(address string) []string {
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
