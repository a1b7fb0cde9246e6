// The step kinds' implementations: one family per file (auth, read,
// modify, send, flow), the table that names them here.

package run

import (
	"context"
	"sort"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/maildrill/maildrill/scenarios"
)

// stepFunc runs one step of a kind for an actor, with the step's
// parameters.
type stepFunc func(ctx context.Context, a *actorRun, st *scenarios.Step, p *scenarios.Params) error

// impls are the step kinds' implementations, by name: every kind of
// scenarios.StepKinds has one, and only those (TestEveryKindImplemented).
var impls map[string]stepFunc

// The table is filled at init: repeat and foreach run steps themselves.
func init() {
	impls = map[string]stepFunc{
		"wait":                 stepWait,
		"login":                stepLogin,
		"connect":              stepConnect,
		"logout":               stepLogout,
		"spray":                stepSpray,
		"brute_force":          stepBrute,
		"list":                 stepList,
		"select":               stepSelect,
		"examine":              stepExamine,
		"search":               stepSearch,
		"fetch_headers":        stepFetchHeaders,
		"download_attachments": stepDownloadAttachments,
		"download_messages":    stepDownloadMessages,
		"open_mailboxes":       stepOpenMailboxes,
		"mark":                 stepMark,
		"delete":               stepDelete,
		"move":                 stepMove,
		"append":               stepAppend,
		"idle":                 stepIdle,
		"send":                 stepSend,
		"forward":              stepForward,
		"repeat":               stepRepeat,
		"foreach":              stepForeach,
	}
}

func defDelay(p *scenarios.Params, d time.Duration) time.Duration {
	if p.Delay >= 0 {
		return p.Delay
	}
	return d
}

func orDefault(v, d int) int {
	if v < 0 {
		return d
	}
	return v
}

func orStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func hasAttr(attrs []imap.MailboxAttr, a imap.MailboxAttr) bool {
	for _, x := range attrs {
		if x == a {
			return true
		}
	}
	return false
}

// targetUIDs picks the UIDs a step works on: the last search results, or
// the newest messages of the selected mailbox.
func (a *actorRun) targetUIDs(ctx context.Context, fromSearch bool, limit int) ([]imap.UID, error) {
	var uids []imap.UID
	if fromSearch {
		uids = append(uids, a.search[a.selected]...)
	} else {
		data, err := a.ic.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
		if err != nil {
			return nil, err
		}
		uids = data.AllUIDs()
	}
	// Newest first.
	sort.Slice(uids, func(i, j int) bool { return uids[i] > uids[j] })
	if limit >= 0 && len(uids) > limit {
		uids = uids[:limit]
	}
	return uids, nil
}
