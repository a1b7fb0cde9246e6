// Modifying steps: mark, delete, move, append.

package run

import (
	"context"

	"github.com/emersion/go-imap/v2"

	"github.com/maildrill/maildrill/scenarios"
)

func stepMark(ctx context.Context, a *actorRun, st *scenarios.Step, p *scenarios.Params) error {
	if _, err := a.selectMailbox(ctx, orStr(p.Mailbox, a.selected), false); err != nil && a.selected == "" {
		return err
	}
	uids, err := a.targetUIDs(ctx, p.FromSearch, orDefault(p.Limit, 10))
	if err != nil || len(uids) == 0 {
		return err
	}
	op := imap.StoreFlagsDel
	if p.Seen {
		op = imap.StoreFlagsAdd
	}
	if err := a.ic.Store(imap.UIDSetNum(uids...), &imap.StoreFlags{Op: op, Flags: []imap.Flag{imap.FlagSeen}, Silent: true}, nil).Close(); err != nil {
		return err
	}
	a.record("imap.store", "success", scenarios.TruthRecord{Mailbox: a.selected, Count: len(uids)})
	return nil
}

func stepDelete(ctx context.Context, a *actorRun, st *scenarios.Step, p *scenarios.Params) error {
	if _, err := a.selectMailbox(ctx, orStr(p.Mailbox, a.selected), false); err != nil && a.selected == "" {
		return err
	}
	var uids []imap.UID
	if !p.FromSearch && len(a.lastRead) > 0 && p.Mailbox == "" {
		uids = append(uids, a.lastRead...)
		if p.Limit >= 0 && len(uids) > p.Limit {
			uids = uids[:p.Limit]
		}
	} else {
		var err error
		if uids, err = a.targetUIDs(ctx, p.FromSearch, orDefault(p.Limit, 5)); err != nil {
			return err
		}
	}
	if len(uids) == 0 {
		return nil
	}
	set := imap.UIDSetNum(uids...)
	if err := a.ic.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		return err
	}
	if p.Expunge {
		if err := a.ic.UIDExpunge(set).Close(); err != nil {
			return err
		}
	}
	a.lastRead = nil
	a.record("imap.delete", "success", scenarios.TruthRecord{Mailbox: a.selected, Count: len(uids)})
	return nil
}

func stepMove(ctx context.Context, a *actorRun, st *scenarios.Step, p *scenarios.Params) error {
	if _, err := a.selectMailbox(ctx, orStr(p.Mailbox, a.selected), false); err != nil && a.selected == "" {
		return err
	}
	uids, err := a.targetUIDs(ctx, p.FromSearch, orDefault(p.Limit, 10))
	if err != nil || len(uids) == 0 {
		return err
	}
	if _, err := a.ic.Move(imap.UIDSetNum(uids...), p.Name).Wait(); err != nil {
		return err
	}
	a.record("imap.move", "success", scenarios.TruthRecord{Mailbox: a.selected, Count: len(uids), Detail: "to " + p.Name})
	return nil
}

func stepAppend(ctx context.Context, a *actorRun, st *scenarios.Step, p *scenarios.Params) error {
	if err := a.ensureIMAP(ctx); err != nil {
		return err
	}
	msg := buildMessage(a.user, []string{a.user}, orStr(p.Subject, "notes"), orStr(p.Body, "-"), nil, a.r.clk.Now(), a.tag(), a.r.runMark())
	cmd := a.ic.Append(p.Mailbox, int64(len(msg)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDraft}})
	if _, err := cmd.Write(msg); err != nil {
		return err
	}
	if err := cmd.Close(); err != nil {
		return err
	}
	if _, err := cmd.Wait(); err != nil {
		return err
	}
	a.record("imap.append", "success", scenarios.TruthRecord{Mailbox: p.Mailbox, Bytes: int64(len(msg))})
	return nil
}
