// Package audit defines mailsim's audit event — one flat, ECS-style record per
// security-relevant action on the mail servers — and the bus that carries
// events, in order and without loss, to subscribers and sinks.
//
// The field names are documented with an example event each in
// docs/audit-schema.md.
package audit

import (
	"reflect"
	"time"
	"unsafe"
)

// Event actions. IMAP and SMTP actions are prefixed by their protocol.
const (
	IMAPConnect   = "imap.connect"
	IMAPID        = "imap.id"
	IMAPStartTLS  = "imap.starttls"
	IMAPLogin     = "imap.login"
	IMAPList      = "imap.list"
	IMAPNamespace = "imap.namespace"
	IMAPStatus    = "imap.status"
	IMAPSelect    = "imap.select"
	IMAPExamine   = "imap.examine"
	IMAPSearch    = "imap.search"
	IMAPSort      = "imap.sort"   // SORT, UID SORT (RFC 5256, RFC 5267 ESORT)
	IMAPThread    = "imap.thread" // THREAD, UID THREAD (RFC 5256)
	IMAPFetch     = "imap.fetch"
	IMAPStore     = "imap.store"
	IMAPCopy      = "imap.copy"
	IMAPMove      = "imap.move"
	IMAPExpunge   = "imap.expunge"
	IMAPAppend    = "imap.append"
	IMAPCreate    = "imap.create"
	IMAPDelete    = "imap.delete"
	IMAPRename    = "imap.rename"
	IMAPSubscribe = "imap.subscribe"
	IMAPIdle      = "imap.idle"
	IMAPLogout    = "imap.logout"
	// IMAPCommand is a command refused before it meant anything: unknown,
	// unparsable, or over a wire limit (event.reason says which).
	IMAPCommand = "imap.command"

	SMTPConnect    = "smtp.connect"
	SMTPStartTLS   = "smtp.starttls"
	SMTPAuth       = "smtp.auth"
	SMTPMailFrom   = "smtp.mail_from"
	SMTPRcpt       = "smtp.rcpt"
	SMTPData       = "smtp.data"
	SMTPDeliver    = "smtp.deliver"
	SMTPDisconnect = "smtp.disconnect"
	// SMTPCommand is a command refused before it could be attributed to
	// one of the actions above (unknown, malformed, out of sequence).
	SMTPCommand = "smtp.command"

	// AdminRequest is a request to the admin HTTP API that was refused
	// (event.reason says why: host_refused, token_in_query,
	// missing_token, invalid_token, limit_body_size, ...).
	AdminRequest = "admin.request"
	// AdminClock is a move of the virtual clock through the admin API,
	// stamped with the new time (event.reason set or advance), or a
	// refused one.
	AdminClock = "admin.clock"
)

// Outcomes.
const (
	Success = "success"
	Failure = "failure"
)

// Event is one audit record. JSON field names are flat dotted ECS-style
// names, so Sigma rules can name them directly. Zero-valued optional fields
// are omitted; booleans that carry meaning when false are pointers.
type Event struct {
	Timestamp time.Time `json:"@timestamp"`
	ID        string    `json:"event.id"`
	Sequence  uint64    `json:"event.sequence"`
	Action    string    `json:"event.action"`
	Outcome   string    `json:"event.outcome,omitempty"`
	Reason    string    `json:"event.reason,omitempty"`
	// Duration is ECS event.duration, in nanoseconds: for a refused
	// login, the failure delay applied before the reply (throttling).
	Duration time.Duration `json:"event.duration,omitempty"`

	ServiceType string `json:"service.type"`
	ServiceName string `json:"service.name"`
	SessionID   string `json:"session.id"`
	SourceIP    string `json:"source.ip"`
	SourcePort  int    `json:"source.port"`
	DestPort    int    `json:"destination.port,omitempty"`

	TLS bool `json:"tls.established"`
	// TLSUnknown: the source cannot tell whether TLS was up (a real
	// server's log that does not say); rules then see no tls.established.
	TLSUnknown    bool   `json:"tls.unknown,omitempty"`
	AuthMechanism string `json:"auth.mechanism,omitempty"`
	AuthCleartext *bool  `json:"auth.cleartext,omitempty"`
	UserName      string `json:"user.name,omitempty"`
	ClientName    string `json:"client.name,omitempty"`
	ClientVersion string `json:"client.version,omitempty"`
	ClientIDRaw   string `json:"client.id,omitempty"` // every IMAP ID field, "key=value; ..."

	MailboxOwner  string `json:"mailbox.owner,omitempty"`
	MailboxShared *bool  `json:"mailbox.shared,omitempty"`
	Mailbox       string `json:"imap.mailbox,omitempty"`
	Command       string `json:"imap.command,omitempty"`
	ReadOnly      *bool  `json:"imap.readonly,omitempty"`
	Search        string `json:"imap.search.criteria,omitempty"`
	SearchHits    *int   `json:"imap.search.hits,omitempty"`
	// SortCriteria is SORT's sort criteria ("REVERSE DATE"); ThreadAlgorithm
	// THREAD's algorithm ("REFERENCES").
	SortCriteria    string `json:"imap.sort.criteria,omitempty"`
	ThreadAlgorithm string `json:"imap.thread.algorithm,omitempty"`
	// SearchUpdate is set on a SEARCH or SORT with RETURN (UPDATE)
	// (RFC 5267 §4, CONTEXT=SEARCH): true when its result is kept live and
	// the client told of changes to it, false when refused (NOUPDATE).
	SearchUpdate *bool `json:"imap.search.update,omitempty"`
	// SearchPartial is the window of the result a SEARCH or SORT asked for
	// with RETURN (PARTIAL low:high) ("1:100").
	SearchPartial string `json:"imap.search.partial,omitempty"`
	FetchItems    string `json:"imap.fetch.items,omitempty"`
	DestMailbox   string `json:"imap.destination_mailbox,omitempty"`
	Flags         string `json:"imap.flags,omitempty"`
	// ModSeq is the message's mod-sequence (RFC 7162 CONDSTORE) after a
	// STORE, or as a FETCH found it; set once the session enabled CONDSTORE.
	ModSeq uint64 `json:"imap.modseq,omitempty"`
	// Vanished is how many expunged UIDs a QRESYNC client was told of with
	// VANISHED (EARLIER), on a SELECT/EXAMINE with QRESYNC or on a UID
	// FETCH ... (CHANGEDSINCE n VANISHED).
	Vanished int `json:"imap.vanished,omitempty"`
	// CatenateParts is how many parts (TEXT and URL) an APPEND with
	// CATENATE (RFC 4469) joined.
	CatenateParts int `json:"imap.catenate.parts,omitempty"`

	SessionCommands int64 `json:"imap.session.commands,omitempty"`
	SessionFetches  int64 `json:"imap.session.fetches,omitempty"`
	SessionBytesOut int64 `json:"imap.session.bytes_out,omitempty"`

	MessageID   string `json:"message.id,omitempty"`
	MessageUID  uint32 `json:"message.uid,omitempty"`
	MessageSize int64  `json:"message.size,omitempty"`
	MessageSubj string `json:"message.subject,omitempty"`

	FileName     string `json:"file.name,omitempty"`
	FileExt      string `json:"file.extension,omitempty"`
	FileMIMEType string `json:"file.mime_type,omitempty"`
	FileSize     int64  `json:"file.size,omitempty"`
	FileSHA256   string `json:"file.hash.sha256,omitempty"`
	BytesOut     int64  `json:"bytes.out,omitempty"`

	// SMTPVerb is the command of an smtp.command event when the reply
	// names it (VRFY, EXPN, an unknown one): user enumeration by VRFY
	// or EXPN is told from a typo.
	SMTPVerb        string   `json:"smtp.command,omitempty"`
	SMTPHelo        string   `json:"smtp.helo,omitempty"`
	SMTPMailFrom    string   `json:"smtp.mail_from,omitempty"`
	SMTPRcptTo      string   `json:"smtp.rcpt_to,omitempty"`
	DestDomain      string   `json:"destination.domain,omitempty"`
	EmailDirection  string   `json:"email.direction,omitempty"`
	AttachmentCount int      `json:"email.attachments.count,omitempty"`
	AttachmentNames []string `json:"email.attachments.names,omitempty"`
	// EmailFrom is the address of a message's header From: (what the
	// recipient sees), beside the envelope's smtp.mail_from.
	EmailFrom string `json:"email.from.address,omitempty"`
	// SMTPSpoofedLocalSender marks mail arriving from outside (MX, no
	// authentication) whose envelope or header sender is in a local domain.
	SMTPSpoofedLocalSender *bool `json:"smtp.spoofed_local_sender,omitempty"`

	HTTPMethod string `json:"http.request.method,omitempty"` // admin API request
	URLPath    string `json:"url.path,omitempty"`

	RunID string `json:"labels.run_id,omitempty"`
}

// Bool returns a pointer to b, for the optional boolean fields.
func Bool(b bool) *bool { return &b }

// Int returns a pointer to n.
func Int(n int) *int { return &n }

// Field returns the value of a field by its JSON name, for in-process rule
// evaluation. The second result is false when the field is absent.
func (e *Event) Field(name string) (any, bool) {
	switch name {
	case "@timestamp":
		return e.Timestamp.Format(time.RFC3339Nano), true
	case "event.id":
		return e.ID, true
	case "event.sequence":
		return int64(e.Sequence), true
	case "event.action":
		return e.Action, true
	case "service.type":
		return e.ServiceType, true
	case "service.name":
		return e.ServiceName, true
	case "session.id":
		return e.SessionID, true
	case "source.ip":
		return e.SourceIP, true
	case "source.port":
		return int64(e.SourcePort), true
	case "tls.established":
		if e.TLSUnknown {
			return nil, false
		}
		return e.TLS, true
	case "tls.unknown":
		return e.TLSUnknown, e.TLSUnknown
	case "auth.cleartext":
		return boolp(e.AuthCleartext)
	case "mailbox.shared":
		return boolp(e.MailboxShared)
	case "imap.readonly":
		return boolp(e.ReadOnly)
	case "imap.search.update":
		return boolp(e.SearchUpdate)
	case "smtp.spoofed_local_sender":
		return boolp(e.SMTPSpoofedLocalSender)
	case "imap.search.hits":
		if e.SearchHits == nil {
			return nil, false
		}
		return int64(*e.SearchHits), true
	case "email.attachments.names":
		if len(e.AttachmentNames) == 0 {
			return nil, false
		}
		out := make([]any, len(e.AttachmentNames))
		for i, n := range e.AttachmentNames {
			out[i] = n
		}
		return out, true
	}
	if s, ok := e.stringField(name); ok {
		return s, s != ""
	}
	if n, ok := e.intField(name); ok {
		return n, n != 0
	}
	return nil, false
}

func boolp(b *bool) (any, bool) {
	if b == nil {
		return nil, false
	}
	return *b, true
}

func (e *Event) stringField(name string) (string, bool) {
	switch name {
	case "event.outcome":
		return e.Outcome, true
	case "event.reason":
		return e.Reason, true
	case "auth.mechanism":
		return e.AuthMechanism, true
	case "user.name":
		return e.UserName, true
	case "client.name":
		return e.ClientName, true
	case "client.version":
		return e.ClientVersion, true
	case "client.id":
		return e.ClientIDRaw, true
	case "mailbox.owner":
		return e.MailboxOwner, true
	case "imap.mailbox":
		return e.Mailbox, true
	case "imap.command":
		return e.Command, true
	case "smtp.command":
		return e.SMTPVerb, true
	case "imap.search.criteria":
		return e.Search, true
	case "imap.sort.criteria":
		return e.SortCriteria, true
	case "imap.thread.algorithm":
		return e.ThreadAlgorithm, true
	case "imap.search.partial":
		return e.SearchPartial, true
	case "imap.fetch.items":
		return e.FetchItems, true
	case "imap.destination_mailbox":
		return e.DestMailbox, true
	case "imap.flags":
		return e.Flags, true
	case "message.id":
		return e.MessageID, true
	case "message.subject":
		return e.MessageSubj, true
	case "file.name":
		return e.FileName, true
	case "file.extension":
		return e.FileExt, true
	case "file.mime_type":
		return e.FileMIMEType, true
	case "file.hash.sha256":
		return e.FileSHA256, true
	case "smtp.helo":
		return e.SMTPHelo, true
	case "smtp.mail_from":
		return e.SMTPMailFrom, true
	case "smtp.rcpt_to":
		return e.SMTPRcptTo, true
	case "destination.domain":
		return e.DestDomain, true
	case "email.direction":
		return e.EmailDirection, true
	case "email.from.address":
		return e.EmailFrom, true
	case "http.request.method":
		return e.HTTPMethod, true
	case "url.path":
		return e.URLPath, true
	case "labels.run_id":
		return e.RunID, true
	}
	return "", false
}

func (e *Event) intField(name string) (int64, bool) {
	switch name {
	case "destination.port":
		return int64(e.DestPort), true
	case "imap.session.commands":
		return e.SessionCommands, true
	case "imap.session.fetches":
		return e.SessionFetches, true
	case "imap.session.bytes_out":
		return e.SessionBytesOut, true
	case "message.uid":
		return int64(e.MessageUID), true
	case "message.size":
		return e.MessageSize, true
	case "event.duration":
		return int64(e.Duration), true
	case "file.size":
		return e.FileSize, true
	case "bytes.out":
		return e.BytesOut, true
	case "imap.modseq":
		return int64(e.ModSeq), true
	case "imap.vanished":
		return int64(e.Vanished), true
	case "imap.catenate.parts":
		return int64(e.CatenateParts), true
	case "email.attachments.count":
		return int64(e.AttachmentCount), true
	}
	return 0, false
}

// Time returns the event's timestamp (for rule engines).
func (e *Event) Time() time.Time { return e.Timestamp }

// eventStrings are the indexes of Event's string fields, for memSize.
var eventStrings = func() []int {
	var out []int
	t := reflect.TypeFor[Event]()
	for i := range t.NumField() {
		if t.Field(i).Type.Kind() == reflect.String {
			out = append(out, i)
		}
	}
	return out
}()

// memSize estimates the memory an event holds: the struct, its strings
// and attachment names (shared strings are counted as if they were not).
func (e *Event) memSize() int64 {
	n := int64(unsafe.Sizeof(*e))
	v := reflect.ValueOf(e).Elem()
	for _, i := range eventStrings {
		n += int64(v.Field(i).Len())
	}
	for _, a := range e.AttachmentNames {
		n += int64(len(a)) + int64(unsafe.Sizeof(a))
	}
	return n
}
