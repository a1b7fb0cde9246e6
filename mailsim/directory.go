package mailsim

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/corpus"
	"github.com/maildrill/maildrill/mailsim/imapd"
	"github.com/maildrill/maildrill/mailsim/smtpd"
	"github.com/maildrill/maildrill/mailsim/store"
)

// directory answers authentication and access questions from the corpus.
type directory struct {
	org        *corpus.Org
	accessible map[string][]account.Account // user → other mailboxes they may open
}

func newDirectory(org *corpus.Org) *directory {
	d := &directory{org: org, accessible: map[string][]account.Account{}}
	for _, u := range org.Users() {
		acc := u.Account()
		for _, del := range u.Delegates {
			del = strings.ToLower(del)
			d.accessible[del] = append(d.accessible[del], acc)
		}
	}
	return d
}

var (
	errUnknownUser = fmt.Errorf("%w: %w", imapd.ErrUnknownUser, smtpd.ErrUnknownUser)
	errBadPassword = fmt.Errorf("%w: %w", imapd.ErrInvalidCredentials, smtpd.ErrInvalidCredentials)
)

// Authenticate accepts the full address or the local part.
func (d *directory) Authenticate(username, password string) (string, error) {
	u, ok := d.lookup(username)
	if !ok || u.Kind != "person" {
		return "", errUnknownUser
	}
	if u.Password != password {
		return "", errBadPassword
	}
	return u.Address, nil
}

func (d *directory) lookup(name string) (corpus.User, bool) {
	name = strings.ToLower(strings.TrimSpace(name))
	if !strings.Contains(name, "@") {
		name += "@" + d.org.Config().Domain
	}
	return d.org.Lookup(name)
}

func (d *directory) Account(address string) (account.Account, bool) {
	u, ok := d.org.Lookup(address)
	if !ok {
		return account.Account{}, false
	}
	return u.Account(), true
}

func (d *directory) AccessibleBy(user string) []account.Account {
	return d.accessible[strings.ToLower(user)]
}

// smtpBackend delivers into the store.
type smtpBackend struct {
	dir   *directory
	store *store.Store
}

func (b *smtpBackend) Authenticate(username, password string) (string, error) {
	return b.dir.Authenticate(username, password)
}

func (b *smtpBackend) IsLocal(address string) bool {
	_, ok := b.dir.org.Lookup(address)
	return ok
}

func (b *smtpBackend) CanSendAs(user, from string) bool {
	if strings.EqualFold(user, from) {
		return true
	}
	u, ok := b.dir.org.Lookup(from)
	if !ok {
		return false
	}
	for _, d := range u.Delegates {
		if strings.EqualFold(d, user) {
			return true
		}
	}
	return false
}

func (b *smtpBackend) Deliver(address string, raw []byte) error {
	u, ok := b.dir.org.Lookup(address)
	if !ok {
		return fmt.Errorf("no such mailbox %s", address)
	}
	_, err := b.store.Deliver(u.Address, raw)
	if errors.Is(err, store.ErrOverQuota) {
		return fmt.Errorf("%w: %w", smtpd.ErrMailboxFull, err)
	}
	return err
}

// baseAdapter exposes the corpus as the store's Base.
type baseAdapter struct{ org *corpus.Org }

func (a baseAdapter) Folders(owner string) []store.BaseFolder {
	fs := a.org.Folders(owner)
	if fs == nil {
		return nil
	}
	out := make([]store.BaseFolder, len(fs))
	for i, f := range fs {
		out[i] = store.BaseFolder{Name: f.Name, SpecialUse: f.SpecialUse, Count: f.Count, UIDValidity: f.UIDValidity}
	}
	return out
}

func (a baseAdapter) Message(owner, folder string, uid uint32) (store.BaseMessage, error) {
	m, err := a.org.Message(owner, folder, uid)
	if err != nil {
		return store.BaseMessage{}, err
	}
	return store.BaseMessage{InternalDate: m.InternalDate, Flags: m.Flags, Raw: m.Raw, Attachments: baseAttachments(m.Attachments)}, nil
}

// MessageParts is the message in pieces, its attachments' base64 shared
// with the corpus' document cache (corpus.Org.MessageParts).
func (a baseAdapter) MessageParts(owner, folder string, uid uint32) (store.BaseMessage, [][]byte, error) {
	m, parts, err := a.org.MessageParts(owner, folder, uid)
	if err != nil {
		return store.BaseMessage{}, nil, err
	}
	return partsMessage(m), parts, nil
}

// PrepareMessage renders the message's attachments nobody is rendering
// into the corpus' document cache, for a download to find them made, and
// returns the message in pieces when it waited for none of them
// (corpus.Org.PrepareParts).
func (a baseAdapter) PrepareMessage(owner, folder string, uid uint32) (store.BaseMessage, [][]byte, bool) {
	m, parts, err := a.org.PrepareParts(owner, folder, uid)
	if err != nil || m == nil {
		return store.BaseMessage{}, nil, false
	}
	return partsMessage(m), parts, true
}

// partsMessage describes a message the corpus gave in pieces.
func partsMessage(m *corpus.Message) store.BaseMessage {
	bm := store.BaseMessage{InternalDate: m.InternalDate, Flags: m.Flags, Attachments: baseAttachments(m.Attachments)}
	for _, sec := range m.Sections {
		bm.Sections = append(bm.Sections, store.Section{Part: sec.Part, From: sec.From, To: sec.To})
	}
	if m.HeaderExact() {
		bm.Headed, bm.MessageID, bm.Subject = true, strings.Trim(m.MessageID, "<>"), m.Subject
	}
	return bm
}

// Skeleton is the message without its attachments' base64 text
// (corpus.Org.Skeleton): what ENVELOPE, BODYSTRUCTURE and RFC822.SIZE need.
func (a baseAdapter) Skeleton(owner, folder string, uid uint32) (store.BaseMessage, error) {
	m, err := a.org.Skeleton(owner, folder, uid)
	if err != nil {
		return store.BaseMessage{}, err
	}
	om := make([]store.OmittedPart, len(m.Omitted))
	for i, o := range m.Omitted {
		om[i] = store.OmittedPart{Part: o.Part, Bytes: int64(o.Bytes), Lines: int64(o.Lines)}
	}
	return store.BaseMessage{InternalDate: m.InternalDate, Flags: m.Flags, Raw: m.Raw, Attachments: baseAttachments(m.Attachments), Omitted: om}, nil
}

// baseAttachments describes a generated message's attachments for the
// store, as it would find them by walking the message (the corpus knows
// their sizes and digests: no decoding, no hashing).
func baseAttachments(atts []corpus.Attachment) []store.Attachment {
	out := make([]store.Attachment, len(atts))
	for i, a := range atts {
		out[i] = store.Attachment{Part: a.Part, FileName: a.Filename,
			Extension: strings.TrimPrefix(strings.ToLower(path.Ext(a.Filename)), "."),
			MIMEType:  strings.ToLower(a.ContentType), Size: int64(a.Size), SHA256: a.SHA256}
	}
	return out
}

// NewStore builds the organisation and its store without starting any
// server (for Maildir export and offline tools).
func NewStore(cfg Config) (*corpus.Org, *store.Store, error) {
	org, err := newOrg(cfg)
	if err != nil {
		return nil, nil, err
	}
	return org, store.New(baseAdapter{org}, cfg.Clock, store.Options{CacheBytes: cfg.messageCacheBytes()}), nil
}

func newOrg(cfg Config) (*corpus.Org, error) {
	if cfg.MessageCacheBytes < 0 || cfg.AttachmentCacheBytes < 0 {
		return nil, fmt.Errorf("mailsim: cache bounds must not be negative")
	}
	org, err := corpus.New(corpus.Config{Seed: cfg.Seed, Domain: cfg.Domain, Users: cfg.Users, MessagesPerUser: cfg.MessagesPerUser,
		CacheDir: cfg.CorpusCacheDir, CacheBytes: cfg.AttachmentCacheBytes})
	if err != nil {
		return nil, fmt.Errorf("mailsim: organisation: %w", err)
	}
	return org, nil
}

func (cfg Config) messageCacheBytes() int64 {
	if cfg.MessageCacheBytes > 0 {
		return cfg.MessageCacheBytes
	}
	return MessageCacheFor(cfg.Clients)
}

// Flags tells a base message's flags without generating its attachments.
func (a baseAdapter) Flags(owner, folder string, uid uint32) ([]string, time.Time, error) {
	return a.org.Flags(owner, folder, uid)
}
