package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
)

// MaildirProgress is called after each message written.
type MaildirProgress func(folder string, done, total int)

// ExportMaildir writes owner's mailboxes, with every mutation applied, as a
// Maildir++ tree under dir (INBOX at the top, "Archive/2024" as
// ".Archive.2024"), with Dovecot's dovecot-uidlist in each folder so UIDs
// and UIDVALIDITY match mailsim's. File names carry the size (",S=") and
// the flags (":2,FRS"). The same seed and mutations give the same tree.
//
// dir may hold an earlier export (of another seed, size or state): its
// messages, folders and Dovecot indexes are replaced, so that no message
// of it stays beside the new ones with a UID Dovecot would make up. A
// message file that no export wrote (a real mailbox) stops the export
// before anything is written: it never writes into someone's Maildir.
func (s *Store) ExportMaildir(ctx context.Context, owner, dir string, progress MaildirProgress) error {
	boxes, err := s.Mailboxes(owner)
	if err != nil {
		return err
	}
	folders := make([]string, len(boxes)) // each mailbox's Maildir++ folder
	subs := map[string]bool{}
	for i, mb := range boxes {
		folders[i] = dir
		if name := mb.Name(); name != "INBOX" {
			if strings.Contains(name, ".") {
				return fmt.Errorf("store: mailbox %q: a dot cannot be represented in Maildir++ folder names", name)
			}
			folders[i] = filepath.Join(dir, "."+strings.ReplaceAll(name, "/", "."))
			subs[folders[i]] = true
		}
	}
	if err := clearExport(dir, subs); err != nil {
		return fmt.Errorf("store: export %s: %w", owner, err)
	}
	for i, mb := range boxes {
		if err := exportFolder(ctx, mb, folders[i], progress); err != nil {
			return fmt.Errorf("store: export %s %s: %w", owner, mb.Name(), err)
		}
	}
	return nil
}

// exportMark is in the name of every message file an export writes.
const exportMark = ".mailsim,S="

// clearExport removes what an earlier export left in the Maildir++ tree
// dir: its message files, Dovecot's indexes and uidlists, and its folders
// that keep is not naming. It first checks every folder and refuses,
// having removed nothing, when one holds a message file no export wrote.
func clearExport(dir string, keep map[string]bool) error {
	folders, ours, err := scanExport(dir)
	if err != nil || folders == nil {
		return err
	}
	return removeExport(dir, keep, folders, ours)
}

// scanExport lists the folders of the Maildir++ tree dir (nil when dir
// does not exist) and the message files an export wrote there; a message
// file of any other name is an error.
func scanExport(dir string) (folders, ours []string, _ error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	folders = []string{dir}
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), ".") && e.Name() != "." && e.Name() != ".." {
			folders = append(folders, filepath.Join(dir, e.Name()))
		}
	}
	for _, f := range folders {
		for _, d := range []string{"cur", "new", "tmp"} {
			files, err := os.ReadDir(filepath.Join(f, d))
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			for _, m := range files {
				p := filepath.Join(f, d, m.Name())
				if m.IsDir() || !strings.Contains(m.Name(), exportMark) {
					return nil, nil, fmt.Errorf("%s was not written by an export: %s holds mail of its own; export into an empty directory", p, dir)
				}
				ours = append(ours, p)
			}
		}
	}
	return folders, ours, nil
}

// removeExport removes the files scanExport found, the folders' Dovecot
// indexes and uidlists, and the folders keep does not name.
func removeExport(dir string, keep map[string]bool, folders, ours []string) error {
	for _, p := range ours {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	for _, f := range folders {
		files, err := os.ReadDir(f)
		if err != nil {
			return err
		}
		for _, e := range files {
			if n := e.Name(); !e.IsDir() && (n == "dovecot-uidlist" || strings.HasPrefix(n, "dovecot.index") || strings.HasPrefix(n, "dovecot-uidlist.lock")) {
				if err := os.Remove(filepath.Join(f, n)); err != nil {
					return err
				}
			}
		}
		if f != dir && !keep[f] {
			for _, d := range []string{"cur", "new", "tmp"} {
				if err := os.Remove(filepath.Join(f, d)); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
			os.Remove(f) // left in place if it holds anything else
		}
	}
	return nil
}

// ExportMaildirs writes the mail of each owner to root/<owner>/Maildir
// (ExportMaildir), two owners at a time; done, if not nil, is called after
// each owner, one call at a time. The first error stops the rest; a
// Maildir holding mail no export wrote stops it before anything is
// written.
func (s *Store) ExportMaildirs(ctx context.Context, owners []string, root string, done func(owner, dir string)) error {
	// Refuse before writing anything when any owner's Maildir holds mail
	// no export wrote.
	for _, owner := range owners {
		if _, _, err := scanExport(filepath.Join(root, owner, "Maildir")); err != nil {
			return fmt.Errorf("exporting %s: store: %w", owner, err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan string)
	errc := make(chan error, len(owners))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for owner := range work {
				dir := filepath.Join(root, owner, "Maildir")
				if err := s.ExportMaildir(ctx, owner, dir, nil); err != nil {
					errc <- fmt.Errorf("exporting %s: %w", owner, err)
					cancel()
					continue
				}
				if done != nil {
					mu.Lock()
					done(owner, dir)
					mu.Unlock()
				}
			}
		}()
	}
	for _, o := range owners {
		select {
		case work <- o:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	if len(errs) == 0 && ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.Join(errs...)
}

func exportFolder(ctx context.Context, mb *Mailbox, dir string, progress MaildirProgress) error {
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	items := mb.Items(nil)
	var uidlist strings.Builder
	fmt.Fprintf(&uidlist, "3 V%d N%d\n", mb.UIDValidity(), mb.UIDNext())
	for i, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, err := it.Load()
		if err != nil {
			return err
		}
		flags := it.Flags
		if flags == nil {
			flags = m.baseFlags
		}
		base := fmt.Sprintf("%d.M%dP0.mailsim,S=%d", m.InternalDate.Unix(), it.UID, m.Size)
		name := base + ":2," + maildirFlags(flags)
		path := filepath.Join(dir, "cur", name)
		if err := os.WriteFile(path, m.Raw, 0o644); err != nil {
			return err
		}
		if !m.InternalDate.IsZero() {
			os.Chtimes(path, m.InternalDate, m.InternalDate)
		}
		fmt.Fprintf(&uidlist, "%d :%s\n", it.UID, base)
		if progress != nil {
			progress(mb.Name(), i+1, len(items))
		}
	}
	return os.WriteFile(filepath.Join(dir, "dovecot-uidlist"), []byte(uidlist.String()), 0o644)
}

func maildirFlags(flags []imap.Flag) string {
	var out []string
	for _, f := range flags {
		switch canonFlag(f) {
		case imap.FlagDraft:
			out = append(out, "D")
		case imap.FlagFlagged:
			out = append(out, "F")
		case imap.FlagAnswered:
			out = append(out, "R")
		case imap.FlagSeen:
			out = append(out, "S")
		case imap.FlagDeleted:
			out = append(out, "T")
		}
	}
	sort.Strings(out)
	return strings.Join(out, "")
}
