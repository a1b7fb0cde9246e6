// Flow steps: wait, repeat, foreach.

package run

import (
	"context"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/maildrill/maildrill/scenarios"
)

func stepWait(ctx context.Context, a *actorRun, st *scenarios.Step, p *scenarios.Params) error {
	return a.waitUntil(ctx, a.now.Add(p.Duration))
}

func stepRepeat(ctx context.Context, a *actorRun, st *scenarios.Step, p *scenarios.Params) error {
	for i := 0; i < p.Times; i++ {
		if err := a.runSteps(ctx, p.Steps); err != nil {
			return err
		}
	}
	return nil
}

func stepForeach(ctx context.Context, a *actorRun, st *scenarios.Step, p *scenarios.Params) error {
	var boxes []string
	switch p.Over {
	case "others":
		var err error
		if boxes, err = a.others(ctx, "all"); err != nil {
			return err
		}
	default:
		if err := a.ensureIMAP(ctx); err != nil {
			return err
		}
		list, err := a.ic.List("", orStr(p.Pattern, "*"), nil).Collect()
		if err != nil {
			return err
		}
		for _, l := range list {
			if !hasAttr(l.Attrs, imap.MailboxAttrNoSelect) && !strings.HasPrefix(l.Mailbox, "Users/") && !strings.HasPrefix(l.Mailbox, "Shared/") {
				boxes = append(boxes, l.Mailbox)
			}
		}
	}
	if p.Limit >= 0 && len(boxes) > p.Limit {
		boxes = boxes[:p.Limit]
	}
	for _, mb := range boxes {
		if _, err := a.selectMailbox(ctx, mb, true); err != nil {
			continue
		}
		if err := a.runSteps(ctx, withMailbox(p.Steps, mb)); err != nil {
			return err
		}
	}
	return nil
}

// withMailbox fills the mailbox of steps that name none.
func withMailbox(steps []*scenarios.Step, mb string) []*scenarios.Step {
	out := make([]*scenarios.Step, len(steps))
	for i, st := range steps {
		out[i] = st.WithMailbox(mb)
	}
	return out
}
