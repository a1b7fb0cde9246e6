package imapd

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
)

// Mailbox name limits (Config fields; zero means these defaults).
const (
	DefaultMaxMailboxNameBytes  = 1024 // a whole name, UTF-8
	DefaultMaxMailboxLevelBytes = 255  // one level between delimiters
)

// Texts of the name refusals, and their audit reasons.
const (
	textNameTooLong = "Mailbox name too long"
	textNameInvalid = "Invalid mailbox name"
)

var nameErrReasons = map[string]string{
	textNameTooLong: "limit_mailbox_name",
	textNameInvalid: "invalid_mailbox_name",
}

func isNameErr(err error) bool {
	var ie *imap.Error
	if !errors.As(err, &ie) {
		return false
	}
	_, ok := nameErrReasons[ie.Text]
	return ok
}

// checkName bounds a mailbox name (already decoded from modified UTF-7 by
// go-imap): its length, each level's length, no control characters, valid
// UTF-8, no empty level (a single trailing delimiter is allowed: CREATE
// "a/" announces children).
func (s *Server) checkName(name string) error {
	maxName, maxLevel := s.cfg.MaxMailboxNameBytes, s.cfg.MaxMailboxLevelBytes
	if maxName <= 0 {
		maxName = DefaultMaxMailboxNameBytes
	}
	if maxLevel <= 0 {
		maxLevel = DefaultMaxMailboxLevelBytes
	}
	cannot := func(text string) error {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: text}
	}
	if len(name) > maxName {
		return cannot(textNameTooLong)
	}
	if !utf8.ValidString(name) {
		return cannot(textNameInvalid)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return cannot(textNameInvalid)
		}
	}
	levels := strings.Split(strings.TrimSuffix(name, string(delim)), string(delim))
	for _, l := range levels {
		if l == "" {
			return cannot(textNameInvalid)
		}
		if len(l) > maxLevel {
			return cannot(textNameTooLong)
		}
	}
	return nil
}

// checkPattern bounds a LIST pattern (reference and pattern joined) like a
// name, except for the level rules.
func (s *Server) checkPattern(p string) error {
	maxName := s.cfg.MaxMailboxNameBytes
	if maxName <= 0 {
		maxName = DefaultMaxMailboxNameBytes
	}
	if len(p) > maxName {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: textNameTooLong}
	}
	if !utf8.ValidString(p) || strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: textNameInvalid}
	}
	return nil
}

// mailboxCommands take mailbox names, which go-imap decodes from modified
// UTF-7 before the session sees them: a bad "&" sequence fails there, and
// go-imap answers "NO [SERVERBUG] Internal server error".
var mailboxCommands = map[string]bool{
	"SELECT": true, "EXAMINE": true, "CREATE": true, "DELETE": true, "RENAME": true,
	"SUBSCRIBE": true, "UNSUBSCRIBE": true, "STATUS": true, "LIST": true, "LSUB": true,
	"COPY": true, "UID COPY": true, "MOVE": true, "UID MOVE": true,
}
