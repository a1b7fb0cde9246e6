// Authentication steps: connect, login, logout, password spray, brute force.

package run

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/maildrill/maildrill/mailsim/target"
	"github.com/maildrill/maildrill/scenarios"
)

func stepLogin(ctx context.Context, a *actorRun, st *scenarios.Step, p *scenarios.Params) error {
	cr, err := a.credentials(p)
	if errors.Is(err, errListed) {
		return a.tryList(ctx)
	}
	if err != nil {
		return err
	}
	return a.login(ctx, cr)
}

func stepConnect(ctx context.Context, a *actorRun, st *scenarios.Step, p *scenarios.Params) error {
	c, key, err := a.imapConnect(ctx)
	if err != nil {
		return err
	}
	if _, err := c.Capability().Wait(); err != nil {
		c.Close()
		return err
	}
	a.imapClose(c, key)
	a.record("imap.connect", "success", scenarios.TruthRecord{})
	return nil
}

func stepLogout(ctx context.Context, a *actorRun, st *scenarios.Step, p *scenarios.Params) error {
	a.logout()
	return nil
}

func (a *actorRun) sprayTargets(n int) []string {
	var users []string
	for _, acc := range a.r.target.Accounts() {
		if acc.Kind == "person" {
			users = append(users, acc.Address)
		}
	}
	// A deterministic shuffle, like an attacker's harvested list.
	a.rng.Shuffle(len(users), func(i, j int) { users[i], users[j] = users[j], users[i] })
	if n > 0 && n < len(users) {
		users = users[:n]
	}
	return users
}

// tryPassword attempts one login over IMAP or SMTP.
func (a *actorRun) tryPassword(ctx context.Context, service, user, pass string) (bool, error) {
	if service == "smtp" {
		c, key, _, err := a.smtpSession(ctx, cred{user, pass})
		if err != nil {
			return false, err
		}
		err = c.Auth(sasl.NewPlainClient("", user, pass))
		a.smtpClose(c, key)
		ok := err == nil
		a.record("smtp.auth", outcome(ok), scenarios.TruthRecord{User: user})
		return ok, nil
	}
	c, key, err := a.imapConnect(ctx)
	if err != nil {
		return false, err
	}
	err = c.Login(user, pass).Wait()
	a.imapClose(c, key)
	ok := err == nil
	a.record("imap.login", outcome(ok), scenarios.TruthRecord{User: user})
	return ok, nil
}

func outcome(ok bool) string {
	if ok {
		return "success"
	}
	return "failure"
}

func stepSpray(ctx context.Context, a *actorRun, st *scenarios.Step, p *scenarios.Params) error {
	pws := p.Passwords
	if len(pws) == 0 {
		common := target.CommonPasswords()
		pws = common[:min(3, len(common))]
	}
	users := a.sprayTargets(p.Users)
	delay := defDelay(p, 15*time.Second)
	first := true
	for _, pw := range pws {
		for _, u := range users {
			if !first {
				if err := a.tick(ctx, delay); err != nil {
					return err
				}
			}
			first = false
			ok, err := a.tryPassword(ctx, p.Service, u, pw)
			if err != nil {
				return err
			}
			if ok {
				a.found = append(a.found, cred{u, pw})
				a.r.note(Note{Time: a.now, Actor: a.name, Kind: "info", Text: "valid password found for " + u})
				if p.StopOnSuccess {
					return nil
				}
			}
		}
	}
	return nil
}

func stepBrute(ctx context.Context, a *actorRun, st *scenarios.Step, p *scenarios.Params) error {
	acc, err := a.account(p.User)
	if err != nil {
		return err
	}
	pws := append([]string(nil), p.Passwords...)
	if len(pws) == 0 {
		common := target.CommonPasswords()
		pws = append(pws, common...)
		for i := 0; len(pws) < 200; i++ {
			pws = append(pws, fmt.Sprintf("%s%d!", common[i%len(common)], 2020+i))
		}
	}
	attempts := p.Attempts
	if attempts == 0 {
		attempts = 30
	}
	if attempts > len(pws) {
		attempts = len(pws)
	}
	// The real password is "found" at the end, like a successful crack.
	pws = append(pws[:attempts-1], acc.Password)
	delay := defDelay(p, 5*time.Second)
	for i, pw := range pws {
		if i > 0 {
			if err := a.tick(ctx, delay); err != nil {
				return err
			}
		}
		ok, err := a.tryPassword(ctx, p.Service, acc.Address, pw)
		if err != nil {
			return err
		}
		if ok {
			a.found = append([]cred{{acc.Address, pw}}, a.found...)
			return nil
		}
	}
	return nil
}
