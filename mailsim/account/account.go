// Package account describes a mailbox of the simulated organisation — a
// person's login or a shared mailbox — once, for everything that needs
// one: the IMAP and SMTP servers' directory, the targets, the Dovecot
// configuration, the scenario language, and the accounts.json file whose
// format its JSON tags define. It imports nothing of maildrill, so every
// package can use it.
package account

// Account is a login of the organisation, or a shared mailbox that its
// delegates open (a shared mailbox has no login of its own).
type Account struct {
	Address    string   `json:"address"`
	Password   string   `json:"password"`
	Name       string   `json:"name"`
	Department string   `json:"department"`
	Role       string   `json:"role"`
	Title      string   `json:"title,omitempty"`
	Kind       string   `json:"kind"`                // "person" or "shared"
	Delegates  []string `json:"delegates,omitempty"` // addresses that may open this mailbox
}
