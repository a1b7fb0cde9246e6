package run

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/scenarios"
)

type staffMember struct {
	account account.Account
	src     netip.Addr
	client  scenarios.ClientID
	helo    string
	phone   bool
	late    bool
	model   *scenarios.StaffModel
}

var desktopClients = []scenarios.ClientID{{Name: "Microsoft Outlook", Version: "16.0.17928"}, {Name: "Thunderbird", Version: "128.5.0"}, {Name: "Microsoft Outlook", Version: "16.0.18129"}}
var phoneClients = []scenarios.ClientID{{Name: "iPhone Mail", Version: "21G93"}, {Name: "com.google.android.gm", Version: "2024.11.10"}}

func (r *runner) staffMembers(a *scenarios.Actor, env scenarios.Environment) []*staffMember {
	h := fnv.New64a()
	fmt.Fprintf(h, "staff/%d/%s", env.Seed, a.ID)
	rng := rand.New(rand.NewPCG(h.Sum64(), 7))
	var people []account.Account
	for _, acc := range r.target.Accounts() {
		if acc.Kind == "person" {
			people = append(people, acc)
		}
	}
	n := min(a.Staff.Count, len(people))
	var out []*staffMember
	for i := 0; i < n; i++ {
		m := &staffMember{account: people[i], model: a.Staff}
		m.src = pickAddr(a.Source, rng)
		m.client = desktopClients[rng.IntN(len(desktopClients))]
		local, _, _ := strings.Cut(people[i].Address, "@")
		m.helo = "PC-" + strings.ToUpper(strings.ReplaceAll(local, ".", ""))
		if len(m.helo) > 15 {
			m.helo = m.helo[:15]
		}
		out = append(out, m)
	}
	for i := 0; i < a.Staff.Phones && i < len(out); i++ {
		out[len(out)-1-i].phone = true
	}
	for i := 0; i < a.Staff.Late && i < len(out); i++ {
		out[(i*7+3)%len(out)].late = true
	}
	return out
}

// staffDay replays every working day of the scenario for one member.
func (ar *actorRun) staffDay(ctx context.Context) error {
	env := ar.r.sc.Env
	loc := env.Location
	end := env.Start.Add(env.Duration)
	day := time.Date(env.Start.In(loc).Year(), env.Start.In(loc).Month(), env.Start.In(loc).Day(), 0, 0, 0, 0, loc)
	for ; day.Before(end); day = day.AddDate(0, 0, 1) {
		if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
			continue
		}
		if err := ar.workday(ctx, day); err != nil {
			return err
		}
	}
	return nil
}

func (ar *actorRun) at(day time.Time, tod time.Duration, jitter time.Duration) time.Time {
	j := time.Duration(0)
	if jitter > 0 {
		j = time.Duration(ar.rng.Int64N(int64(jitter)))
	}
	y, m, d := day.Date()
	return scenarios.OnClock(y, m, d, tod, day.Location()).Add(j)
}

func (ar *actorRun) workday(ctx context.Context, day time.Time) error {
	m := ar.member
	model := m.model
	arrive := ar.at(day, model.DayStart-15*time.Minute, 75*time.Minute)
	leave := ar.at(day, model.DayEnd-30*time.Minute, 60*time.Minute)
	if m.late {
		leave = ar.at(day, 20*time.Hour+30*time.Minute, 60*time.Minute)
	}
	if m.phone {
		// The phone polls from early morning to late evening, from the
		// mobile gateway, interleaved with desk sessions.
		return ar.phoneAndDesk(ctx, day, arrive, leave)
	}
	return ar.desk(ctx, day, arrive, leave)
}

func (ar *actorRun) desk(ctx context.Context, day, arrive, leave time.Time) error {
	if leave.Before(ar.now) {
		return nil
	}
	if err := ar.waitUntil(ctx, arrive); err != nil {
		return err
	}
	if err := ar.staffSession(ctx, true); err != nil {
		return err
	}
	for {
		next := ar.now.Add(time.Duration(45+ar.rng.IntN(75)) * time.Minute)
		if next.After(leave) {
			return nil
		}
		if err := ar.waitUntil(ctx, next); err != nil {
			return err
		}
		if err := ar.staffSession(ctx, false); err != nil {
			return err
		}
	}
}

func (ar *actorRun) phoneAndDesk(ctx context.Context, day, arrive, leave time.Time) error {
	first := ar.at(day, 7*time.Hour, 30*time.Minute)
	last := ar.at(day, 22*time.Hour, 30*time.Minute)
	nextDesk := arrive
	deskDone := false
	t := first
	for t.Before(last) {
		if !deskDone && !nextDesk.After(t) {
			if err := ar.waitUntil(ctx, nextDesk); err != nil {
				return err
			}
			if err := ar.staffSession(ctx, nextDesk.Equal(arrive)); err != nil {
				return err
			}
			nextDesk = ar.now.Add(time.Duration(60+ar.rng.IntN(90)) * time.Minute)
			if nextDesk.After(leave) {
				deskDone = true
			}
			continue
		}
		if err := ar.waitUntil(ctx, t); err != nil {
			return err
		}
		if err := ar.phonePoll(ctx); err != nil {
			return err
		}
		t = ar.now.Add(time.Duration(15+ar.rng.IntN(20)) * time.Minute)
	}
	return nil
}

// staffSession: log in from the desk, read new mail, sometimes open an
// attachment, send internal mail; the secretariat also looks at the
// director's inbox.
func (ar *actorRun) staffSession(ctx context.Context, morning bool) error {
	m := ar.member
	ar.src = m.src
	cr := cred{m.account.Address, m.account.Password}
	if err := ar.login(ctx, cr); err != nil {
		return err
	}
	defer ar.logout()
	if _, err := ar.selectMailbox(ctx, "INBOX", false); err != nil {
		return err
	}
	if err := ar.tick(ctx, 20*time.Second); err != nil {
		return err
	}
	headers := 10
	if morning {
		headers = 25
	}
	uids, err := ar.targetUIDs(ctx, false, headers)
	if err != nil {
		return err
	}
	if len(uids) > 0 {
		if _, err := ar.ic.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, Envelope: true, Flags: true, RFC822Size: true}).Collect(); err != nil {
			return err
		}
	}
	reads := 1 + ar.rng.IntN(3)
	if morning {
		reads += 2
	}
	for i := 0; i < reads && i < len(uids); i++ {
		if err := ar.tick(ctx, time.Duration(30+ar.rng.IntN(150))*time.Second); err != nil {
			return err
		}
		if _, err := ar.fetchLen(uids[i], nil); err != nil {
			return err
		}
		ar.record("imap.read", "success", scenarios.TruthRecord{Mailbox: "INBOX", Count: 1})
	}
	// Open one attachment now and then.
	if ar.rng.IntN(3) == 0 && len(uids) > 0 {
		p := &scenarios.Params{Limit: 1}
		parts, err := ar.attachmentParts(uids[:min(5, len(uids))], p)
		if err != nil {
			return err
		}
		if len(parts) > 0 {
			if err := ar.tick(ctx, time.Minute); err != nil {
				return err
			}
			data, err := ar.fetchPart(parts[0].uid, parts[0].part)
			if err != nil {
				return err
			}
			kept := ar.keep(attachment{name: parts[0].name, mime: parts[0].mime, data: data})
			ar.record("imap.download_attachment", "success", scenarios.TruthRecord{Mailbox: "INBOX", Bytes: int64(len(data)), Detail: parts[0].name})
			if !kept {
				putDLBuf(data)
			}
		}
	}
	if morning && strings.EqualFold(m.account.Role, "secretariat") {
		boxes, err := ar.others(ctx, "delegated")
		if err != nil {
			return err
		}
		for _, b := range boxes[:min(1, len(boxes))] {
			ar.touchNext = everything // another's mailbox, read alone (side.go)
			if err := ar.tick(ctx, 2*time.Minute); err != nil {
				return err
			}
			if _, err := ar.selectMailbox(ctx, b, true); err != nil {
				return err
			}
			u, err := ar.targetUIDs(ctx, false, 10)
			if err != nil {
				return err
			}
			if len(u) > 0 {
				if _, err := ar.ic.Fetch(imap.UIDSetNum(u...), &imap.FetchOptions{UID: true, Envelope: true}).Collect(); err != nil {
					return err
				}
			}
		}
	}
	// Internal mail.
	sends := 0
	if morning {
		sends = m.model.MailPerDay
	} else if ar.rng.IntN(3) == 0 {
		sends = 1
	}
	for i := 0; i < sends; i++ {
		// The mail lands in the colleague's mailbox, which the sending
		// touches (side.go): the colleague is chosen before the wait, at
		// least sideBySideGap long (less the jitter).
		d := ar.paced(time.Duration(2+ar.rng.IntN(8)) * time.Minute)
		to := ar.colleague()
		ar.touchNext = []string{to}
		if err := ar.waitUntil(ctx, ar.now.Add(d)); err != nil {
			return err
		}
		if ar.r.side != nil {
			// The message's Received header names its SMTP session and
			// time, numbered and read when the sending comes first.
			ar.r.side.awaitFirst(ar.order)
		}
		var atts []attachment
		var read []byte // a file read back for this mail, given back once sent
		if len(ar.downloads) > 0 && ar.rng.IntN(2) == 0 {
			kept := ar.downloads[len(ar.downloads)-1]
			last, err := ar.load(kept)
			if err != nil {
				return err
			}
			if kept.data == nil {
				read = last.data
			}
			atts = []attachment{last}
		}
		subject := staffSubjects[ar.rng.IntN(len(staffSubjects))]
		body := "Bonjour,\r\n\r\nCordialement."
		// Written into a download buffer, given back once sent: nothing
		// keeps the message.
		msg := buildMessageIn(getDLBuf(buildMessageEstimate(body, atts)), cr.user, []string{to}, subject, body, atts, ar.r.clk.Now(), ar.tag(), ar.r.runMark())
		if err := ar.sendMail(ctx, cr, []string{to}, msg); err != nil {
			return err
		}
		ar.record("smtp.send", "success", scenarios.TruthRecord{Bytes: int64(len(msg)), Count: len(atts), Detail: "to " + to})
		putDLBuf(msg)
		putDLBuf(read)
	}
	return nil
}

var staffSubjects = []string{"Point d'étape", "Réunion de service jeudi", "RE: dossier en cours", "Relecture de la note", "Planning des astreintes", "Compte rendu de réunion"}

func (ar *actorRun) colleague() string {
	for {
		accs := ar.r.target.Accounts()
		acc := accs[ar.rng.IntN(len(accs))]
		if acc.Kind == "person" && acc.Address != ar.member.account.Address {
			return acc.Address
		}
	}
}

// phonePoll: a phone checks for new mail from the mobile gateway.
func (ar *actorRun) phonePoll(ctx context.Context) error {
	m := ar.member
	deskSrc, deskClient := m.src, m.client
	h := fnv.New32a()
	h.Write([]byte(m.account.Address))
	ar.src = pickAddr([]netip.Prefix{m.model.Phone}, rand.New(rand.NewPCG(uint64(h.Sum32()), 1)))
	m.client = phoneClients[int(h.Sum32())%len(phoneClients)]
	defer func() { ar.src, m.client = deskSrc, deskClient }()
	if err := ar.login(ctx, cred{m.account.Address, m.account.Password}); err != nil {
		return err
	}
	defer ar.logout()
	if _, err := ar.selectMailbox(ctx, "INBOX", true); err != nil {
		return err
	}
	uids, err := ar.targetUIDs(ctx, false, 5)
	if err != nil {
		return err
	}
	if len(uids) > 0 {
		_, err = ar.ic.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, Flags: true, Envelope: true}).Collect()
	}
	return err
}
