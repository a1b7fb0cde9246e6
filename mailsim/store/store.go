// Package store is mailsim's mail store: every user's mailboxes, whose base
// content is generated on demand by a Base (the synthetic corpus) and whose
// mutations — delivery, APPEND, flags, EXPUNGE, COPY/MOVE, CREATE/DELETE/RENAME —
// are layered on top in memory. Nothing holds the whole corpus in memory:
// untouched messages are regenerated from (owner, folder, uid) when needed
// and parsed messages are kept in a bounded cache.
//
// Locks are held only to read or change mailbox state, never while message
// bytes are generated or written to the network.
package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maildrill/maildrill/internal/lru"
	"github.com/maildrill/maildrill/internal/nozero"
	"github.com/maildrill/maildrill/mailsim/clock"
)

// Errors returned by the store.
var (
	ErrNoMailbox     = errors.New("no such mailbox")
	ErrMailboxExists = errors.New("mailbox already exists")
	ErrUnknownOwner  = errors.New("no such mailbox owner")
	ErrReadOnly      = errors.New("mailbox is read-only")
	ErrNoMessage     = errors.New("no such message")
	// ErrOverQuota: the owner's added messages would exceed the quota.
	ErrOverQuota = errors.New("mailbox owner over quota")
	// ErrRefused is what every refusal of a request the store does not
	// allow (DELETE of INBOX, an invalid name) is: errors.Is(err, ErrRefused).
	ErrRefused = errors.New("refused")
)

// DefaultQuotaBytes is each owner's quota for messages added on top of the
// generated corpus (APPEND, COPY, MOVE, delivery): generous, so that no
// scenario meets it, but finite, so that a client cannot exhaust memory.
const DefaultQuotaBytes = 1 << 30

// BaseFolder describes a folder of the generated base.
type BaseFolder struct {
	Name        string
	SpecialUse  string
	Count       uint32
	UIDValidity uint32
}

// BaseMessage is a generated message.
type BaseMessage struct {
	InternalDate time.Time
	Flags        []string
	Raw          []byte // must not be modified
	// Attachments, when not nil, describe Raw's attachment parts exactly
	// as the store would find them (DescribeAttachments): the store then
	// neither walks nor hashes them. Nil: the store finds them itself.
	Attachments []Attachment
	// Omitted, in a skeleton (BaseDescriber), are the part bodies left
	// out of Raw.
	Omitted []OmittedPart
	// Headed says that MessageID (without angle brackets) and Subject
	// (decoded) are exactly what reading the message's header gives: a
	// whole download of a BaseStreamer's message then does not read it.
	Headed             bool
	MessageID, Subject string
	// Sections, from a BaseStreamer's MessageParts, are where attachment
	// parts' bodies are among the pieces: a BODY[part] download of one
	// writes those pieces, without the message made whole.
	Sections []Section
}

// Section is a part's body in a message given in pieces: the pieces
// [From, To), whose concatenation is exactly the part's body (BODY[Part]).
type Section struct {
	Part     []int
	From, To int
}

// OmittedPart is a part body a skeleton leaves out: the leaf part at Part
// (a child of the top-level multipart) is Bytes bytes and Lines lines
// longer in the message.
type OmittedPart struct {
	Part         []int
	Bytes, Lines int64
}

// Base generates the initial content of every mailbox, deterministically.
type Base interface {
	// Folders returns the folders of owner's mailbox, nil if unknown.
	Folders(owner string) []BaseFolder
	// Message returns the message uid of owner's folder.
	Message(owner, folder string, uid uint32) (BaseMessage, error)
}

// BaseFlagger is an optional Base extension that tells a message's flags
// and date without generating the whole message (cheap SELECT/STATUS).
type BaseFlagger interface {
	Flags(owner, folder string, uid uint32) ([]string, time.Time, error)
}

// Options tune the store.
type Options struct {
	// CacheMessages bounds the parsed-message cache. Default 4096.
	CacheMessages int
	// CacheBytes bounds the bytes held by the cache. Default 512 MiB; a
	// message larger than the bound is served but not kept.
	CacheBytes int64
	// QuotaBytes bounds, per owner, the bytes of messages added on top of
	// the generated corpus. Zero means DefaultQuotaBytes, negative no quota.
	QuotaBytes int64
	// SpillDir, when set, keeps the messages added to mailboxes (APPEND,
	// delivery, COPY, MOVE) of SpillMinBytes or more on disk, appended to
	// one file of the store's own there (added-mail-*.spill, made on the
	// first such message), and only their
	// description in memory; their content is read back through the
	// message cache. "": every added message stays in memory. The file is
	// not removed by the store (the caller owns the directory); Close
	// closes it.
	SpillDir string
	// MaxMIMEDepth and MaxMIMEParts bound how much of a message's MIME
	// tree is described (defaults DefaultMaxMIMEDepth, DefaultMaxMIMEParts).
	MaxMIMEDepth int
	MaxMIMEParts int
}

// Store holds the mailboxes of every owner.
type Store struct {
	base  Base
	clock clock.Clock
	cache *lru.Cache[string, *Message]
	// meta keeps base messages' descriptions (Item.Meta).
	meta *lru.Cache[string, *Meta]
	// cacheLimit is the cache's bound in bytes.
	cacheLimit int64
	spillDir   string
	quota      int64 // 0: none
	limits     mimeLimits

	// spillMu guards the spill file: made on first use (spillF), its
	// length reserved so far (spillEnd), and whether the store is closed.
	spillMu     sync.Mutex
	spillF      *os.File
	spillEnd    int64
	spillClosed bool

	mu     sync.Mutex
	owners map[string]*owner
}

type owner struct {
	used atomic.Int64 // bytes of added messages, against the quota

	mu    sync.Mutex
	boxes map[string]*Mailbox // by lower-cased name ("inbox" for INBOX)
	next  uint32              // next UIDVALIDITY for created mailboxes
	// subs are the user's subscriptions, by lower-cased name, to the name
	// as subscribed. They are the user's, not the mailboxes': CREATE does
	// not add one, DELETE does not remove one (RFC 3501 §6.3.6, §6.3.9).
	subs map[string]string
}

// New returns a store over base.
func New(base Base, c clock.Clock, opts Options) *Store {
	if c == nil {
		c = clock.Real{}
	}
	if opts.CacheMessages <= 0 {
		opts.CacheMessages = 4096
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = 512 << 20
	}
	if opts.MaxMIMEDepth <= 0 {
		opts.MaxMIMEDepth = DefaultMaxMIMEDepth
	}
	if opts.MaxMIMEParts <= 0 {
		opts.MaxMIMEParts = DefaultMaxMIMEParts
	}
	switch {
	case opts.QuotaBytes == 0:
		opts.QuotaBytes = DefaultQuotaBytes
	case opts.QuotaBytes < 0:
		opts.QuotaBytes = 0
	}
	return &Store{
		base:       base,
		clock:      c,
		cache:      newCache(opts.CacheMessages, opts.CacheBytes),
		meta:       newMetaCache(),
		cacheLimit: opts.CacheBytes,
		spillDir:   opts.SpillDir,
		quota:      opts.QuotaBytes,
		limits:     mimeLimits{depth: opts.MaxMIMEDepth, parts: opts.MaxMIMEParts},
		owners:     map[string]*owner{},
	}
}

// Clock returns the store's clock.
func (s *Store) Clock() clock.Clock { return s.clock }

func canonName(name string) string {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	if len(name) > 6 && strings.EqualFold(name[:6], "INBOX/") {
		return "INBOX/" + name[6:]
	}
	return name
}

func key(name string) string { return strings.ToLower(canonName(name)) }

func (s *Store) owner(addr string) (*owner, error) {
	addr = strings.ToLower(addr)
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.owners[addr]; ok {
		return o, nil
	}
	folders := s.base.Folders(addr)
	if folders == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownOwner, addr)
	}
	o := &owner{boxes: map[string]*Mailbox{}, subs: map[string]string{"inbox": "INBOX"}}
	for _, f := range folders {
		mb := newMailbox(s, addr, canonName(f.Name), f.SpecialUse, f.UIDValidity, f.Count, true)
		mb.usage = &o.used
		o.boxes[key(f.Name)] = mb
		o.subs[key(f.Name)] = canonName(f.Name)
		if f.UIDValidity >= o.next {
			o.next = f.UIDValidity + 1
		}
	}
	if _, ok := o.boxes["inbox"]; !ok {
		o.boxes["inbox"] = newMailbox(s, addr, "INBOX", "", o.next, 0, false)
		o.boxes["inbox"].usage = &o.used
		o.next++
	}
	s.owners[addr] = o
	return o, nil
}

// Mailbox returns owner's mailbox name.
func (s *Store) Mailbox(ownerAddr, name string) (*Mailbox, error) {
	o, err := s.owner(ownerAddr)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	mb, ok := o.boxes[key(name)]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoMailbox, name)
	}
	return mb, nil
}

// Mailboxes lists owner's mailboxes, sorted by name with INBOX first.
func (s *Store) Mailboxes(ownerAddr string) ([]*Mailbox, error) {
	o, err := s.owner(ownerAddr)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	out := make([]*Mailbox, 0, len(o.boxes))
	for _, mb := range o.boxes {
		out = append(out, mb)
	}
	o.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Name(), out[j].Name()
		if (a == "INBOX") != (b == "INBOX") {
			return a == "INBOX"
		}
		return a < b
	})
	return out, nil
}

// Create creates a mailbox.
func (s *Store) Create(ownerAddr, name string) (*Mailbox, error) {
	name = canonName(strings.TrimSuffix(name, "/"))
	if name == "" {
		return nil, refusal("invalid mailbox name")
	}
	o, err := s.owner(ownerAddr)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.boxes[key(name)]; ok {
		return nil, fmt.Errorf("%w: %s", ErrMailboxExists, name)
	}
	mb := newMailbox(s, strings.ToLower(ownerAddr), name, "", o.next, 0, false)
	mb.usage = &o.used
	o.next++
	o.boxes[key(name)] = mb
	return mb, nil
}

// Delete deletes a mailbox. INBOX cannot be deleted.
func (s *Store) Delete(ownerAddr, name string) error {
	if key(name) == "inbox" {
		return refusal("INBOX cannot be deleted")
	}
	o, err := s.owner(ownerAddr)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	mb, ok := o.boxes[key(name)]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNoMailbox, name)
	}
	delete(o.boxes, key(name))
	mb.markDeleted()
	return nil
}

// Rename renames a mailbox (and its children).
func (s *Store) Rename(ownerAddr, oldName, newName string) error {
	newName = canonName(strings.TrimSuffix(newName, "/"))
	if key(oldName) == "inbox" {
		return refusal("renaming INBOX is not supported")
	}
	if newName == "" {
		return refusal("invalid mailbox name")
	}
	o, err := s.owner(ownerAddr)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	mb, ok := o.boxes[key(oldName)]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNoMailbox, oldName)
	}
	if _, ok := o.boxes[key(newName)]; ok {
		return fmt.Errorf("%w: %s", ErrMailboxExists, newName)
	}
	prefix := key(oldName) + "/"
	for k, child := range o.boxes {
		if strings.HasPrefix(k, prefix) {
			nn := newName + child.Name()[len(prefix)-1:]
			delete(o.boxes, k)
			child.rename(nn)
			o.boxes[key(nn)] = child
		}
	}
	delete(o.boxes, key(oldName))
	mb.rename(newName)
	o.boxes[key(newName)] = mb
	// Subscriptions follow the renamed mailbox and its children.
	for k, v := range o.subs {
		if k == key(oldName) || strings.HasPrefix(k, prefix) {
			nn := newName + v[len(oldName):]
			delete(o.subs, k)
			o.subs[key(nn)] = nn
		}
	}
	return nil
}

// Subscribe adds name to (or, v false, removes it from) user's
// subscriptions. The name need not exist (a subscription outlives DELETE).
func (s *Store) Subscribe(user, name string, v bool) error {
	o, err := s.owner(user)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	name = canonName(name)
	if v {
		o.subs[key(name)] = name
	} else {
		delete(o.subs, key(name))
	}
	return nil
}

// Subscriptions returns user's subscriptions by lower-cased name.
func (s *Store) Subscriptions(user string) (map[string]string, error) {
	o, err := s.owner(user)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[string]string, len(o.subs))
	for k, v := range o.subs {
		out[k] = v
	}
	return out, nil
}

// SubscriptionKey is the key of name in Subscriptions.
func SubscriptionKey(name string) string { return key(name) }

// Usage returns the bytes of messages owner added on top of the corpus,
// and the quota (0: none).
func (s *Store) Usage(ownerAddr string) (used, quota int64, err error) {
	o, err := s.owner(ownerAddr)
	if err != nil {
		return 0, 0, err
	}
	return o.used.Load(), s.quota, nil
}

// Deliver appends raw to owner's INBOX, as a new unseen message.
func (s *Store) Deliver(ownerAddr string, raw []byte) (uint32, error) {
	mb, err := s.Mailbox(ownerAddr, "INBOX")
	if err != nil {
		return 0, err
	}
	uid, err := mb.Append(raw, nil, time.Time{})
	return uid, err
}

// CacheStats tells how many parsed messages the cache holds, their bytes,
// and its bound in bytes.
func (s *Store) CacheStats() (messages int, bytes, limit int64) {
	n, b := s.cache.Len()
	return n, b, s.cacheLimit
}

// SpillMinBytes is the size from which Options.SpillDir keeps an added
// message on disk.
const SpillMinBytes = 32 << 10

// spill appends m's content to the spill file and returns its
// description (m itself without a spill directory, for a small message, or
// when the file cannot be written).
//
// One file for every added message, appended to: a file per message cost
// the 2,000-staff day about 5 % of its CPU in making and writing files
// (ext4), against a tenth of that to append the same bytes to one.
func (s *Store) spill(m *Message) *Message {
	if s.spillDir == "" || m.Size < SpillMinBytes || m.spill != nil {
		return m
	}
	f, off, ok := s.spillReserve(m.Size)
	if !ok {
		return m
	}
	// Writes to disjoint ranges of the file go on at once.
	if _, err := f.WriteAt(m.Raw, off); err != nil {
		return m
	}
	d := &Message{InternalDate: m.InternalDate, Size: m.Size, MessageID: m.MessageID, Subject: m.Subject,
		header: m.header, baseFlags: m.baseFlags, limits: m.limits, spill: &spilled{f: f, off: off}}
	// Described now, while the message is in memory: its envelope and
	// structure (a mailbox listing asks for them soon after delivery) and
	// its attachments (a download's event names them) are then never
	// worked out from a copy read back, and a whole-message download is
	// written from the file (spilledWhole).
	d.spill.structure.Store(&spilledStructure{bs: m.BodyStructure(), env: m.Envelope()})
	atts := m.Attachments()
	d.spill.atts.Store(&atts)
	return d
}

// spillReserve returns the spill file, made on first use, and the offset
// of n bytes reserved in it; ok is false when the file cannot be made or
// the store is closed.
func (s *Store) spillReserve(n int64) (f *os.File, off int64, ok bool) {
	s.spillMu.Lock()
	defer s.spillMu.Unlock()
	if s.spillClosed {
		return nil, 0, false
	}
	if s.spillF == nil {
		// A name of its own: stores sharing a directory keep apart.
		f, err := os.CreateTemp(s.spillDir, "added-mail-*.spill")
		if err != nil {
			return nil, 0, false
		}
		s.spillF = f
	}
	off = s.spillEnd
	s.spillEnd += n
	return s.spillF, off, true
}

// Close closes the spill file. Messages kept in it can no longer be read
// back (Load says why); those added afterwards stay in memory.
func (s *Store) Close() error {
	s.spillMu.Lock()
	defer s.spillMu.Unlock()
	s.spillClosed = true
	if s.spillF == nil {
		return nil
	}
	err := s.spillF.Close()
	s.spillF = nil
	return err
}

// loadSpilled reads a spilled message back, through the cache. What an
// earlier copy read back described (attachments, structure) is given to
// the new copy, not worked out again.
func (s *Store) loadSpilled(d *Message) (*Message, error) {
	return s.cache.Get(d.spill.key(), func() (*Message, error) {
		raw := nozero.Bytes(int(d.Size))
		if _, err := d.spill.f.ReadAt(raw, d.spill.off); err != nil {
			if err == io.EOF {
				err = fmt.Errorf("%s holds fewer than %d bytes at %d", d.spill.f.Name(), d.Size, d.spill.off)
			}
			return nil, fmt.Errorf("store: reading back an added message: %w", err)
		}
		m, err := parseMessage(raw, d.InternalDate, d.baseFlags, d.limits)
		if err != nil {
			return nil, err
		}
		m.spill = d.spill
		if atts := d.spill.atts.Load(); atts != nil {
			m.attOnce.Do(func() { m.atts = *atts })
		}
		if st := d.spill.structure.Load(); st != nil {
			m.once.Do(func() { m.bs, m.env = st.bs, st.env })
		}
		return m, nil
	})
}

// spilledMeta is the description of a spilled message whose structure is
// already known, without reading it back (nil when it is not known yet).
func spilledMeta(d *Message) *Meta {
	st := d.spill.structure.Load()
	if st == nil {
		return nil
	}
	return &Meta{InternalDate: d.InternalDate, Size: d.Size, Envelope: st.env, BodyStructure: st.bs,
		MessageID: d.MessageID, Subject: d.Subject}
}

// refusal is a request the store does not allow, worded for the client.
type refusal string

func (r refusal) Error() string        { return string(r) }
func (r refusal) Is(target error) bool { return target == ErrRefused }
