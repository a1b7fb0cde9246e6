// Package corpus generates the synthetic organisation that mailsim serves: a
// French interior ministry (invented people, interieur.test) with a directory
// of users and shared mailboxes, and every mailbox's folders and messages —
// threaded French mail with real PDF, DOCX, XLSX, CSV and ZIP attachments.
//
// Everything is a pure function of the Config: a message's bytes are
// generated on demand from (seed, address, folder, uid), so 10,000 mailboxes of
// 10,000 messages cost almost no memory and are byte-identical across runs.
package corpus

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/maildrill/maildrill/internal/lru"
	"github.com/maildrill/maildrill/mailsim/account"
)

// Defaults filled in by New.
const (
	DefaultDomain          = "interieur.test"
	DefaultUsers           = 50
	DefaultMessagesPerUser = 200
	// DefaultCacheBytes and DefaultDiskBackedCacheBytes cap the memory of
	// the attachment cache when Config.CacheBytes is 0: the cache holds at
	// most the organisation's whole pool (PoolBytes), and no more than
	// these; with a CacheDir the pool is on disk and the memory cache only
	// keeps what is in use (a document read back costs a file read):
	// DefaultDiskBackedCacheBytes, or DiskBackedCachePerUser for each
	// personal mailbox when that is more (a larger organisation reads more
	// documents between two reads of the same one), up to
	// MaxDiskBackedCacheBytes. (With 96 KiB per mailbox the 2,000-staff
	// day was no faster, within the noise, and peaked at 1.0 GiB of RSS;
	// with 64, 0.9.)
	DefaultCacheBytes           = 256 << 20
	DefaultDiskBackedCacheBytes = 64 << 20
	DiskBackedCachePerUser      = 64 << 10
	MaxDiskBackedCacheBytes     = 192 << 20
	DefaultMaxAttachment        = 15 << 20

	maxUsers           = 200_000
	maxMessagesPerUser = 1_000_000
)

// DefaultEnd is the date of the newest message unless Config.End says otherwise.
var DefaultEnd = time.Date(2025, 12, 10, 18, 0, 0, 0, zoneCET)

// Config chooses the organisation. The zero value of a field means its default.
type Config struct {
	Seed            int64
	Domain          string    // default "interieur.test"
	Users           int       // personal mailboxes, default 50 (at least 2)
	MessagesPerUser int       // approximate messages per personal mailbox over all folders, default 200
	End             time.Time // newest message date, default 2025-12-10T18:00:00+01:00; mail spans the 12 months before

	// CacheBytes bounds the memory kept by the cache of encoded attachments.
	// Default: the organisation's whole pool (PoolBytes, about 500 MiB with
	// the default size cap, less with a lower MaxAttachmentSize), at most
	// DefaultCacheBytes, or with a CacheDir DefaultDiskBackedCacheBytes
	// (more for more than 1,024 users, see DiskBackedCachePerUser). It
	// changes speed, never content.
	CacheBytes int64
	// MaxAttachmentSize caps the size of a generated attachment (default 15 MiB).
	// Lower values change content: documents are made smaller.
	MaxAttachmentSize int
	// CacheDir, when set, keeps encoded attachments on disk as well, so that
	// later runs and other processes with the same configuration read them
	// instead of generating them: files
	// CacheDir/<generator version>/<seed>/<config fingerprint>/<type>-<variant>.b64,
	// written atomically and verified (length and SHA-256) when read; a bad
	// file is regenerated. It changes speed, never content. The directory is
	// created by New; nothing is ever deleted from it (the whole pool of one
	// configuration is about 500 MiB).
	CacheDir string
}

// Org is a generated organisation. It is safe for concurrent use.
type Org struct {
	cfg    Config
	key    key
	users  []User
	index  map[string]int // lower-cased address → users index
	byDept [][]int        // department → personal user indices
	start  time.Time      // oldest message date
	work   workCalendar
	docs   *lru.Cache[docID, *encodedDoc]
	texts  *lru.Cache[textKey, *cachedText] // messages in pieces, without their attachments
	// docSizes keeps every document's decoded size and digest once it
	// was produced (a few bytes each, never evicted): a skeleton message
	// then needs no document at all.
	docSizes sync.Map   // docID → *encodedDoc without b64
	disk     *diskCache // nil without Config.CacheDir
	nPerson  int

	generated, diskReads atomic.Int64 // documents rendered, read from disk

	poolOnce  sync.Once
	poolBytes int64

	folderCache [1024]atomic.Pointer[folderCacheEntry]
}

// User is a mailbox of the directory: a person or a shared mailbox.
type User struct {
	Address, Password, Name, GivenName, Surname string
	Department, Role, Title                     string
	Kind                                        string   // "person" or "shared"
	Delegates                                   []string // addresses allowed to open this mailbox
	Phone                                       string

	gender byte // 'F' or 'M', 0 for shared
	dept   int
}

// Account is the user's mailbox as the servers, targets and accounts.json
// know it; the rest of User (given name, surname, phone) belongs to the
// generated person.
func (u User) Account() account.Account {
	return account.Account{
		Address: u.Address, Password: u.Password, Name: u.Name, Department: u.Department,
		Role: u.Role, Title: u.Title, Kind: u.Kind, Delegates: u.Delegates,
	}
}

// Folder is a folder of a mailbox's generated base. UIDs are 1..Count.
type Folder struct {
	Name        string // "/" is the hierarchy delimiter
	SpecialUse  string // `\Sent`, `\Drafts`, `\Trash`, `\Archive` or ""
	Count       uint32
	UIDValidity uint32
}

// Message is one generated message.
type Message struct {
	UID          uint32
	InternalDate time.Time
	Flags        []string
	MessageID    string // with angle brackets, as in the header
	Subject      string
	Raw          []byte // full RFC 5322 message, CRLF line endings; freshly allocated, owned by the caller
	Attachments  []Attachment
	// Omitted, in a skeleton (Org.Skeleton), are the attachment bodies
	// left out of Raw: each part's base64 bytes and lines.
	Omitted []Omitted
	// Sections, in a message given in pieces (Org.MessageParts), are
	// where each attachment's body is among the pieces.
	Sections []Section
}

// Section is an attachment's body in a message given in pieces: the
// pieces [From, To), whose concatenation is exactly what IMAP's BODY[Part]
// gives of the message (the base64 text, without the line break that
// belongs to the boundary after it).
type Section struct {
	Part     []int
	From, To int
}

// Omitted is an attachment body a skeleton leaves out: the part at Part is
// Bytes bytes longer, in Lines more lines, in the message.
type Omitted struct {
	Part         []int
	Bytes, Lines int
}

// Attachment describes an attachment of a generated message.
type Attachment struct {
	Part        []int // IMAP part path: [2], [3], ... (the text is part 1)
	Filename    string
	ContentType string
	Size        int    // decoded bytes
	SHA256      string // of the decoded bytes, lower-case hex (saves decoding the base64 to hash it)
}

// New validates cfg, fills its defaults and builds the directory.
func New(cfg Config) (*Org, error) {
	if err := fill(&cfg); err != nil {
		return nil, err
	}
	o := &Org{cfg: cfg, key: seedKey(cfg.Seed)}
	o.start = cfg.End.AddDate(-1, 0, 0)
	o.work = newWorkCalendar(o.start, cfg.End)
	o.buildDirectory()
	if o.cfg.CacheBytes == 0 {
		o.cfg.CacheBytes = DefaultCacheBytes
		if cfg.CacheDir != "" {
			o.cfg.CacheBytes = min(max(int64(cfg.Users)*DiskBackedCachePerUser, DefaultDiskBackedCacheBytes), MaxDiskBackedCacheBytes)
		}
		o.cfg.CacheBytes = min(o.cfg.CacheBytes, o.PoolBytes())
	}
	o.docs = newDocCache(o.cfg.CacheBytes)
	o.texts = newTextCache()
	if cfg.CacheDir != "" {
		d, err := newDiskCache(&cfg)
		if err != nil {
			return nil, err
		}
		o.disk = d
	}
	return o, nil
}

func fill(cfg *Config) error {
	var errs []error
	if cfg.Domain == "" {
		cfg.Domain = DefaultDomain
	}
	cfg.Domain = strings.ToLower(cfg.Domain)
	if !validDomain(cfg.Domain) {
		errs = append(errs, fmt.Errorf("corpus: domain %q is not a valid DNS name (letters, digits, '-' and '.', e.g. %q)", cfg.Domain, DefaultDomain))
	}
	switch {
	case cfg.Users == 0:
		cfg.Users = DefaultUsers
	case cfg.Users < 2:
		errs = append(errs, fmt.Errorf("corpus: users = %d: need at least 2 (the director and the secretariat)", cfg.Users))
	case cfg.Users > maxUsers:
		errs = append(errs, fmt.Errorf("corpus: users = %d: more than %d is not supported", cfg.Users, maxUsers))
	}
	switch {
	case cfg.MessagesPerUser == 0:
		cfg.MessagesPerUser = DefaultMessagesPerUser
	case cfg.MessagesPerUser < 0:
		errs = append(errs, fmt.Errorf("corpus: messages per user = %d: must be positive (0 means the default, %d)", cfg.MessagesPerUser, DefaultMessagesPerUser))
	case cfg.MessagesPerUser > maxMessagesPerUser:
		errs = append(errs, fmt.Errorf("corpus: messages per user = %d: more than %d is not supported", cfg.MessagesPerUser, maxMessagesPerUser))
	}
	if cfg.End.IsZero() {
		cfg.End = DefaultEnd
	} else if y := cfg.End.Year(); y < 1980 || y > 2200 {
		errs = append(errs, fmt.Errorf("corpus: end date %s: year must be between 1980 and 2200", cfg.End.Format(time.RFC3339)))
	}
	if cfg.CacheBytes < 0 { // 0: derived by New from the pool
		errs = append(errs, fmt.Errorf("corpus: cache bytes = %d: must not be negative", cfg.CacheBytes))
	}
	switch {
	case cfg.MaxAttachmentSize == 0:
		cfg.MaxAttachmentSize = DefaultMaxAttachment
	case cfg.MaxAttachmentSize < 4096:
		errs = append(errs, fmt.Errorf("corpus: max attachment size = %d: must be at least 4096 bytes", cfg.MaxAttachmentSize))
	case cfg.MaxAttachmentSize > 1<<30:
		errs = append(errs, fmt.Errorf("corpus: max attachment size = %d: more than 1 GiB is not supported", cfg.MaxAttachmentSize))
	}
	return errors.Join(errs...)
}

func validDomain(d string) bool {
	if len(d) == 0 || len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// Config returns the configuration with defaults filled in.
func (o *Org) Config() Config { return o.cfg }

// Users returns the personal users (the director first) then the shared
// mailboxes. The slice is a copy; the order is deterministic.
func (o *Org) Users() []User {
	out := make([]User, len(o.users))
	for i := range o.users {
		out[i] = o.users[i].clone()
	}
	return out
}

func (u User) clone() User {
	u.Delegates = append([]string(nil), u.Delegates...)
	return u
}

// Lookup finds a user by address, case-insensitively.
func (o *Org) Lookup(address string) (User, bool) {
	i, ok := o.lookup(address)
	if !ok {
		return User{}, false
	}
	return o.users[i].clone(), true
}

func (o *Org) lookup(address string) (int, bool) {
	i, ok := o.index[address]
	if !ok {
		i, ok = o.index[strings.ToLower(strings.TrimSpace(address))]
	}
	return i, ok
}

// HeaderExact reports whether m.MessageID, without its angle brackets, and
// m.Subject are exactly what a reader of m's header finds: the fields
// unfolded (each line trimmed, lines joined by one space) and the
// subject's encoded words decoded. That holds for every subject the
// generator writes (mime.QEncoding, folded at spaces) unless it has
// leading, trailing or doubled spaces, control characters or invalid
// UTF-8, which unfolding or decoding would change, or "=?", which a
// decoder could take for an encoded word; and for a Message-ID of one
// <...> token.
func (m *Message) HeaderExact() bool {
	id := m.MessageID
	if len(id) < 3 || id[0] != '<' || id[len(id)-1] != '>' {
		return false
	}
	inner := id[1 : len(id)-1]
	if inner[0] == '<' || inner[len(inner)-1] == '>' {
		return false
	}
	for i := 0; i < len(inner); i++ {
		if c := inner[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	s := m.Subject
	if s == "" {
		return true
	}
	if !utf8.ValidString(s) || s[0] == ' ' || s[len(s)-1] == ' ' ||
		strings.Contains(s, "  ") || strings.Contains(s, "=?") {
		return false
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError {
			return false
		}
	}
	return true
}
