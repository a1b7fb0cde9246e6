package dovecot

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/maildrill/maildrill/mailsim/account"
)

// Delegated and shared mailboxes, named as mailsim names them
// (mailsim/imapd: OtherUsersPrefix, SharedPrefix): a person's mailboxes
// show to its delegates under Users/<local part>/, a shared (team)
// mailbox's under Shared/<local part>/. In the container this is Dovecot's
// ACL plugin with two shared namespaces (docker/dovecot/conf/dovecot.conf);
// StartContainer writes, from the accounts, everything it needs before the
// container starts.

// Namespace prefixes of other accounts' mailboxes, as on mailsim.
const (
	UsersPrefix  = "Users/"
	SharedPrefix = "Shared/"
)

// Rights in the dovecot-acl files: the owner has all of them; a delegate
// everything but administering the ACL (mailsim gives delegates the
// owner's access to every mailbox, and has no ACL commands).
const (
	ownerRights    = "lrwstipekxa"
	delegateRights = "lrwstipekx"
)

// aclFileName is the vfile backend's per-mailbox ACL file.
const aclFileName = "dovecot-acl"

// passwdFile lists who may log in: people, not shared mailboxes.
func passwdFile(accounts []account.Account) string {
	var b strings.Builder
	for _, a := range accounts {
		if !isShared(a) {
			fmt.Fprintf(&b, "%s:{PLAIN}%s\n", a.Address, a.Password)
		}
	}
	return b.String()
}

// usersFile is the passwd-file userdb: every account, with its namespace
// link as the home (the entrypoint makes the link).
func usersFile(accounts []account.Account) string {
	var b strings.Builder
	for _, a := range accounts {
		kind := "users"
		if isShared(a) {
			kind = "shared"
		}
		fmt.Fprintf(&b, "%s:::::/srv/maildrill/%s/%s::\n", a.Address, kind, a.Address)
	}
	return b.String()
}

// sharedDict seeds acl_shared_dict (Dovecot's file dict: a key line, a
// value line): "delegate may look into owner's mailboxes", which LIST
// needs to find other accounts' mailboxes. Dovecot rewrites an owner's
// entries from its ACL files when they change; these are the same.
func sharedDict(accounts []account.Account) string {
	var keys []string
	for _, a := range accounts {
		for _, d := range a.Delegates {
			if d = strings.TrimSpace(d); d != "" && !strings.EqualFold(d, a.Address) {
				keys = append(keys, "shared/shared-boxes/user/"+d+"/"+a.Address)
			}
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 && keys[i-1] == k {
			continue
		}
		b.WriteString(k + "\n1\n")
	}
	return b.String()
}

// aclText is the dovecot-acl file of each folder of an account with
// delegates.
func aclText(a account.Account) string {
	var b strings.Builder
	fmt.Fprintf(&b, "owner %s\n", ownerRights)
	seen := map[string]bool{}
	for _, d := range a.Delegates {
		d = strings.TrimSpace(d)
		if d == "" || strings.EqualFold(d, a.Address) || seen[strings.ToLower(d)] {
			continue
		}
		seen[strings.ToLower(d)] = true
		fmt.Fprintf(&b, "user=%s %s\n", d, delegateRights)
	}
	return b.String()
}

// writeACLs writes a dovecot-acl file in every Maildir folder of each
// account that has delegates (root = INBOX, and the Maildir++ ".Folder"
// directories), creating an empty Maildir when the account has none.
// Folders created later inherit the ACL of their parent (Dovecot copies
// it), top-level ones that of the root.
func writeACLs(mailRoot string, accounts []account.Account) error {
	for _, a := range accounts {
		if len(a.Delegates) == 0 {
			continue
		}
		if strings.ContainsAny(a.Address, "/\x00") || a.Address == "" || a.Address[0] == '.' {
			return fmt.Errorf("dovecot: account address %q cannot name a directory", a.Address)
		}
		root := filepath.Join(mailRoot, a.Address, "Maildir")
		for _, d := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				return fmt.Errorf("dovecot: maildir of %s: %w", a.Address, err)
			}
		}
		dirs := []string{root}
		ents, err := os.ReadDir(root)
		if err != nil {
			return fmt.Errorf("dovecot: maildir of %s: %w", a.Address, err)
		}
		for _, e := range ents {
			if e.IsDir() && strings.HasPrefix(e.Name(), ".") && e.Name() != "." && e.Name() != ".." {
				dirs = append(dirs, filepath.Join(root, e.Name()))
			}
		}
		text := []byte(aclText(a))
		for _, d := range dirs {
			if err := os.WriteFile(filepath.Join(d, aclFileName), text, 0o644); err != nil {
				return fmt.Errorf("dovecot: ACL of %s: %w", a.Address, err)
			}
		}
	}
	return nil
}
