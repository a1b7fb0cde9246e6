// Package throttle is mailsim's optional authentication throttling, modelled
// on Dovecot's auth_failure_delay and per-source / per-account failure
// limits. It is off unless configured, and it counts on the scenario clock,
// so a virtual-clock run throttles in scenario time exactly as a wall-clock
// one does in real time.
//
// A nil *Limiter is valid and never throttles.
package throttle

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/maildrill/maildrill/mailsim/clock"
)

// Config sets the throttle. The zero value is off.
type Config struct {
	// FailureDelay delays the reply to a failed authentication, as
	// Dovecot's auth_failure_delay (Dovecot's default is 2s). Zero: none.
	FailureDelay time.Duration
	// MaxFailuresPerSource is how many failures one source address may
	// have within Window before its further attempts are refused without
	// checking the password. Zero: no limit.
	MaxFailuresPerSource int
	// MaxFailuresPerAccount is the same limit per account name (the name
	// as typed, case-folded). Zero: no limit.
	MaxFailuresPerAccount int
	// Window is how long a failure counts (scenario time). Default 15m.
	Window time.Duration
}

// Enabled reports whether c throttles anything.
func (c Config) Enabled() bool {
	return c.FailureDelay > 0 || c.MaxFailuresPerSource > 0 || c.MaxFailuresPerAccount > 0
}

// Refusal reasons, as recorded in audit events' event.reason.
const (
	ReasonSourceLocked  = "throttled_source"
	ReasonAccountLocked = "throttled_account"
)

// Limiter counts authentication failures per source and per account.
type Limiter struct {
	cfg   Config
	clock clock.Clock

	mu      sync.Mutex
	source  map[string][]time.Time
	account map[string][]time.Time
}

// New returns a limiter, or nil when cfg is off.
func New(cfg Config, c clock.Clock) *Limiter {
	if !cfg.Enabled() {
		return nil
	}
	if cfg.Window <= 0 {
		cfg.Window = 15 * time.Minute
	}
	if c == nil {
		c = clock.Real{}
	}
	return &Limiter{cfg: cfg, clock: c, source: map[string][]time.Time{}, account: map[string][]time.Time{}}
}

// Config returns the limiter's configuration (zero for nil).
func (l *Limiter) Config() Config {
	if l == nil {
		return Config{}
	}
	return l.cfg
}

// Check tells whether an attempt from ip for user may be checked at all. It
// returns "" when allowed, else ReasonSourceLocked or ReasonAccountLocked.
// A refused attempt is itself counted as a failure.
func (l *Limiter) Check(ip, user string) string {
	if l == nil {
		return ""
	}
	now := l.clock.Now()
	user = strings.ToLower(user)
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.cfg.MaxFailuresPerSource; n > 0 && ip != "" && l.count(l.source, ip, now) >= n {
		return ReasonSourceLocked
	}
	if n := l.cfg.MaxFailuresPerAccount; n > 0 && user != "" && l.count(l.account, user, now) >= n {
		return ReasonAccountLocked
	}
	return ""
}

// Failure records a failed attempt and returns the delay to apply before
// the failure reply.
func (l *Limiter) Failure(ip, user string) time.Duration {
	if l == nil {
		return 0
	}
	now := l.clock.Now()
	user = strings.ToLower(user)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cfg.MaxFailuresPerSource > 0 && ip != "" {
		l.source[ip] = append(prune(l.source[ip], now.Add(-l.cfg.Window)), now)
	}
	if l.cfg.MaxFailuresPerAccount > 0 && user != "" {
		l.account[user] = append(prune(l.account[user], now.Add(-l.cfg.Window)), now)
	}
	return l.cfg.FailureDelay
}

// Success records a successful login: the source's and account's failure
// counts are cleared, as Dovecot does.
func (l *Limiter) Success(ip, user string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.source, ip)
	delete(l.account, strings.ToLower(user))
}

func (l *Limiter) count(m map[string][]time.Time, k string, now time.Time) int {
	ts := prune(m[k], now.Add(-l.cfg.Window))
	if len(ts) == 0 {
		delete(m, k)
	} else {
		m[k] = ts
	}
	return len(ts)
}

func prune(ts []time.Time, after time.Time) []time.Time {
	i := 0
	for i < len(ts) && !ts[i].After(after) {
		i++
	}
	return ts[i:]
}

// Sleep waits d of scenario time on c, or until ctx ends: d on the wall
// clock, d/factor on a scaled clock, and nothing on a virtual clock (only
// its runner moves it, so a server cannot wait on it; the delay is then
// recorded but not waited).
func Sleep(ctx context.Context, c clock.Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	switch c := c.(type) {
	case *clock.Virtual:
		return ctx.Err()
	case *clock.Scaled:
		d = time.Duration(float64(d) / c.Factor())
	case *clock.Controlled:
		d = time.Duration(float64(d) / c.Factor())
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
