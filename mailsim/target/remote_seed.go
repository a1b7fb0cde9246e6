package target

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/remote"
)

// seedMessages picks, for each test account, the mail of one person of
// the organisation (the first with the same role, else the next one
// left; shared mailboxes likewise among the shared ones): up to per
// messages of each folder, documents included, as the Maildir export
// writes them.
func seedMessages(ctx context.Context, spec Spec, f *remote.File, per int) (map[string][]remote.SeedMessage, error) {
	org, st, err := mailsim.NewStore(mailsim.Config{Seed: spec.Seed, Users: spec.Users, MessagesPerUser: spec.Messages,
		CorpusCacheDir: spec.CorpusCacheDir, Clock: spec.Clock})
	if err != nil {
		return nil, err
	}
	accs := mailsim.OrgAccounts(org)
	pairs := pairAccounts(f, accs)
	root, err := os.MkdirTemp("", "maildrill-seed-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(root)
	owners := make([]string, 0, len(pairs))
	for _, o := range pairs {
		owners = append(owners, o)
	}
	if err := st.ExportMaildirs(ctx, owners, root, nil); err != nil {
		return nil, err
	}
	out := map[string][]remote.SeedMessage{}
	for addr, owner := range pairs {
		dir := filepath.Join(root, owner, "Maildir")
		folders := map[string]string{"INBOX": dir}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.IsDir() && strings.HasPrefix(e.Name(), ".") {
				folders[strings.ReplaceAll(e.Name()[1:], ".", "/")] = filepath.Join(dir, e.Name())
			}
		}
		names := make([]string, 0, len(folders))
		for n := range folders {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, name := range names {
			var files []string
			for _, sub := range []string{"cur", "new"} {
				es, _ := os.ReadDir(filepath.Join(folders[name], sub))
				for _, e := range es {
					files = append(files, filepath.Join(folders[name], sub, e.Name()))
				}
			}
			sort.Strings(files)
			if len(files) > per {
				files = files[:per]
			}
			for _, p := range files {
				raw, err := os.ReadFile(p)
				if err != nil {
					return nil, err
				}
				var flags []imap.Flag
				if _, info, ok := strings.Cut(filepath.Base(p), ":2,"); ok {
					if strings.Contains(info, "S") {
						flags = append(flags, imap.FlagSeen)
					}
					if strings.Contains(info, "F") {
						flags = append(flags, imap.FlagFlagged)
					}
				}
				out[addr] = append(out[addr], remote.SeedMessage{Mailbox: name, Raw: raw, Flags: flags})
			}
		}
	}
	return out, nil
}

// pairAccounts maps each test account to an organisation account.
func pairAccounts(f *remote.File, accs []account.Account) map[string]string {
	used := map[string]bool{}
	out := map[string]string{}
	for _, a := range f.Accounts {
		if a.Role == "" || a.Password == "" {
			continue
		}
		for _, o := range accs {
			if o.Kind == a.Kind && o.Role == a.Role && !used[o.Address] {
				out[a.Address], used[o.Address] = o.Address, true
				break
			}
		}
	}
	for _, a := range f.Accounts {
		if _, ok := out[a.Address]; ok || a.Password == "" {
			continue // paired, or a shared mailbox without a login
		}
		for _, o := range accs {
			if o.Kind == a.Kind && !used[o.Address] {
				out[a.Address], used[o.Address] = o.Address, true
				break
			}
		}
	}
	return out
}
