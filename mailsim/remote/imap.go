package remote

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// RunHeader marks every message --seed-mailboxes puts on the server,
// with the run id as its value: cleanup removes exactly those.
const RunHeader = "X-Maildrill-Run"

// ClientTLS is the TLS configuration the remote file asks for: its CA,
// the system's, or no check with insecure: true; the certificate must
// name the endpoint's host as the file writes it (a name, or an IP), not
// the address the run resolved it to and dials.
func (f *File) ClientTLS(host string) *tls.Config {
	return &tls.Config{RootCAs: f.CAPool, InsecureSkipVerify: f.Insecure, MinVersion: tls.VersionTLS12, ServerName: host}
}

// Conn reaches the remote server's IMAP endpoint for maintenance
// (seeding, cleanup, snapshots): only at the address Allow.Check
// resolved, with the file's TLS mode.
type Conn struct {
	f    *File
	imap Resolved
}

// NewConn is a Conn for the checked endpoints (Allow.Check's result).
func NewConn(f *File, checked []Resolved) (*Conn, error) {
	for _, r := range checked {
		if r.Key == "imap" {
			return &Conn{f: f, imap: r}, nil
		}
	}
	return nil, errors.New("remote: the imap endpoint was not checked")
}

// Login opens an IMAP session as acc.
func (c *Conn) Login(ctx context.Context, acc *Account) (*imapclient.Client, error) {
	d := net.Dialer{Timeout: 15 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", c.imap.Dial())
	if err != nil {
		return nil, fmt.Errorf("imap %s: %w", c.imap.Address, err)
	}
	tcfg := c.f.ClientTLS(c.imap.Host())
	var cl *imapclient.Client
	switch c.imap.TLS {
	case TLSImplicit:
		cl = imapclient.New(tls.Client(conn, tcfg), nil)
	case TLSStartTLS:
		cl, err = imapclient.NewStartTLS(conn, &imapclient.Options{TLSConfig: tcfg})
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("imap %s: STARTTLS: %w", c.imap.Address, err)
		}
	default:
		cl = imapclient.New(conn, nil)
	}
	if err := cl.WaitGreeting(); err != nil {
		cl.Close()
		return nil, fmt.Errorf("imap %s: greeting: %w", c.imap.Address, err)
	}
	if err := cl.Login(acc.Address, acc.Password).Wait(); err != nil {
		cl.Close()
		return nil, fmt.Errorf("imap %s: login %s: %w", c.imap.Address, acc.Address, err)
	}
	return cl, nil
}

// mailboxes lists the selectable mailboxes of a session.
func mailboxes(cl *imapclient.Client) ([]string, error) {
	list, err := cl.List("", "*", nil).Collect()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range list {
		if slices.Contains(d.Attrs, imap.MailboxAttrNoSelect) || slices.Contains(d.Attrs, imap.MailboxAttrNonExistent) {
			continue
		}
		out = append(out, d.Mailbox)
	}
	sort.Strings(out)
	return out, nil
}

// CleanupCount is what Cleanup removed from one mailbox.
type CleanupCount struct {
	Account, Mailbox string
	Removed          int
}

// Cleanup removes, in every mailbox every account with a password sees
// (its own, and the delegated and shared ones its LIST shows), the messages
// whose RunHeader is runID (SEARCH HEADER, STORE \Deleted, UID EXPUNGE
// when the server has UIDPLUS, else EXPUNGE). It goes on past an
// account it cannot reach and returns every error.
func (c *Conn) Cleanup(ctx context.Context, runID string) ([]CleanupCount, error) {
	if strings.TrimSpace(runID) == "" {
		return nil, errors.New("cleanup: empty run id")
	}
	var out []CleanupCount
	var errs []error
	for i := range c.f.Accounts {
		acc := &c.f.Accounts[i]
		if acc.Password == "" {
			continue // a shared mailbox: its delegates' sessions reach it
		}
		n, err := c.cleanupAccount(ctx, acc, runID)
		out = append(out, n...)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", acc.Address, err))
		}
	}
	return out, errors.Join(errs...)
}

func (c *Conn) cleanupAccount(ctx context.Context, acc *Account, runID string) ([]CleanupCount, error) {
	cl, err := c.Login(ctx, acc)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	boxes, err := mailboxes(cl)
	if err != nil {
		return nil, err
	}
	var out []CleanupCount
	for _, mb := range boxes {
		if _, err := cl.Select(mb, nil).Wait(); err != nil {
			return out, fmt.Errorf("select %s: %w", mb, err)
		}
		res, err := cl.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: RunHeader, Value: runID}}}, nil).Wait()
		if err != nil {
			return out, fmt.Errorf("search %s: %w", mb, err)
		}
		uids := res.AllUIDs()
		// SEARCH HEADER is a substring match: keep only exact values.
		uids, err = exactRun(cl, uids, runID)
		if err != nil {
			return out, fmt.Errorf("fetch %s: %w", mb, err)
		}
		if len(uids) == 0 {
			continue
		}
		set := imap.UIDSetNum(uids...)
		if err := cl.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			return out, fmt.Errorf("store %s: %w", mb, err)
		}
		if cl.Caps().Has(imap.CapUIDPlus) {
			err = cl.UIDExpunge(set).Close()
		} else {
			err = cl.Expunge().Close()
		}
		if err != nil {
			return out, fmt.Errorf("expunge %s: %w", mb, err)
		}
		out = append(out, CleanupCount{Account: acc.Address, Mailbox: mb, Removed: len(uids)})
	}
	_ = cl.Logout().Wait()
	return out, nil
}

func exactRun(cl *imapclient.Client, uids []imap.UID, runID string) ([]imap.UID, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	msgs, err := cl.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true,
		BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{RunHeader}, Peek: true}}}).Collect()
	if err != nil {
		return nil, err
	}
	var out []imap.UID
	for _, m := range msgs {
		for _, b := range m.BodySection {
			for _, line := range strings.Split(string(b.Bytes), "\n") {
				k, v, ok := strings.Cut(line, ":")
				if ok && strings.EqualFold(strings.TrimSpace(k), RunHeader) && strings.TrimSpace(v) == runID {
					out = append(out, m.UID)
				}
			}
		}
	}
	return out, nil
}

// SeedMessage is one message to put in an account's mailbox.
type SeedMessage struct {
	Mailbox string
	Raw     []byte
	Flags   []imap.Flag
}

// Seed APPENDs msgs (per account address) with a RunHeader of runID
// first; a mailbox the account does not have gets nothing (Skipped
// counts). It stops at the first error: the caller cleans up.
func (c *Conn) Seed(ctx context.Context, runID string, msgs map[string][]SeedMessage) (added, skipped int, err error) {
	addrs := make([]string, 0, len(msgs))
	for a := range msgs {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	for _, addr := range addrs {
		acc, ok := c.f.Find(addr)
		if !ok {
			return added, skipped, fmt.Errorf("seed: no account %s in %s", addr, c.f.Path)
		}
		cl, err := c.Login(ctx, acc)
		if err != nil {
			return added, skipped, err
		}
		boxes, err := mailboxes(cl)
		if err != nil {
			cl.Close()
			return added, skipped, err
		}
		for _, m := range msgs[addr] {
			i := slices.IndexFunc(boxes, func(b string) bool { return sameMailbox(b, m.Mailbox) })
			if i < 0 {
				skipped++
				continue
			}
			raw := append([]byte(RunHeader+": "+runID+"\r\n"), crlf(m.Raw)...)
			cmd := cl.Append(boxes[i], int64(len(raw)), &imap.AppendOptions{Flags: m.Flags})
			if _, err := cmd.Write(raw); err != nil {
				cl.Close()
				return added, skipped, fmt.Errorf("seed %s %s: %w", addr, m.Mailbox, err)
			}
			if err := cmd.Close(); err != nil {
				cl.Close()
				return added, skipped, fmt.Errorf("seed %s %s: %w", addr, m.Mailbox, err)
			}
			if _, err := cmd.Wait(); err != nil {
				cl.Close()
				return added, skipped, fmt.Errorf("seed %s %s: %w", addr, m.Mailbox, err)
			}
			added++
		}
		_ = cl.Logout().Wait()
		cl.Close()
	}
	return added, skipped, nil
}

// sameMailbox compares mailbox names whatever the hierarchy delimiter
// ("Archive/2024", "Archive.2024"); INBOX in any case.
func sameMailbox(a, b string) bool {
	norm := func(s string) string { return strings.ReplaceAll(s, ".", "/") }
	return strings.EqualFold(a, "INBOX") && strings.EqualFold(b, "INBOX") || norm(a) == norm(b)
}

// crlf makes line ends CRLF, as IMAP wants them.
func crlf(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

// Snapshot is, per account and mailbox, the Message-Ids (and, for
// messages without one, the size and first bytes) of what the mailbox
// holds: what "exactly as before" is compared on.
type Snapshot map[string]map[string][]string

// Snapshot reads every mailbox of every account.
func (c *Conn) Snapshot(ctx context.Context) (Snapshot, error) {
	out := Snapshot{}
	for i := range c.f.Accounts {
		acc := &c.f.Accounts[i]
		if acc.Password == "" {
			continue // a shared mailbox: seen through its delegates
		}
		cl, err := c.Login(ctx, acc)
		if err != nil {
			return nil, err
		}
		boxes, err := mailboxes(cl)
		if err != nil {
			cl.Close()
			return nil, err
		}
		out[acc.Address] = map[string][]string{}
		for _, mb := range boxes {
			d, err := cl.Select(mb, &imap.SelectOptions{ReadOnly: true}).Wait()
			if err != nil {
				cl.Close()
				return nil, err
			}
			ids := []string{}
			if d.NumMessages > 0 {
				var all imap.SeqSet
				all.AddRange(1, 0) // 1:*
				msgs, err := cl.Fetch(all, &imap.FetchOptions{Envelope: true, RFC822Size: true}).Collect()
				if err != nil {
					cl.Close()
					return nil, err
				}
				for _, m := range msgs {
					id := ""
					if m.Envelope != nil {
						id = m.Envelope.MessageID
					}
					if id == "" {
						id = fmt.Sprintf("(no id, %d bytes)", m.RFC822Size)
					}
					ids = append(ids, id)
				}
			}
			sort.Strings(ids)
			out[acc.Address][mb] = ids
		}
		_ = cl.Logout().Wait()
		cl.Close()
	}
	return out, nil
}
