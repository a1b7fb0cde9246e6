package exercise

import (
	"time"

	"github.com/maildrill/maildrill/detectors"
	"github.com/maildrill/maildrill/mailsim/audit"
)

// The SOC view's data path. Every payload the players' endpoints send is
// built here, field by field, from what a SOC would have: the mail
// servers' audit trail and the detection rules' alerts. Nothing is copied
// from the ground truth and nothing is deleted from it: a field not named
// here never reaches the players.

// socEvent is one audit event as a SOC sees it.
type socEvent struct {
	ID       string `json:"id"`
	Time     string `json:"t"`
	Action   string `json:"action"`
	Outcome  string `json:"outcome,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Service  string `json:"service,omitempty"`
	Session  string `json:"session,omitempty"`
	User     string `json:"user,omitempty"`
	Owner    string `json:"owner,omitempty"`
	Mailbox  string `json:"mailbox,omitempty"`
	Source   string `json:"src,omitempty"`
	TLS      bool   `json:"tls"`
	Client   string `json:"client,omitempty"`
	Search   string `json:"search,omitempty"`
	File     string `json:"file,omitempty"`
	Size     int64  `json:"size,omitempty"`
	Bytes    int64  `json:"bytes,omitempty"`
	Subject  string `json:"subject,omitempty"`
	MailFrom string `json:"mail_from,omitempty"`
	RcptTo   string `json:"rcpt_to,omitempty"`
	Domain   string `json:"domain,omitempty"`
	Helo     string `json:"helo,omitempty"`
}

func socEventOf(e audit.Event, loc *time.Location) socEvent {
	client := e.ClientName
	if e.ClientVersion != "" {
		client += " " + e.ClientVersion
	}
	size := e.MessageSize
	if e.FileSize > 0 {
		size = e.FileSize
	}
	return socEvent{ID: e.ID, Time: stamp(e.Timestamp, loc), Action: e.Action, Outcome: e.Outcome, Reason: e.Reason,
		Service: e.ServiceType, Session: e.SessionID, User: e.UserName, Owner: e.MailboxOwner, Mailbox: e.Mailbox,
		Source: e.SourceIP, TLS: e.TLS, Client: client, Search: e.Search, File: e.FileName, Size: size, Bytes: e.BytesOut,
		Subject: e.MessageSubj, MailFrom: e.SMTPMailFrom, RcptTo: e.SMTPRcptTo, Domain: e.DestDomain, Helo: e.SMTPHelo}
}

// socAlert is one alert as a SOC's console shows it: the rule's title and
// level, when, the values it groups by and the events behind it.
type socAlert struct {
	N      int               `json:"n"`
	Time   string            `json:"t"`
	Title  string            `json:"title"`
	Level  string            `json:"level"`
	Group  map[string]string `json:"group,omitempty"`
	Events []string          `json:"events"`
	// Shown is the wall time (Unix ms) the server published the alert,
	// for the browser's own latency check.
	Shown int64 `json:"shown"`
}

func socAlertOf(n int, a detectors.Alert, loc *time.Location, wall time.Time) socAlert {
	g := map[string]string{}
	for k, v := range a.Group {
		g[k] = v
	}
	return socAlert{N: n, Time: stamp(a.Time, loc), Title: a.Title, Level: a.Level, Group: g,
		Events: append([]string(nil), a.EventIDs...), Shown: wall.UnixMilli()}
}

// socInject is an inject as the players get it: no id from the scenario,
// no release condition, no expected answer.
type socInject struct {
	N         int           `json:"n"`
	Time      string        `json:"t"`
	Title     string        `json:"title,omitempty"`
	Text      string        `json:"text"`
	Questions []socQuestion `json:"questions"`
}

type socQuestion struct {
	ID      string   `json:"id"`
	Text    string   `json:"text"`
	Choices []string `json:"choices,omitempty"`
}

// socClock is the time on the players' wall clock and whether the
// exercise is paused.
type socClock struct {
	Time  string `json:"t"`
	State string `json:"state"`
}

// socReceipt acknowledges what a player sent.
type socReceipt struct {
	Kind     string `json:"kind"` // answer, ack
	Inject   int    `json:"inject,omitempty"`
	Question string `json:"question,omitempty"`
	Answer   string `json:"answer,omitempty"`
	Alert    int    `json:"alert,omitempty"`
	Time     string `json:"t"`
}

func stamp(t time.Time, loc *time.Location) string {
	if loc != nil {
		t = t.In(loc)
	}
	return t.Format("2006-01-02T15:04:05Z07:00")
}
