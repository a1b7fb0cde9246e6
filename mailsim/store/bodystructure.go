package store

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// MIME bounds (Options fields; zero means these defaults). A message nested
// deeper, or with more parts, is described down to the bound; what lies
// beyond is one opaque application/octet-stream leaf. Each byte of a
// message passes through at most MaxMIMEDepth part readers, so the cost of
// describing it is linear in its size.
const (
	DefaultMaxMIMEDepth = 50
	DefaultMaxMIMEParts = 1000
)

type mimeLimits struct {
	depth, parts int
}

// MaxMIMEDepth is the deepest part path the store describes; FETCH of a
// deeper section path returns nothing.
func (m *Message) MaxMIMEDepth() int { return m.limits.depth }

// bodyStructure is imapserver.ExtractBodyStructure (go-imap v2, MIT) with
// bounds on nesting and parts, and without copying each part in memory:
// sizes and line counts are counted as the part streams by.
func bodyStructure(raw []byte, lim mimeLimits) imap.BodyStructure {
	br := bufio.NewReader(bytes.NewReader(raw))
	header, _ := textproto.ReadHeader(br)
	w := &bsWalker{parts: lim.parts, maxDepth: lim.depth}
	return w.walk(header, br, 0)
}

type bsWalker struct {
	parts    int // parts left to describe
	maxDepth int
}

// counter counts bytes and lines written to it.
type counter struct{ n, lines int64 }

func (c *counter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	c.lines += int64(bytes.Count(p, []byte("\n")))
	return len(p), nil
}

var copyBufs = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// ReadFrom counts r's bytes through a pooled buffer (io.Copy would
// allocate one per part).
func (c *counter) ReadFrom(r io.Reader) (int64, error) {
	buf := copyBufs.Get().(*[32 << 10]byte)
	defer copyBufs.Put(buf)
	var total int64
	for {
		n, err := r.Read(buf[:])
		if n > 0 {
			c.Write(buf[:n])
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

func (w *bsWalker) opaque(r io.Reader) imap.BodyStructure {
	var c counter
	io.Copy(&c, r)
	return opaqueLeaf(c.n)
}

// opaqueLeaf stands for what lies beyond the bounds.
func opaqueLeaf(size int64) *imap.BodyStructureSinglePart {
	return &imap.BodyStructureSinglePart{Type: "application", Subtype: "octet-stream", Size: uint32(size), Extended: &imap.BodyStructureSinglePartExt{}}
}

func (w *bsWalker) walk(rawHeader textproto.Header, r io.Reader, depth int) imap.BodyStructure {
	w.parts--
	if depth >= w.maxDepth || w.parts < 0 {
		return w.opaque(r)
	}
	header := gomessage.Header{Header: rawHeader}
	mediaType, typeParams, _ := header.ContentType()
	if !rawHeader.Has("Content-Type") {
		// RFC 2045 §5.2: no Content-Type is text/plain; charset=us-ascii.
		mediaType, typeParams = "text/plain", map[string]string{"charset": "us-ascii"}
	} else if _, ok := typeParams["charset"]; !ok && strings.HasPrefix(mediaType, "text/") {
		// RFC 2046 §4.1.2: text without a charset is US-ASCII (Dovecot
		// says so in BODYSTRUCTURE too).
		p := make(map[string]string, len(typeParams)+1)
		for k, v := range typeParams {
			p[k] = v
		}
		p["charset"] = "us-ascii"
		typeParams = p
	}
	primaryType, subType, _ := strings.Cut(mediaType, "/")

	if primaryType == "multipart" {
		bs := &imap.BodyStructureMultiPart{Subtype: subType}
		mr := textproto.NewMultipartReader(r, typeParams["boundary"])
		for {
			part, _ := mr.NextPart()
			if part == nil {
				break
			}
			if w.parts <= 0 {
				// Out of parts: the rest of this multipart is one leaf.
				var c counter
				for p := part; p != nil; p, _ = mr.NextPart() {
					io.Copy(&c, p)
				}
				bs.Children = append(bs.Children, opaqueLeaf(c.n))
				break
			}
			if subType == "digest" && !part.Header.Has("Content-Type") {
				// RFC 2046 §5.1.5: in a digest the default is message/rfc822.
				part.Header.Set("Content-Type", "message/rfc822")
			}
			bs.Children = append(bs.Children, w.walk(part.Header, part, depth+1))
		}
		if len(bs.Children) == 0 {
			// IMAP needs at least one child.
			bs.Children = append(bs.Children, &imap.BodyStructureSinglePart{Type: "text", Subtype: "plain", Text: &imap.BodyStructureText{}, Extended: &imap.BodyStructureSinglePartExt{}})
		}
		bs.Extended = &imap.BodyStructureMultiPartExt{
			Params:      typeParams,
			Disposition: contentDisposition(header),
			Language:    contentLanguage(header),
			Location:    header.Get("Content-Location"),
		}
		return bs
	}
	bs := &imap.BodyStructureSinglePart{
		Type:        primaryType,
		Subtype:     subType,
		Params:      typeParams,
		ID:          header.Get("Content-Id"),
		Description: header.Get("Content-Description"),
		Encoding:    header.Get("Content-Transfer-Encoding"),
	}
	var c counter
	if mediaType == "message/rfc822" || mediaType == "message/global" {
		br := bufio.NewReader(io.TeeReader(r, &c))
		childHeader, _ := textproto.ReadHeader(br)
		child := w.walk(childHeader, br, depth+1)
		io.Copy(io.Discard, br)
		bs.MessageRFC822 = &imap.BodyStructureMessageRFC822{
			Envelope:      imapserver.ExtractEnvelope(childHeader),
			BodyStructure: child,
			NumLines:      c.lines,
		}
	} else {
		io.Copy(&c, r)
	}
	bs.Size = uint32(c.n)
	if primaryType == "text" {
		bs.Text = &imap.BodyStructureText{NumLines: c.lines}
	}
	bs.Extended = &imap.BodyStructureSinglePartExt{
		Disposition: contentDisposition(header),
		Language:    contentLanguage(header),
		Location:    header.Get("Content-Location"),
	}
	return bs
}

func contentDisposition(header gomessage.Header) *imap.BodyStructureDisposition {
	disp, dispParams, _ := header.ContentDisposition()
	if disp == "" {
		return nil
	}
	return &imap.BodyStructureDisposition{Value: disp, Params: dispParams}
}

func contentLanguage(header gomessage.Header) []string {
	v := header.Get("Content-Language")
	if v == "" {
		return nil
	}
	l := strings.Split(v, ",")
	for i, lang := range l {
		l[i] = strings.TrimSpace(lang)
	}
	return l
}
