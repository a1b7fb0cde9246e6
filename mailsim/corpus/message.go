package corpus

import (
	"bytes"
	"fmt"
	"html"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/maildrill/maildrill/internal/nozero"
)

// genericDocs travel with any kind of exchange.
var genericDocs = []string{"compte_rendu", "note_service", "annuaire", "planning_permanences", "fiche_reflexe"}

// blockSize is the span of UIDs inside which threads are laid out: a
// message's thread is found by replaying its block only.
const blockSize = 16

type person struct {
	Name, Given, Address string
	Title, Org           string // signature lines
	Phone                string
	gender               byte
	internal             bool
	outlook              bool // writes HTML with "RE :" subjects
	kind                 string
}

type thread struct {
	key     key
	topic   *topic
	prior   int // messages of the thread before its first one in this folder
	owner   person
	others  []person
	subject string
	vars    tokens
	doc     int // the thread's own document type, -1 for none
	variant int
}

// Message generates message uid of address's folder.
func (o *Org) Message(address, folder string, uid uint32) (*Message, error) {
	ui, fs, err := o.locate(address, folder, uid)
	if err != nil {
		return nil, err
	}
	return o.generate(ui, fs, uid, false)
}

// Skeleton generates message uid of address's folder as Message does, but
// with every attachment's base64 body left out of Raw and told in
// Omitted (its bytes and lines): its header, MIME structure and
// attachment descriptions are exactly those of the real message, and no
// document is rendered or read once its size is known. Its Raw must not be
// served as the message's content.
func (o *Org) Skeleton(address, folder string, uid uint32) (*Message, error) {
	ui, fs, err := o.locate(address, folder, uid)
	if err != nil {
		return nil, err
	}
	return o.generate(ui, fs, uid, true)
}

// MessageParts generates message uid of address's folder as Message does,
// but returns its bytes in pieces instead of copying them into Raw (which
// is nil): its header and text, each attachment's base64 lines as the
// document cache holds them, and the MIME between and after them. The
// pieces, concatenated, are Message's Raw. Every piece is shared with the
// corpus' caches (the attachments' base64 with the document cache, the
// rest with the text cache) and must not be modified; the Message is the
// caller's.
func (o *Org) MessageParts(address, folder string, uid uint32) (*Message, [][]byte, error) {
	return o.messageParts(address, folder, uid, false)
}

// PrepareParts makes the attachments of message uid of address's folder
// that are neither in the cache nor being made, waiting for none another
// goroutine is making. When every attachment was found or made, it returns
// the message in pieces as MessageParts gives it (the same bytes);
// otherwise a nil message and no pieces, having made the others, so that
// MessageParts then waits only for those another goroutine was making. A
// download's preparer hands the writer a message ready to write when it
// can, and never waits for the writer.
func (o *Org) PrepareParts(address, folder string, uid uint32) (*Message, [][]byte, error) {
	return o.messageParts(address, folder, uid, true)
}

// messageParts is MessageParts, or with prepare PrepareParts.
func (o *Org) messageParts(address, folder string, uid uint32, prepare bool) (*Message, [][]byte, error) {
	ui, fs, err := o.locate(address, folder, uid)
	if err != nil {
		return nil, nil, err
	}
	var parts [][]byte
	m, err := o.generateInto(ui, fs, uid, false, prepare, &parts)
	if m == nil {
		parts = nil
	}
	return m, parts, err
}

// Flags returns the flags and internal date of a message without
// generating its body or attachments (cheap: what a SELECT needs). They are
// exactly those Message returns.
func (o *Org) Flags(address, folder string, uid uint32) ([]string, time.Time, error) {
	ui, fs, err := o.locate(address, folder, uid)
	if err != nil {
		return nil, time.Time{}, err
	}
	fk := o.folderKey(ui, fs)
	tk, ordinal := o.threadOf(fk, fs, uid)
	// Only whether the sender is a colleague matters: replay the thread's
	// first draws instead of building it.
	r := tk.rng()
	sh := o.shapeOf(ui, fs, &r)
	from := &person{internal: !(sh.external && ordinal%sh.n == 0)}
	mr := fk.str("uid").num(uint64(uid)).rng()
	internal := o.messageTime(fs, uid, mr.float())
	return o.flags(fs, fk, uid, from, internal), paris(internal), nil
}

func (o *Org) locate(address, folder string, uid uint32) (int, folderSpec, error) {
	ui, ok := o.lookup(address)
	if !ok {
		return 0, folderSpec{}, fmt.Errorf("corpus: unknown mailbox %q", address)
	}
	fs, ok := o.folderSpec(ui, folder)
	if !ok {
		return 0, folderSpec{}, fmt.Errorf("corpus: mailbox %s has no folder %q", o.users[ui].Address, folder)
	}
	if uid == 0 || uid > fs.Count {
		return 0, folderSpec{}, fmt.Errorf("corpus: %s %s: uid %d out of range 1..%d", o.users[ui].Address, fs.Name, uid, fs.Count)
	}
	return ui, fs, nil
}

func (o *Org) folderKey(ui int, fs folderSpec) key {
	return o.key.str("msg").str(o.users[ui].Address).str(fs.Name)
}

func (o *Org) userPerson(i int) person {
	u := &o.users[i]
	mr := o.key.str("mailer").str(u.Address).rng()
	return person{Name: u.Name, Given: u.GivenName, Address: u.Address, Title: u.Title, Org: u.Department,
		Phone: u.Phone, gender: u.gender, internal: true, outlook: mr.chance(0.7)}
}

func (o *Org) externalPerson(r *rng, kinds []string) person {
	var cands []int
	for i, e := range externalOrgs {
		for _, k := range kinds {
			if e.Kind == k {
				cands = append(cands, i)
			}
		}
	}
	e := externalOrgs[pick(r, cands)]
	g, s, sex := personName(r)
	p := person{Name: g + " " + s, Given: g, Org: e.Name, gender: sex, kind: e.Kind, outlook: r.chance(0.5)}
	switch {
	case e.Generic != "":
		p.Address = e.Generic + "@" + e.Domain
	case e.Kind == "citizen":
		p.Address = fmt.Sprintf("%s.%s%d@%s", asciiLocal(g), asciiLocal(s), r.intn(100), e.Domain)
		p.Org = ""
	default:
		p.Address = asciiLocal(g) + "." + asciiLocal(s) + "@" + e.Domain
	}
	switch e.Kind {
	case "prefecture":
		p.Title = pick(r, []string{"Directeur de cabinet du préfet", "Chef du bureau de l'ordre public", "Sous-préfet", "Chargé de mission sécurité"})
	case "lawyer":
		p.Title = "Avocat au barreau de Paris"
	case "press":
		p.Title = "Journaliste"
	case "vendor":
		p.Title = "Responsable de compte"
	case "mairie":
		p.Title = "Directeur général des services"
	case "partner":
		p.Title = "Chargé de mission"
	}
	if sex == 'F' {
		p.Title = feminize(p.Title)
	}
	return p
}

var feminine = strings.NewReplacer("Directeur", "Directrice", "Chef du", "Cheffe du", "Sous-préfet", "Sous-préfète", "Chargé", "Chargée", "Avocat", "Avocate", "Journaliste", "Journaliste")

func feminize(t string) string { return feminine.Replace(t) }

// tokens are a thread's substitutions ("{num}", its value, "{seq}", ...):
// strings.NewReplacer's pairs, without building a replacer for every
// message made (the replacer's lookup tree was a quarter of what a warm
// download allocated). Every name is a "{" ... "}" token and none is the
// start of another, so at most one matches at any place and Replace gives
// what strings.NewReplacer(t...).Replace would.
type tokens []string

// Replace returns s with every token replaced by its value; values are
// not searched again.
func (t tokens) Replace(s string) string {
	i := strings.IndexByte(s, '{')
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 64)
	for i >= 0 {
		b.WriteString(s[:i])
		s = s[i:]
		k := 0
		for ; k+1 < len(t); k += 2 {
			if strings.HasPrefix(s, t[k]) {
				break
			}
		}
		if k+1 < len(t) {
			b.WriteString(t[k+1])
			s = s[len(t[k]):]
		} else {
			b.WriteByte('{')
			s = s[1:]
		}
		i = strings.IndexByte(s, '{')
	}
	b.WriteString(s)
	return b.String()
}

// topicFor draws a topic suited to the owner's department.
func topicFor(r *rng, dept string) *topic {
	var idx, w []int
	for i := range topics {
		t := &topics[i]
		ok := len(t.depts) == 0
		for _, d := range t.depts {
			if d == dept {
				ok = true
			}
		}
		if ok {
			idx = append(idx, i)
			weight := t.weight
			if len(t.depts) > 0 {
				weight *= 3 // the department's own business comes first
			}
			w = append(w, weight)
		}
	}
	return &topics[idx[r.weighted(w)]]
}

// threadOf replays uid's block to find its thread and its position in it.
func (o *Org) threadOf(fk key, fs folderSpec, uid uint32) (tk key, ordinal int) {
	if fs.kind == kindDrafts {
		return fk.str("draft").num(uint64(uid)), 0
	}
	b := (uid - 1) / blockSize
	first := b*blockSize + 1
	r := fk.num(uint64(b)).rng()
	threads := 0
	counts := make([]int, 0, blockSize)
	for u := first; u <= uid; u++ {
		var t int
		if threads == 0 || r.chance(0.5) {
			t = threads
			threads++
			counts = append(counts, 0)
		} else {
			t = threads - 1 - r.intn(min(threads, 3))
		}
		if u == uid {
			return fk.num(uint64(b)).str("thread").num(uint64(t)), counts[t]
		}
		counts[t]++
	}
	panic("unreachable")
}

// threadShape is what the first draws of a thread decide.
type threadShape struct {
	topic    *topic
	prior    int  // thread messages before the first one of this folder
	n        int  // counterparts
	external bool // the first counterpart is an outside correspondent
}

func (o *Org) shapeOf(ui int, fs folderSpec, r *rng) threadShape {
	var sh threadShape
	sh.topic = topicFor(r, departments[o.users[ui].dept].Code)
	switch {
	case fs.kind == kindDrafts:
		if r.chance(0.3) {
			sh.prior = 1
		}
	case fs.kind == kindSent:
		sh.prior = []int{0, 0, 0, 1, 1, 1, 1, 2, 3}[r.intn(9)]
	default:
		sh.prior = []int{0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 3, 4}[r.intn(12)]
	}
	sh.n = 1 + []int{0, 0, 0, 1, 1, 2}[r.intn(6)]
	sh.external = len(sh.topic.ext) > 0 && r.chance(sh.topic.extShare)
	return sh
}

func (o *Org) buildThread(ui int, fs folderSpec, tk key) *thread {
	r := tk.rng()
	u := &o.users[ui]
	th := &thread{key: tk, owner: o.userPerson(ui), doc: -1}
	sh := o.shapeOf(ui, fs, &r)
	th.topic, th.prior = sh.topic, sh.prior
	// Counterparts: outside correspondents or colleagues, mostly from the
	// owner's department.
	n, external := sh.n, sh.external
	for len(th.others) < n {
		if external && len(th.others) == 0 {
			th.others = append(th.others, o.externalPerson(&r, th.topic.ext))
			continue
		}
		var j int
		if r.chance(0.6) {
			j = o.memberOf(u.dept, &r)
		} else {
			j = r.intn(o.nPerson)
		}
		if j == ui {
			j = (j + 1) % o.nPerson
			if j == ui {
				break // a one-person organisation cannot happen (Users ≥ 2)
			}
		}
		th.others = append(th.others, o.userPerson(j))
	}
	if len(th.topic.docs) > 0 {
		th.doc = docTypeIndex(th.topic.docs[0])
		th.variant = r.intn(docVariants)
	}
	num, seq := fmt.Sprintf("%d-%04d", paris(o.cfg.End).Year(), 1+r.intn(2400)), 1+r.intn(60)
	base := o.start.Add(time.Duration(r.float() * float64(o.cfg.End.Sub(o.start))))
	docName := ""
	if th.doc >= 0 {
		// The subject names the thread's document: same number, same date.
		m := o.docMeta(th.doc, th.variant)
		num, seq, docName, base = m.Number, m.Seq, m.Filename, m.Date
	}
	th.vars = tokens{
		"{num}", num, "{seq}", fmt.Sprintf("%d-%02d", paris(base).Year(), seq), "{doc}", docName,
		"{mois}", frenchMonths[paris(base).Month()-1] + " " + itoa(paris(base).Year()),
		"{city}", pick(&r, cities), "{org}", th.others[0].Org, "{dept}", u.Department,
		"{code}", departments[u.dept].Code, "{date}", frenchDate(base), "{echeance}", frenchDate(base.AddDate(0, 0, 7+r.intn(30))),
	}
	th.subject = th.vars.Replace(pick(&r, th.topic.subjects))
	return th
}

// sender of thread position p. Messages of this folder sit at positions
// prior, prior+2, prior+4 ...; the positions between are the other side's
// answers (which live in another folder or mailbox), so the two sides
// alternate all along the thread.
func (th *thread) sender(fs folderSpec, p int) *person {
	ownerSide := fs.kind == kindSent || fs.kind == kindDrafts
	d := p - th.prior
	if d%2 != 0 {
		ownerSide = !ownerSide
	}
	if ownerSide {
		return &th.owner
	}
	if d < 0 {
		return &th.others[0]
	}
	return &th.others[(d/2)%len(th.others)]
}

func (th *thread) messageID(fs folderSpec, p int) string {
	from := th.sender(fs, p).Address
	return "<" + th.key.num(uint64(p)).hex(12) + "@" + from[strings.LastIndexByte(from, '@')+1:] + ">"
}

func (o *Org) generate(ui int, fs folderSpec, uid uint32, skeleton bool) (*Message, error) {
	return o.generateInto(ui, fs, uid, skeleton, false, nil)
}

// generateInto generates a message. With parts, the attachments' base64 is
// not copied into Raw: *parts receives the message in pieces (see
// MessageParts) and Raw is nil. With prepare, it makes the attachments
// nobody is making and waits for none; it then returns no message unless
// every attachment was found or made (see PrepareParts).
func (o *Org) generateInto(ui int, fs folderSpec, uid uint32, skeleton, prepare bool, parts *[][]byte) (*Message, error) {
	var ck textKey
	if parts != nil && !skeleton {
		ck = textKey{ui: ui, folder: fs.Name, uid: uid}
		if m, found, err := o.cachedParts(ck, prepare, parts); found {
			return m, err
		}
	}
	u := &o.users[ui]
	fk := o.folderKey(ui, fs)
	tk, ordinal := o.threadOf(fk, fs, uid)
	th := o.buildThread(ui, fs, tk)
	pos := th.prior + 2*ordinal
	mr := fk.str("uid").num(uint64(uid)).rng()

	internal := o.messageTime(fs, uid, mr.float())
	sent := internal
	if fs.kind != kindSent && fs.kind != kindDrafts {
		sent = internal.Add(-time.Duration(2+mr.intn(240)) * time.Second)
	}
	from := th.sender(fs, pos)
	var to, cc []*person
	if from == &th.owner {
		to = append(to, &th.others[0])
		for i := 1; i < len(th.others); i++ {
			cc = append(cc, &th.others[i])
		}
	} else {
		to = append(to, &th.owner)
		for i := range th.others {
			if p := &th.others[i]; p != from {
				cc = append(cc, p)
			}
		}
		if len(cc) > 0 && mr.chance(0.3) {
			to, cc = cc[:1], append([]*person{&th.owner}, cc[1:]...)
		}
	}

	subject := th.subject
	if pos > 0 {
		if from.outlook {
			subject = "RE : " + subject
		} else {
			subject = "Re: " + subject
		}
	}

	// Attachments: the thread's document and sometimes others.
	var docs []docMeta
	pAttach := 0.16
	if th.doc >= 0 {
		pAttach = 0.68
		if pos > 0 {
			pAttach = 0.36
		}
	}
	if mr.chance(pAttach) {
		n := []int{1, 1, 1, 1, 1, 1, 2, 2, 2, 3}[mr.intn(10)]
		seen := map[string]bool{}
		for i := 0; i < n; i++ {
			var t int
			switch {
			case i == 0 && th.doc >= 0:
				t = th.doc
			case i < len(th.topic.docs) && mr.chance(0.7):
				t = docTypeIndex(th.topic.docs[i])
			default:
				t = docTypeIndex(pick(&mr, genericDocs))
			}
			v := mr.intn(docVariants)
			if t == th.doc && i == 0 {
				v = th.variant
			}
			m := o.docMeta(t, v)
			if seen[m.Filename] {
				continue
			}
			seen[m.Filename] = true
			docs = append(docs, m)
		}
	}
	encoded := make([]*encodedDoc, len(docs))
	if !skeleton {
		// The documents another goroutine is making are waited for last:
		// the others are made meanwhile (a preparer waits for none).
		for i := range docs {
			d, ok, err := o.loadDocument(&docs[i], false)
			if err != nil {
				return nil, err
			}
			if ok {
				encoded[i] = d
			}
		}
		if prepare {
			if slices.Contains(encoded, nil) {
				return nil, nil
			}
		}
	}
	total := 0
	for i := range docs {
		d := encoded[i]
		if d == nil {
			get := o.document
			if skeleton {
				get = o.docSummary
			}
			var err error
			if d, err = get(&docs[i]); err != nil {
				return nil, err
			}
			encoded[i] = d
		}
		total += encodedLen(d.size)
	}

	text := o.bodyText(th, fs, pos, from, to, docs, &mr, sent)

	// Headers.
	msgID := th.messageID(fs, pos)
	if skeleton || parts != nil {
		total = 0
	}
	var cuts []int // with parts: where each attachment's base64 goes
	// Not cleared first: every byte of it is written before it is read.
	buf := bytes.NewBuffer(nozero.Bytes(total + 4*len(text) + 2048 + 300*len(docs))[:0])
	h := headerWriter{buf}
	if fs.kind != kindSent && fs.kind != kindDrafts {
		domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
		relay := "smtp." + domain
		ip := fmt.Sprintf("198.51.100.%d", 1+mr.intn(254))
		if from.internal {
			relay, ip = "webmail."+o.cfg.Domain, fmt.Sprintf("10.%d.%d.%d", 20+mr.intn(30), mr.intn(256), 1+mr.intn(254))
		}
		h.field("Received", fmt.Sprintf("from %s (%s [%s]) by mx1.%s with ESMTPS id %s for <%s>; %s",
			relay, relay, ip, o.cfg.Domain, strings.ToUpper(fk.num(uint64(uid)).hex(6)), u.Address, rfcDate(internal)))
	}
	h.field("Date", rfcDate(sent))
	h.field("From", addr(from))
	if len(to) > 0 {
		h.field("To", addrList(to))
	}
	if len(cc) > 0 {
		h.field("Cc", addrList(cc))
	}
	h.field("Subject", mime.QEncoding.Encode("utf-8", subject))
	h.field("Message-ID", msgID)
	if pos > 0 {
		h.field("In-Reply-To", th.messageID(fs, pos-1))
		refs := make([]string, 0, pos)
		for p := 0; p < pos; p++ {
			if pos > 10 && p > 0 && p < pos-9 {
				continue // clients keep the first and the last ones
			}
			refs = append(refs, th.messageID(fs, p))
		}
		h.field("References", strings.Join(refs, " "))
	}
	if from.outlook {
		h.field("Thread-Topic", mime.QEncoding.Encode("utf-8", th.subject))
		h.field("X-Mailer", "Microsoft Outlook 16.0")
	} else {
		h.field("User-Agent", "Mozilla Thunderbird")
	}
	h.field("Content-Language", "fr-FR")
	h.field("MIME-Version", "1.0")

	bound := fk.num(uint64(uid)).str("boundary").hex(10)
	writeBody := func() {
		if from.outlook {
			alt := "----=_Alt_" + bound
			buf.WriteString("Content-Type: multipart/alternative; boundary=\"" + alt + "\"\r\n\r\n")
			buf.WriteString("--" + alt + "\r\n")
			writeQP(buf, "text/plain; charset=utf-8", text)
			buf.WriteString("\r\n--" + alt + "\r\n")
			writeQP(buf, "text/html; charset=utf-8", toHTML(text))
			buf.WriteString("\r\n--" + alt + "--\r\n")
			return
		}
		writeQP(buf, "text/plain; charset=utf-8", text)
	}
	if len(docs) == 0 {
		writeBody()
	} else {
		mixed := "----=_Part_" + bound
		buf.WriteString("Content-Type: multipart/mixed; boundary=\"" + mixed + "\"\r\n\r\n")
		buf.WriteString("This is a multi-part message in MIME format.\r\n")
		buf.WriteString("--" + mixed + "\r\n")
		writeBody()
		for i, d := range docs {
			buf.WriteString("\r\n--" + mixed + "\r\n")
			ct := mimeTypes[docTypes[d.typ].format]
			h.field("Content-Type", mime.FormatMediaType(ct, map[string]string{"name": d.Filename}))
			h.field("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": d.Filename}))
			h.field("Content-Transfer-Encoding", "base64")
			buf.WriteString("\r\n")
			switch {
			case parts != nil:
				cuts = append(cuts, buf.Len())
			case !skeleton:
				for _, p := range encoded[i].b64 {
					buf.Write(p)
				}
			}
		}
		buf.WriteString("\r\n--" + mixed + "--\r\n")
	}

	msg := &Message{UID: uid, InternalDate: paris(internal), MessageID: msgID, Subject: subject, Raw: buf.Bytes()}
	if parts != nil {
		b, prev := buf.Bytes(), 0
		for i, c := range cuts {
			*parts = append(*parts, b[prev:c:c])
			from := len(*parts)
			*parts = append(*parts, encoded[i].b64...)
			msg.Sections = append(msg.Sections, Section{Part: []int{i + 2}, From: from, To: len(*parts)})
			prev = c
		}
		*parts = append(*parts, b[prev:])
		msg.Raw = nil
	}
	msg.Flags = o.flags(fs, fk, uid, from, internal)
	for i, d := range docs {
		msg.Attachments = append(msg.Attachments, Attachment{Part: []int{i + 2}, Filename: d.Filename, ContentType: mimeTypes[docTypes[d.typ].format], Size: encoded[i].size, SHA256: encoded[i].sha256})
		if skeleton {
			msg.Omitted = append(msg.Omitted, Omitted{Part: []int{i + 2}, Bytes: encodedLen(encoded[i].size), Lines: (encoded[i].size + 56) / 57})
		}
	}
	if parts != nil && !skeleton && len(*parts) == partsMade(msg, len(docs)) {
		o.keepText(ck, msg, *parts, docs)
	}
	return msg, nil
}

// partsMade is how many pieces generateInto appended for msg: its text
// pieces and its attachments' base64 pieces.
func partsMade(msg *Message, ndocs int) int {
	n := ndocs + 1
	for _, s := range msg.Sections {
		n += s.To - s.From
	}
	return n
}

// flags draws from a stream of their own, so that Flags need not generate
// the rest of the message.
func (o *Org) flags(fs folderSpec, fk key, uid uint32, from *person, t time.Time) []string {
	rs := fk.str("flags").num(uint64(uid)).rng()
	r := &rs
	switch fs.kind {
	case kindSent:
		return []string{`\Seen`}
	case kindDrafts:
		return []string{`\Seen`, `\Draft`}
	}
	age := o.cfg.End.Sub(t)
	unseen := 0.004
	if fs.Name == "INBOX" {
		switch {
		case age < 2*24*time.Hour:
			unseen = 0.6
		case age < 7*24*time.Hour:
			unseen = 0.3
		case age < 30*24*time.Hour:
			unseen = 0.08
		default:
			unseen = 0.02
		}
	} else if fs.kind == kindTrash {
		unseen = 0.1
	}
	var f []string
	if !r.chance(unseen) {
		f = append(f, `\Seen`)
		if from.internal && r.chance(0.3) || r.chance(0.1) {
			f = append(f, `\Answered`)
		}
	}
	if fs.kind != kindTrash && r.chance(0.04) {
		f = append(f, `\Flagged`)
	}
	return f
}

func rfcDate(t time.Time) string { return paris(t).Format("Mon, 02 Jan 2006 15:04:05 -0700") }

func addr(p *person) string { return (&mail.Address{Name: p.Name, Address: p.Address}).String() }

func addrList(ps []*person) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = addr(p)
	}
	return strings.Join(s, ", ")
}

// headerWriter writes header fields, folding long ones at spaces.
type headerWriter struct{ b *bytes.Buffer }

func (h headerWriter) field(name, value string) {
	line := name + ": "
	h.b.WriteString(line)
	col := len(line)
	for i, word := range strings.Split(value, " ") {
		if i > 0 {
			if col+1+len(word) > 76 {
				h.b.WriteString("\r\n ")
				col = 1
			} else {
				h.b.WriteByte(' ')
				col++
			}
		}
		h.b.WriteString(word)
		col += len(word)
	}
	h.b.WriteString("\r\n")
}

func writeQP(buf *bytes.Buffer, contentType, text string) {
	buf.WriteString("Content-Type: " + contentType + "\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	w := quotedprintable.NewWriter(buf)
	w.Write([]byte(text)) // writes to a bytes.Buffer cannot fail
	w.Close()
}

func toHTML(text string) string {
	var b strings.Builder
	b.WriteString("<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"></head><body lang=\"FR\" style=\"font-family:Calibri,sans-serif;font-size:11pt\">\n")
	inQuote := false
	for _, para := range strings.Split(text, "\n\n") {
		if strings.HasPrefix(para, "> ") || strings.HasPrefix(para, "-----") {
			if !inQuote {
				b.WriteString("<blockquote style=\"border-left:2px solid #ccc;padding-left:8px;color:#555\">\n")
				inQuote = true
			}
		}
		b.WriteString("<p>" + strings.ReplaceAll(html.EscapeString(strings.ReplaceAll(para, "\n> ", "\n")), "\n", "<br>\n") + "</p>\n")
	}
	if inQuote {
		b.WriteString("</blockquote>\n")
	}
	b.WriteString("</body></html>\n")
	return b.String()
}
