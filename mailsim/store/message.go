package store

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
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
	"github.com/maildrill/maildrill/internal/b64lines"
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

	// spans are where parts' encoded bodies lie in Raw (PartSpan); kept
	// on spill instead for a message on disk.
	spans atomic.Pointer[[]partSpan]

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
	spans     atomic.Pointer[[]partSpan] // see Message.PartSpan
}

// key is the message cache's key for copies read back.
func (sp *spilled) key() string { return "spill\x00" + strconv.FormatInt(sp.off, 10) }

type spilledStructure struct {
	bs  imap.BodyStructure
	env *imap.Envelope
}

// partSpan is where the encoded body of the part at path lies in Raw.
type partSpan struct {
	part   []int
	off, n int
}

// maxPartSpans bounds the spans a message keeps (a client asks for one or
// two parts of a message, the attachments).
const maxPartSpans = 8

func (m *Message) spanList() *atomic.Pointer[[]partSpan] {
	if m.spill != nil {
		return &m.spill.spans
	}
	return &m.spans
}

// PartSpan returns where the encoded body of the part at path lies in
// Raw, Raw[off:off+n], if a reader of the message recorded it with
// SetPartSpan: the IMAP server's BINARY, which then decodes the part
// without parsing the message again. A message read back from disk
// shares its spans with every other copy.
func (m *Message) PartSpan(part []int) (off, n int, ok bool) {
	if p := m.spanList().Load(); p != nil {
		for _, s := range *p {
			if equalPath(s.part, part) {
				return s.off, s.n, true
			}
		}
	}
	return 0, 0, false
}

// SetPartSpan records that the encoded body of the part at path is
// Raw[off:off+n] (see PartSpan); a span outside Raw is ignored, and a
// message keeps at most maxPartSpans.
func (m *Message) SetPartSpan(part []int, off, n int) {
	if off < 0 || n < 0 || off+n > len(m.Raw) {
		return
	}
	list := m.spanList()
	for {
		old := list.Load()
		var cur []partSpan
		if old != nil {
			cur = *old
		}
		if len(cur) >= maxPartSpans {
			return
		}
		for _, s := range cur {
			if equalPath(s.part, part) {
				return
			}
		}
		next := append(cur[:len(cur):len(cur)], partSpan{part: append([]int(nil), part...), off: off, n: n})
		if list.CompareAndSwap(old, &next) {
			return
		}
	}
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
	n := &Message{
		Raw: m.Raw, InternalDate: m.InternalDate, Size: m.Size, MessageID: m.MessageID,
		Subject: m.Subject, header: m.header, baseFlags: flags, limits: m.limits,
		atts: m.baseAttachments(), baseAtt: m.baseAtt,
	}
	n.spans.Store(m.spanList().Load()) // the same Raw
	return n
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
	walkPart(e, false, nil, &out, 0, min(lim.depth, 20), &parts)
	return out
}

// walkPart describes e's attachments. rawB64 says e.Body is the part's
// base64 text, not yet decoded (rawPart).
func walkPart(e *gomessage.Entity, rawB64 bool, p []int, out *[]Attachment, depth, maxDepth int, parts *int) {
	*parts--
	if depth > maxDepth || *parts < 0 {
		return
	}
	if mt, params, _ := e.Header.ContentType(); strings.HasPrefix(mt, "multipart/") {
		// As e.MultipartReader() walks it, each part made an Entity as
		// gomessage.New makes it, but for a base64 attachment, kept raw.
		mr := textproto.NewMultipartReader(e.Body, params["boundary"])
		for i := 1; ; i++ {
			tp, err := mr.NextPart()
			if err != nil {
				return
			}
			part, b64, err := rawPart(tp)
			if err != nil || *parts <= 0 {
				return
			}
			walkPart(part, b64, append(append([]int{}, p...), i), out, depth+1, maxDepth, parts)
		}
	}
	hash := func(h io.Writer) int64 {
		n, _ := io.Copy(h, e.Body)
		return n
	}
	if rawB64 {
		hash = func(h io.Writer) int64 { return hashBase64(h, e) }
	}
	if a, ok := describeLeaf(e.Header, p, hash); ok {
		*out = append(*out, a)
	}
}

// describeLeaf describes a part that is not multipart, at part path p, as
// an attachment when its header says it is one (a disposition of
// attachment, or a file name); hash writes its decoded body to h and
// returns the decoded size.
func describeLeaf(hdr gomessage.Header, p []int, hash func(h io.Writer) int64) (Attachment, bool) {
	disp, dparams, _ := hdr.ContentDisposition()
	mt, tparams, _ := hdr.ContentType()
	name := dparams["filename"]
	if name == "" {
		name = tparams["name"]
	}
	if disp != "attachment" && name == "" {
		return Attachment{}, false
	}
	if len(p) == 0 {
		p = []int{1}
	}
	h := sha256.New()
	n := hash(h)
	ext := strings.TrimPrefix(strings.ToLower(path.Ext(name)), ".")
	return Attachment{
		Part: p, FileName: name, Extension: ext, MIMEType: mt, Size: n,
		SHA256: hex.EncodeToString(h.Sum(nil)),
	}, true
}

// rawPart is the Entity gomessage.New makes of a part, except that a
// part in base64 that is neither multipart nor text (no charset to
// convert) keeps its body undecoded (b64): hashBase64 decodes it a chunk
// at a time, about three times as fast as the decoding reader
// gomessage.New puts over it (b64lines' BenchmarkDecode). err is
// gomessage.New's (an unknown encoding or charset).
func rawPart(tp *textproto.Part) (e *gomessage.Entity, b64 bool, err error) {
	h := gomessage.Header{Header: tp.Header}
	mt, _, _ := h.ContentType()
	if strings.ToLower(h.Get("Content-Transfer-Encoding")) == "base64" &&
		!strings.HasPrefix(mt, "multipart/") && !strings.HasPrefix(mt, "text/") {
		return &gomessage.Entity{Header: h, Body: tp}, true, nil
	}
	e, err = gomessage.New(h, tp)
	return e, false, err
}

// b64Chunk is how much base64 text hashBase64 decodes at a time.
const b64Chunk = 64 << 10

// b64Bufs are hashBase64's buffers: text read, then text decoded.
var b64Bufs = sync.Pool{New: func() any {
	b := make([]byte, b64Chunk+base64.StdEncoding.DecodedLen(b64Chunk)+b64lines.Spare)
	return &b
}}

// hashBase64 writes the decoded body of e, a part whose body is its base64
// text (rawPart), to h and returns the decoded size. The text is read and
// decoded b64Chunk at a time, a chunk of whole lines in one pass
// (b64lines), as long as it is lines of whole groups of the alphabet
// (every part maildrill writes, and every well-formed one). From the
// first chunk that is not (padding before the last line, spaces, foreign
// bytes), the rest goes through gomessage's decoding reader, which skips
// spaces and stops at the first error, as for any other part; what came
// before was whole groups, so it starts where that reader would be.
func hashBase64(h io.Writer, e *gomessage.Entity) int64 {
	bp := b64Bufs.Get().(*[]byte)
	defer b64Bufs.Put(bp)
	buf, dec := (*bp)[:b64Chunk], (*bp)[b64Chunk:]
	var total int64
	have := 0
	slow := func(r io.Reader) int64 {
		d, _ := gomessage.New(e.Header, r)
		n, _ := io.Copy(h, d.Body)
		return total + n
	}
	for {
		k, err := io.ReadFull(e.Body, buf[have:])
		have += k
		if err != nil {
			// The end of the text (or a read error, after which the
			// reader decodes what it has and stops): the last chunk.
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				if n, ok := b64lines.Decode(dec, buf[:have]); ok {
					h.Write(dec[:n])
					return total + int64(n)
				}
			}
			return slow(bytes.NewReader(buf[:have]))
		}
		// A full buffer: its whole lines (or, in a line longer than the
		// buffer, its whole groups), the rest kept for the next read;
		// padding only in the last line.
		cut := bytes.LastIndexByte(buf, '\n') + 1
		if cut == 0 {
			cut = len(buf) / 4 * 4
		}
		lines := buf[:cut]
		n, ok := 0, bytes.IndexByte(lines, '=') < 0
		if ok {
			n, ok = b64lines.Decode(dec, lines)
		}
		if !ok {
			return slow(io.MultiReader(bytes.NewReader(buf), e.Body))
		}
		h.Write(dec[:n])
		total += int64(n)
		have = copy(buf, buf[cut:])
	}
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
