package store

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
	"github.com/maildrill/maildrill/internal/lru"
)

// Attachment describes one attachment part of a message.
type Attachment struct {
	Part        []int // IMAP part path, e.g. [2] or [2 1]
	FileName    string
	Extension   string
	MIMEType    string
	Size        int64 // decoded size
	EncodedSize int64 // bytes of the part body on the wire
	SHA256      string
}

// Message is a parsed message. It is immutable once built, safe to share.
type Message struct {
	Raw          []byte
	InternalDate time.Time
	Size         int64
	MessageID    string
	Subject      string

	header    textproto.Header
	baseFlags []imap.Flag
	limits    mimeLimits

	once sync.Once
	bs   imap.BodyStructure
	env  *imap.Envelope

	attOnce sync.Once
	atts    []Attachment
	baseAtt bool // atts were given by the Base when the message was built

	// spill, for an added message kept on disk (Options.SpillDir), is its
	// file and what was learnt of it: on the description in a mailbox (no
	// Raw; Item.Load reads it back), and on each Message read back from it,
	// which shares it.
	spill *spilled
}

// spilled is a message kept on disk: where it is in the spill file (Size
// bytes from off), and its structure and attachments, described when it
// was spilled (Store.spill) or, failing that, by a copy read back. The
// message cache drops the copies read back, not the description: it is
// not worked out again from the next copy.
type spilled struct {
	f   *os.File
	off int64
	// atts, once described, are the attachments; structure the envelope
	// and body structure.
	atts      atomic.Pointer[[]Attachment]
	structure atomic.Pointer[spilledStructure]
}

// key is the message cache's key for copies read back.
func (sp *spilled) key() string { return "spill\x00" + strconv.FormatInt(sp.off, 10) }

type spilledStructure struct {
	bs  imap.BodyStructure
	env *imap.Envelope
}

// Attachments describes the attachment parts (walked and hashed once, on
// first use).
func (m *Message) Attachments() []Attachment {
	m.attOnce.Do(func() {
		if m.atts == nil {
			m.atts = findAttachments(m.Raw, m.limits)
		}
		if m.spill != nil {
			atts := m.atts
			m.spill.atts.Store(&atts)
		}
	})
	return m.atts
}

// DescribeAttachments walks raw's MIME tree and describes its attachment
// parts (hashing each), within the default MIME limits: what the store
// finds in a message whose Base gave no description.
func DescribeAttachments(raw []byte) []Attachment {
	return findAttachments(raw, mimeLimits{depth: DefaultMaxMIMEDepth, parts: DefaultMaxMIMEParts})
}

func parseMessage(raw []byte, date time.Time, flags []imap.Flag, lim mimeLimits) (*Message, error) {
	h, err := readHeader(raw)
	if err != nil {
		return nil, err
	}
	m := &Message{
		Raw:          raw,
		InternalDate: date,
		Size:         int64(len(raw)),
		header:       h,
		baseFlags:    flags,
		limits:       lim,
	}
	m.MessageID, m.Subject = headerIDs(h)
	return m, nil
}

// headerIDs returns the Message-ID, without angle brackets, and the
// decoded Subject of a message header.
func headerIDs(h textproto.Header) (messageID, subject string) {
	messageID = strings.Trim(strings.TrimSpace(h.Get("Message-Id")), "<>")
	subject = h.Get("Subject")
	if subj, err := (&mime.WordDecoder{}).DecodeHeader(subject); err == nil {
		subject = subj
	}
	return messageID, subject
}

// HeaderIDs reads raw's header as the store does and returns its
// Message-ID, without angle brackets, and its decoded Subject: what a
// Base's BaseMessage.Headed promises to give.
func HeaderIDs(raw []byte) (messageID, subject string, err error) {
	h, err := readHeader(raw)
	if err != nil {
		return "", "", err
	}
	messageID, subject = headerIDs(h)
	return messageID, subject, nil
}

// readHeader reads the top-level header of raw.
func readHeader(raw []byte) (textproto.Header, error) {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return h, fmt.Errorf("store: parse message header: %w", err)
	}
	return h, nil
}

func (m *Message) withFlags(flags []imap.Flag) *Message {
	return &Message{
		Raw: m.Raw, InternalDate: m.InternalDate, Size: m.Size, MessageID: m.MessageID,
		Subject: m.Subject, header: m.header, baseFlags: flags, limits: m.limits,
		atts: m.baseAttachments(), baseAtt: m.baseAtt,
	}
}

// baseAttachments returns the attachments the Base described (nil when it
// did not).
func (m *Message) baseAttachments() []Attachment {
	if !m.baseAtt {
		return nil
	}
	return m.atts
}

// Header returns the parsed top-level header.
func (m *Message) Header() textproto.Header { return m.header }

func (m *Message) parseStructure() {
	m.once.Do(func() {
		m.bs = bodyStructure(m.Raw, m.limits)
		m.env = envelope(m.header)
		if m.spill != nil {
			m.spill.structure.Store(&spilledStructure{bs: m.bs, env: m.env})
		}
	})
}

// BodyStructure returns the IMAP body structure, computed once.
func (m *Message) BodyStructure() imap.BodyStructure { m.parseStructure(); return m.bs }

// Envelope returns the IMAP envelope, computed once.
func (m *Message) Envelope() *imap.Envelope { m.parseStructure(); return m.env }

// AttachmentAt returns the attachment at an exact part path.
func (m *Message) AttachmentAt(part []int) (Attachment, bool) {
	for _, a := range m.Attachments() {
		if equalPath(a.Part, part) {
			return a, true
		}
	}
	return Attachment{}, false
}

// AttachmentsUnder returns the attachments at or below a part path (an
// empty path is the whole message).
func (m *Message) AttachmentsUnder(part []int) []Attachment {
	return AttachmentsUnder(m.Attachments(), part)
}

// AttachmentsUnder returns those of atts at part or below it.
func AttachmentsUnder(atts []Attachment, part []int) []Attachment {
	var out []Attachment
	for _, a := range atts {
		if len(a.Part) >= len(part) && equalPath(a.Part[:len(part)], part) {
			out = append(out, a)
		}
	}
	return out
}

func equalPath(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// findAttachments walks the MIME tree and describes attachment parts.
func findAttachments(raw []byte, lim mimeLimits) []Attachment {
	e, err := gomessage.Read(bytes.NewReader(raw))
	if e == nil {
		return nil
	}
	_ = err // unknown charsets etc. are fine: we only need structure
	var out []Attachment
	parts := lim.parts
	walkParts(e, nil, &out, 0, min(lim.depth, 20), &parts)
	return out
}

func walkParts(e *gomessage.Entity, p []int, out *[]Attachment, depth, maxDepth int, parts *int) {
	*parts--
	if depth > maxDepth || *parts < 0 {
		return
	}
	if mr := e.MultipartReader(); mr != nil {
		for i := 1; ; i++ {
			part, err := mr.NextPart()
			if err != nil || *parts <= 0 {
				return
			}
			walkParts(part, append(append([]int{}, p...), i), out, depth+1, maxDepth, parts)
		}
	}
	disp, dparams, _ := e.Header.ContentDisposition()
	mt, tparams, _ := e.Header.ContentType()
	name := dparams["filename"]
	if name == "" {
		name = tparams["name"]
	}
	if disp != "attachment" && name == "" {
		return
	}
	if len(p) == 0 {
		p = []int{1}
	}
	h := sha256.New()
	n, _ := io.Copy(h, e.Body)
	ext := strings.TrimPrefix(strings.ToLower(path.Ext(name)), ".")
	*out = append(*out, Attachment{
		Part: p, FileName: name, Extension: ext, MIMEType: mt, Size: n,
		SHA256: hex.EncodeToString(h.Sum(nil)),
	})
}

// newCache keeps parsed base messages, the least recently used evicted
// beyond n messages or b bytes, each parsed once however many ask for it
// at a time.
func newCache(n int, b int64) *lru.Cache[string, *Message] {
	return lru.New[string, *Message](n, b, func(m *Message) int64 { return m.Size })
}

func (s *Store) loadBase(owner, folder string, uidValidity, uid uint32) (*Message, error) {
	return s.cache.Get(baseKey(owner, folder, uidValidity, uid), func() (*Message, error) {
		return s.makeBase(owner, folder, uid)
	})
}

// loadBaseOnce returns a base message from the cache, or makes it without
// keeping it (nor waiting for another caller making it).
func (s *Store) loadBaseOnce(owner, folder string, uidValidity, uid uint32) (*Message, error) {
	if m, ok := s.cache.Peek(baseKey(owner, folder, uidValidity, uid)); ok {
		return m, nil
	}
	return s.makeBase(owner, folder, uid)
}

// makeBase generates and parses a base message.
func (s *Store) makeBase(owner, folder string, uid uint32) (*Message, error) {
	bm, err := s.base.Message(owner, folder, uid)
	if err != nil {
		return nil, err
	}
	flags := make([]imap.Flag, 0, len(bm.Flags))
	for _, f := range bm.Flags {
		flags = append(flags, imap.Flag(f))
	}
	m, err := parseMessage(bm.Raw, bm.InternalDate, applyFlags(nil, FlagsAdd, flags), s.limits)
	if err == nil && bm.Attachments != nil {
		m.atts, m.baseAtt = bm.Attachments, true // described by the base: Attachments need not walk Raw
	}
	return m, err
}

// BaseFlags returns the flags the message was created with.
func (m *Message) BaseFlags() []imap.Flag { return m.baseFlags }
