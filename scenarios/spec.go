// Package scenarios is maildrill's scenario language: a YAML description
// of attacker and staff sessions, validated with file:line:col errors, and
// the judging of a run's recording (ground truth, audit trail, the
// detection rules' alerts) against the scenario's expectations. Running a
// scenario against a mail system on a controlled clock is scenarios/run's.
package scenarios

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/maildrill/maildrill/detectors/yamlsafe"
	"github.com/maildrill/maildrill/mailsim/clock"
	"github.com/maildrill/maildrill/mailsim/throttle"
)

// Scenario is a parsed, validated scenario.
type Scenario struct {
	File string
	// SHA256 is the sha256, in hex, of the scenario file's bytes as parsed:
	// its version in recording headers.
	SHA256      string
	ID          string
	Title       string
	Description string
	Narrative   string
	Attack      []string // ATT&CK technique ids
	Env         Environment
	Actors      []*Actor
	Expect      []*Expectation
	// Noise bounds the alerts no expectation covers (nil: unbounded).
	Noise *NoiseBudget
	// Injects are an exercise's story for the players (see Inject).
	Injects []*Inject
}

// Environment is where and when the scenario runs.
type Environment struct {
	Seed     int64
	Users    int
	Messages int
	Target   string // embedded (default)
	Start    time.Time
	Clock    string  // virtual (default), scaled, real
	Speed    float64 // scaled: scenario seconds per wall second
	Duration time.Duration
	Location *time.Location
	// AllowPlaintext lets the servers accept authentication without TLS.
	AllowPlaintext bool
	// Throttle makes the mail system throttle authentication (failure
	// delay, per-source and per-account failure limits) on the scenario
	// clock, as a production server does. Off unless set.
	Throttle throttle.Config
}

// Actor is an attacker, an insider, or a staff population.
type Actor struct {
	ID     string
	Kind   string         // attacker, insider, staff
	Source []netip.Prefix // addresses the actor's connections come from
	Client ClientID
	Helo   string
	Creds  Credentials
	Pacing Pacing
	Budget Budget
	TLS    bool // connect with implicit TLS (default true)
	Steps  []*Step
	Staff  *StaffModel
	line   int
	col    int
	// where credentials.user and each listed user are written, for the
	// errors of ResolveOrg
	userAt *ynode
	listAt []*ynode
}

// ClientID is what the actor's IMAP client says in ID.
type ClientID struct{ Name, Version string }

// Credentials say how the actor logs in.
type Credentials struct {
	User      string       // an address, a local part, or a role: director, secretariat, ...
	Password  string       // "" = the account's real password (stolen credentials)
	FromSpray bool         // use what a spray or brute-force step found
	List      []ListedCred // a stolen list: tried in order until one works
}

// ListedCred is one entry of a stolen credential list.
type ListedCred struct{ User, Password string }

// Pacing spaces the actor's actions.
type Pacing struct {
	Delay  time.Duration // between actions (default 2s)
	Jitter float64       // ± fraction of Delay
}

// Budget are stop conditions for the actor.
type Budget struct {
	Bytes    int64
	Messages int
	Until    time.Duration // offset from scenario start
}

// Step is one instruction of an actor.
type Step struct {
	ID     string
	Kind   string
	At     *At // when to start (nil: right after the previous step)
	params stepParams
	line   int
	col    int
	// vals are the parameters' value nodes by key, for the positions of
	// ResolveOrg's errors
	vals map[string]*ynode
}

// At is a step's start: an offset from the scenario start, or a wall-clock
// time of day (the next one at or after the actor's current time).
type At struct {
	Offset    time.Duration
	TimeOfDay time.Duration
	IsClock   bool
}

// Expectation is what a rule should do (evaluated into verdicts).
type Expectation struct {
	Rule     string // rule id, name, or title (glob)
	Anchor   string // step id; "" = scenario start
	Edge     string // start (default) or end of the anchor step
	MinDelay time.Duration
	MaxDelay time.Duration
	MinCount int
	MaxCount int // 0 = no maximum
	Group    map[string]string
	NotFire  bool          // must not fire
	From, To time.Duration // must-not-fire period, offsets from start (To 0 = end)
	// BlindOn lists the telemetry (TelemetryNames) that cannot see the
	// technique: on a run with one of them, a missing alert is BLIND, not
	// MISSED.
	BlindOn []string
	line    int
	col     int
	// where the anchor step is named (after:), else the expectation
	anchorAt *ynode
	// where the rule name and each group key are written, for the errors
	// of Resolve
	rulePos  [2]int
	groupPos map[string][2]int
}

// MinStart and MaxStart bound a scenario's start (MaxStart excluded):
// mail and document dates (ZIP's DOS times begin in 1980), and event
// times as nanoseconds since 1970 in an int64 (which ends in April 2262:
// a scenario in 2999 saw its alerts stamped 1830).
var (
	MinStart = time.Date(1980, 1, 2, 0, 0, 0, 0, time.UTC)
	MaxStart = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

var idRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// ParseFile reads and validates a scenario file, within the default Limits.
func ParseFile(path string) (*Scenario, error) {
	return ParseFileLimits(path, Limits{})
}

// ParseFileLimits is ParseFile within lim: a file larger than lim.YAML's
// size is refused before it is read whole.
func ParseFileLimits(path string, lim Limits) (*Scenario, error) {
	data, err := yamlsafe.ReadFile(path, lim.YAML)
	if err != nil {
		var le *yamlsafe.Error
		if errors.As(err, &le) {
			return nil, Errors{{File: path, Msg: le.Msg}}
		}
		return nil, err
	}
	return ParseLimits(path, data, lim)
}

// Parse validates a scenario, within the default Limits. On failure the
// error is Errors: every problem at once, each with file:line:col, what is
// wrong and a hint.
func Parse(file string, data []byte) (*Scenario, error) {
	return ParseLimits(file, data, Limits{})
}

// ParseLimits is Parse within lim: YAML size, depth and aliases, and the
// actions the steps expand to.
func ParseLimits(file string, data []byte, lim Limits) (*Scenario, error) {
	d := &decoder{file: file}
	root, err := parseYAML(data, lim.YAML)
	if err != nil {
		return nil, yamlSyntaxError(file, err)
	}
	sum := sha256.Sum256(data)
	s := &Scenario{File: file, SHA256: hex.EncodeToString(sum[:])}
	get, ok := d.fields(root, "the scenario", "id", "title", "description", "narrative", "attack", "environment", "actors", "expect", "noise", "injects")
	if !ok || root.kind == nNull {
		if root.kind == nNull {
			d.errf(root, "start from a library scenario: maildrill show ministry-overnight", "the scenario is empty")
		}
		return nil, d.sorted()
	}
	idn, ok := get("id")
	s.ID = d.str(idn, "id")
	if !ok {
		d.errf(root, "add e.g. id: my-scenario", "missing id")
	} else if s.ID != "" && !idRe.MatchString(s.ID) {
		d.errf(idn, "use lower-case letters, digits, - and _", "id %q is not a valid identifier", s.ID)
	}
	n, _ := get("title")
	s.Title = d.str(n, "title")
	if s.Title == "" {
		d.errf(root, "", "missing title")
	}
	n, _ = get("description")
	s.Description = d.str(n, "description")
	n, _ = get("narrative")
	s.Narrative = d.str(n, "narrative")
	n, _ = get("attack")
	s.Attack = d.strList(n, "attack")
	for i, t := range s.Attack {
		if !regexp.MustCompile(`^T\d{4}(\.\d{3})?$`).MatchString(t) {
			d.errf(itemOr(n, i), "ATT&CK technique ids look like T1110.003", "attack: %q is not a technique id", t)
		}
	}
	n, _ = get("environment")
	s.Env = d.environment(n)
	an, ok := get("actors")
	if !ok || an.kind != nSeq || len(an.items) == 0 {
		d.errf(orNode(an, root), "", "actors must be a non-empty list")
	} else {
		ids := map[string]bool{}
		for _, a := range an.items {
			act := d.actor(a, s.Env)
			if act == nil {
				continue
			}
			if ids[act.ID] {
				d.errf(a, "", "duplicate actor id %q", act.ID)
			}
			ids[act.ID] = true
			s.Actors = append(s.Actors, act)
		}
	}
	if en, ok := get("expect"); ok {
		s.Expect = d.expectations(en)
	}
	if nn, ok := get("noise"); ok {
		s.Noise = d.noise(nn)
	}
	if in, ok := get("injects"); ok {
		s.Injects = d.injects(in)
	}
	d.crossCheck(s)
	if len(d.errs) == 0 { // the steps are well formed: count them
		d.bounds(s, lim)
	}
	if len(d.errs) > 0 {
		return nil, d.sorted()
	}
	return s, nil
}

func itemOr(n *ynode, i int) *ynode {
	if n != nil && n.kind == nSeq && i < len(n.items) {
		return n.items[i]
	}
	return n
}

func orNode(n, fallback *ynode) *ynode {
	if n != nil {
		return n
	}
	return fallback
}

var lineColRe = regexp.MustCompile(`\[(\d+):(\d+)\]\s*(.*)`)

func yamlSyntaxError(file string, err error) error {
	var le *yamlsafe.Error
	if errors.As(err, &le) {
		return Errors{{File: file, Line: le.Line, Col: le.Col, Msg: le.Msg}}
	}
	var te *yamlsafe.TreeError
	if errors.As(err, &te) {
		return Errors{{File: file, Line: te.Pos.Line, Col: te.Pos.Col, Msg: te.Msg}}
	}
	msg := err.Error()
	if m := lineColRe.FindStringSubmatch(msg); m != nil {
		var l, c int
		fmt.Sscan(m[1], &l)
		fmt.Sscan(m[2], &c)
		first := strings.SplitN(m[3], "\n", 2)[0]
		return Errors{{File: file, Line: l, Col: c, Msg: "YAML syntax: " + first}}
	}
	if m := regexp.MustCompile(`^(\d+):(\d+): (.*)`).FindStringSubmatch(msg); m != nil {
		var l, c int
		fmt.Sscan(m[1], &l)
		fmt.Sscan(m[2], &c)
		return Errors{{File: file, Line: l, Col: c, Msg: m[3]}}
	}
	return Errors{{File: file, Line: 1, Col: 1, Msg: "YAML syntax: " + strings.SplitN(msg, "\n", 2)[0]}}
}

func (d *decoder) environment(n *ynode) Environment {
	env := Environment{Seed: 1, Users: 40, Messages: 150, Target: "embedded", Clock: "virtual", Speed: 1,
		Start: time.Date(2025, 12, 11, 8, 0, 0, 0, time.FixedZone("CET", 3600)), Duration: 24 * time.Hour}
	get, _ := d.fields(n, "environment", "seed", "users", "messages", "target", "start", "timezone", "clock", "speed", "duration", "allow_plaintext_auth", "auth_throttling")
	if v, ok := get("seed"); ok {
		env.Seed = d.integer(v, "seed", 0, 1<<62)
	}
	if v, ok := get("users"); ok {
		env.Users = int(d.integer(v, "users", 5, 10000))
	}
	if v, ok := get("messages"); ok {
		env.Messages = int(d.integer(v, "messages", 0, 10000))
	}
	if v, ok := get("target"); ok {
		env.Target = d.str(v, "target")
		if env.Target != "embedded" && env.Target != "docker" && env.Target != "dovecot" {
			d.errf(v, suggest(env.Target, []string{"embedded", "docker", "dovecot"}), "unknown target %q", env.Target)
		}
	}
	loc := time.Local
	if v, ok := get("timezone"); ok {
		name := d.str(v, "timezone")
		l, err := time.LoadLocation(name)
		switch {
		case name == "" || name == "Local":
			// "" reads as UTC and Local as the zone of whichever machine
			// runs the scenario: neither says what the author meant.
			d.errf(v, "an IANA name such as Europe/Paris, or UTC", "timezone %q: name the zone, so that the scenario runs the same everywhere", v.str)
		case err != nil:
			d.errf(v, "an IANA name such as Europe/Paris", "unknown time zone %q", v.str)
		default:
			loc = l
		}
	}
	env.Location = loc
	if v, ok := get("start"); ok {
		t, err := time.Parse(time.RFC3339, d.str(v, "start"))
		switch {
		case err != nil:
			d.errf(v, "RFC 3339 with an offset, e.g. 2025-12-11T23:40:00+01:00", "start: %q is not a time", v.str)
		case t.Before(MinStart) || !t.Before(MaxStart):
			// Year 1 read as "no time" and ran nothing; certificates cannot
			// be dated past 9999.
			d.errf(v, "", "start: %s is out of range: from %s to the end of %d", v.str, MinStart.Format(time.DateOnly), MaxStart.Year()-1)
		default:
			env.Start = t
		}
	}
	if _, ok := get("timezone"); ok {
		env.Start = env.Start.In(loc)
	} else {
		env.Location = env.Start.Location()
	}
	if v, ok := get("clock"); ok {
		env.Clock = d.str(v, "clock")
		if env.Clock != "virtual" && env.Clock != "scaled" && env.Clock != "real" {
			d.errf(v, suggest(env.Clock, []string{"virtual", "scaled", "real"}), "unknown clock mode %q", env.Clock)
		}
	}
	if v, ok := get("speed"); ok {
		env.Speed = d.float(v, "speed", clock.MinFactor, clock.MaxFactor)
	}
	if v, ok := get("duration"); ok {
		before := len(d.errs)
		env.Duration = d.duration(v, "duration")
		if len(d.errs) == before && (env.Duration <= 0 || env.Duration > 31*24*time.Hour) {
			d.errf(v, "", "duration must be between 1s and 31d")
		}
	}
	if v, ok := get("allow_plaintext_auth"); ok {
		env.AllowPlaintext = d.boolean(v, "allow_plaintext_auth")
	}
	if v, ok := get("auth_throttling"); ok {
		env.Throttle = d.authThrottling(v)
	}
	return env
}

// authThrottling reads environment.auth_throttling.
func (d *decoder) authThrottling(n *ynode) throttle.Config {
	var t throttle.Config
	get, ok := d.fields(n, "auth_throttling", "failure_delay", "max_failures_per_source", "max_failures_per_account", "window")
	if !ok {
		return t
	}
	if v, ok := get("failure_delay"); ok {
		before := len(d.errs)
		t.FailureDelay = d.duration(v, "failure_delay")
		if len(d.errs) == before && (t.FailureDelay < 0 || t.FailureDelay > time.Hour) {
			d.errf(v, "Dovecot's default is 2s", "failure_delay must be between 0s and 1h")
		}
	}
	if v, ok := get("max_failures_per_source"); ok {
		t.MaxFailuresPerSource = int(d.integer(v, "max_failures_per_source", 1, 1_000_000))
	}
	if v, ok := get("max_failures_per_account"); ok {
		t.MaxFailuresPerAccount = int(d.integer(v, "max_failures_per_account", 1, 1_000_000))
	}
	if v, ok := get("window"); ok {
		before := len(d.errs)
		t.Window = d.duration(v, "window")
		if len(d.errs) == before && (t.Window <= 0 || t.Window > 31*24*time.Hour) {
			d.errf(v, "", "window must be between 1s and 31d")
		}
	}
	if !t.Enabled() {
		d.errf(n, "set failure_delay, max_failures_per_source or max_failures_per_account", "auth_throttling throttles nothing")
	}
	return t
}

func (d *decoder) actor(n *ynode, env Environment) *Actor {
	get, ok := d.fields(n, "an actor", "id", "kind", "source", "client", "helo", "credentials", "pacing", "budget", "tls", "steps", "staff")
	if !ok {
		return nil
	}
	a := &Actor{line: n.line, col: n.col, TLS: true, Pacing: Pacing{Delay: 2 * time.Second, Jitter: 0.3}}
	v, ok := get("id")
	a.ID = d.str(v, "actor id")
	if !ok || a.ID == "" {
		d.errf(n, "add e.g. id: attacker", "actor without id")
	} else if !idRe.MatchString(a.ID) {
		d.errf(v, "use lower-case letters, digits, - and _", "actor id %q is not a valid identifier", a.ID)
	}
	v, ok = get("kind")
	a.Kind = d.str(v, "kind")
	kinds := []string{"attacker", "insider", "staff"}
	if !ok {
		d.errf(n, "one of "+strings.Join(kinds, ", "), "actor %q has no kind", a.ID)
	} else if !contains(kinds, a.Kind) {
		d.errf(v, suggest(a.Kind, kinds), "unknown actor kind %q", a.Kind)
	}
	if v, ok := get("source"); ok {
		for i, s := range d.strList(v, "source") {
			p, err := parsePrefix(s)
			if err != nil {
				d.errf(itemOr(v, i), "an address (203.0.113.7) or a network (203.0.113.0/24)", "source: %v", err)
				continue
			}
			a.Source = append(a.Source, p)
		}
	}
	if v, ok := get("client"); ok {
		cg, _ := d.fields(v, "client", "name", "version")
		cn, _ := cg("name")
		cv, _ := cg("version")
		a.Client = ClientID{Name: d.str(cn, "client name"), Version: d.str(cv, "client version")}
	}
	if v, ok := get("helo"); ok {
		a.Helo = d.str(v, "helo")
	}
	if v, ok := get("credentials"); ok {
		cg, _ := d.fields(v, "credentials", "user", "password", "from", "list")
		if l, ok := cg("list"); ok {
			if l.kind != nSeq || len(l.items) == 0 {
				d.errf(l, "e.g. list: [{user: a.martin, password: Hiver2025!}]", "credentials list must be a non-empty list")
			} else {
				for _, it := range l.items {
					ig, _ := d.fields(it, "a listed credential", "user", "password")
					u, _ := ig("user")
					p, _ := ig("password")
					a.Creds.List = append(a.Creds.List, ListedCred{User: d.str(u, "user"), Password: d.str(p, "password")})
					a.listAt = append(a.listAt, orNode(u, it))
				}
			}
		}
		u, _ := cg("user")
		p, _ := cg("password")
		a.Creds.User = d.str(u, "user")
		a.userAt = u
		a.Creds.Password = d.str(p, "password")
		if f, ok := cg("from"); ok {
			switch d.str(f, "from") {
			case "spray", "brute_force":
				a.Creds.FromSpray = true
			case "stolen":
			default:
				d.errf(f, "spray, brute_force or stolen", "credentials from %q is unknown", f.str)
			}
		}
	}
	if v, ok := get("pacing"); ok {
		pg, _ := d.fields(v, "pacing", "delay", "jitter")
		if x, ok := pg("delay"); ok {
			a.Pacing.Delay = d.duration(x, "pacing delay")
		}
		if x, ok := pg("jitter"); ok {
			a.Pacing.Jitter = d.float(x, "pacing jitter", 0, 1)
		}
	}
	if v, ok := get("budget"); ok {
		bg, _ := d.fields(v, "budget", "bytes", "messages", "until")
		if x, ok := bg("bytes"); ok {
			a.Budget.Bytes = d.size(x, "budget bytes")
		}
		if x, ok := bg("messages"); ok {
			a.Budget.Messages = int(d.integer(x, "budget messages", 1, 1<<31))
		}
		if x, ok := bg("until"); ok {
			a.Budget.Until = d.duration(x, "budget until")
		}
	}
	if v, ok := get("tls"); ok {
		a.TLS = d.boolean(v, "tls")
	}
	if a.Kind == "staff" {
		sn, _ := get("staff")
		a.Staff = d.staffModel(sn)
		if _, ok := get("steps"); ok {
			d.errf(n, "a staff population follows its working-day model; use an insider actor for scripted steps", "staff actors take no steps")
		}
		if len(a.Source) == 0 {
			a.Source = []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}
		}
		return a
	}
	if _, ok := get("staff"); ok {
		d.errf(n, "", "only staff actors take a staff model")
	}
	if len(a.Source) == 0 {
		if a.Kind == "insider" {
			a.Source = []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}
		} else {
			a.Source = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
		}
	}
	sn, ok := get("steps")
	if !ok || sn.kind != nSeq || len(sn.items) == 0 {
		d.errf(orNode(sn, n), "", "actor %q needs a non-empty list of steps", a.ID)
		return a
	}
	a.Steps = d.steps(sn)
	return a
}

func (d *decoder) size(n *ynode, what string) int64 {
	s := strings.ToUpper(strings.TrimSpace(d.str(n, what)))
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suf) {
			mult = u.m
			s = strings.TrimSpace(strings.TrimSuffix(s, u.suf))
			break
		}
	}
	var v float64
	if _, err := fmt.Sscan(s, &v); err != nil || v < 0 {
		d.errf(n, "e.g. 500MB, 2GB, 40KB", "%s: %q is not a size", what, n.str)
		return 0
	}
	return int64(v * float64(mult))
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("%q is not a network", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func (d *decoder) at(n *ynode) *At {
	s := strings.TrimSpace(d.str(n, "at"))
	if strings.HasPrefix(s, "+") {
		v, err := parseDuration(s[1:])
		if err != nil {
			d.errf(n, `"+15h40m" (after the scenario start) or "23:40" (the next time the clock shows 23:40)`, "at: %v", err)
			return nil
		}
		return &At{Offset: v}
	}
	if t, err := time.Parse("15:04", s); err == nil {
		return &At{TimeOfDay: time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, IsClock: true}
	}
	d.errf(n, `"+15h40m" (after the scenario start) or "23:40" (the next time the clock shows 23:40)`, "at: %q is neither an offset nor a time of day", s)
	return nil
}

func (d *decoder) expectations(n *ynode) []*Expectation {
	if n.kind != nSeq {
		d.errf(n, "", "expect must be a list")
		return nil
	}
	var out []*Expectation
	for _, it := range n.items {
		get, ok := d.fields(it, "an expectation", "rule", "after", "edge", "min_delay", "max_delay", "within", "count", "group", "must_not_fire", "from", "to", "blind_on")
		if !ok {
			continue
		}
		e := &Expectation{line: it.line, col: it.col, Edge: "start", MinCount: 1}
		e.rulePos = [2]int{it.line, it.col}
		if v, ok := get("rule"); ok {
			e.Rule = d.str(v, "rule")
			e.rulePos = [2]int{v.line, v.col}
		}
		if v, ok := get("must_not_fire"); ok {
			e.NotFire = d.boolean(v, "must_not_fire")
		}
		if e.Rule == "" {
			if e.NotFire {
				e.Rule = "*"
			} else {
				d.errf(it, "name a rule by id, name or title", "expectation without rule")
			}
		}
		e.anchorAt = it
		if v, ok := get("after"); ok {
			e.Anchor = d.str(v, "after")
			e.anchorAt = v
		}
		if v, ok := get("edge"); ok {
			e.Edge = d.str(v, "edge")
			if e.Edge != "start" && e.Edge != "end" {
				d.errf(v, "start or end", "edge must be start or end")
			}
		}
		if v, ok := get("min_delay"); ok {
			e.MinDelay = d.duration(v, "min_delay")
		}
		if v, ok := get("max_delay"); ok {
			e.MaxDelay = d.duration(v, "max_delay")
		}
		if v, ok := get("within"); ok {
			e.MaxDelay = d.duration(v, "within")
		}
		if v, ok := get("count"); ok {
			if v.kind == nScalar {
				c := int(d.integer(v, "count", 0, 1<<30))
				e.MinCount, e.MaxCount = c, c
			} else {
				cg, _ := d.fields(v, "count", "min", "max")
				if x, ok := cg("min"); ok {
					e.MinCount = int(d.integer(x, "count min", 0, 1<<30))
				}
				if x, ok := cg("max"); ok {
					e.MaxCount = int(d.integer(x, "count max", 1, 1<<30))
				}
			}
		}
		if v, ok := get("group"); ok {
			gg, _ := d.fields(v, "group", v.keys...)
			e.Group = map[string]string{}
			e.groupPos = map[string][2]int{}
			for i, k := range v.keys {
				e.groupPos[k] = [2]int{v.kpos[i].Line, v.kpos[i].Column}
				x, _ := gg(k)
				e.Group[k] = d.str(x, "group "+k)
				if strings.HasSuffix(k, ".ip") && e.Group[k] != "" {
					// Alerts carry addresses as written by netip: a
					// value that is none could never match.
					if ip, err := netip.ParseAddr(e.Group[k]); err != nil {
						d.errf(x, "an IPv4 or IPv6 address such as 203.0.113.7", "group %s: %q is not an IP address", k, e.Group[k])
					} else if !strings.EqualFold(ip.String(), e.Group[k]) {
						d.errf(x, fmt.Sprintf("write it %s", ip), "group %s: %q is not written as alerts carry it", k, e.Group[k])
					}
				}
			}
		}
		if v, ok := get("from"); ok {
			e.From = d.duration(v, "from")
		}
		if v, ok := get("to"); ok {
			e.To = d.duration(v, "to")
		}
		if v, ok := get("blind_on"); ok {
			e.BlindOn = d.blindOn(v)
			if e.NotFire && len(e.BlindOn) > 0 {
				d.errf(v, "blind_on applies to expectations that a rule fires", "blind_on on a must_not_fire expectation")
			}
		}
		if !e.NotFire && e.MaxDelay == 0 {
			d.errf(it, "add within: 10m (how long the rule may take)", "expectation for %q has no max_delay/within", e.Rule)
		}
		if e.MaxDelay > 0 && e.MinDelay > e.MaxDelay {
			d.errf(it, "", "min_delay %s is after max_delay %s", e.MinDelay, e.MaxDelay)
		}
		out = append(out, e)
	}
	return out
}

// blindOn reads blind_on: a list of telemetry names (TelemetryNames).
func (d *decoder) blindOn(n *ynode) []string {
	if n.kind != nSeq {
		d.errf(n, "e.g. blind_on: [dovecot-stock]", "blind_on must be a list of telemetry names")
		return nil
	}
	var out []string
	for _, it := range n.items {
		name := d.str(it, "blind_on")
		if name == "" {
			continue
		}
		if !slices.Contains(TelemetryNames, name) {
			d.errf(it, suggest(name, TelemetryNames), "blind_on: unknown telemetry %q (known: %s)", name, strings.Join(TelemetryNames, ", "))
			continue
		}
		if slices.Contains(out, name) {
			d.errf(it, "", "blind_on: %q listed twice", name)
			continue
		}
		out = append(out, name)
	}
	return out
}

// noise reads noise: {max_alerts: N, rules: [{rule: R, max_alerts: N}]}.
func (d *decoder) noise(n *ynode) *NoiseBudget {
	get, ok := d.fields(n, "noise", "max_alerts", "rules")
	if !ok || n.kind == nNull {
		return nil
	}
	nb := &NoiseBudget{MaxAlerts: -1, line: n.line, col: n.col}
	if v, ok := get("max_alerts"); ok {
		nb.MaxAlerts = int(d.integer(v, "noise max_alerts", 0, 1<<30))
		nb.line, nb.col = v.line, v.col
	}
	rn, ok := get("rules")
	if ok && rn.kind != nSeq && rn.kind != nNull {
		d.errf(rn, "e.g. rules: [{rule: \"IMAP Login From Tor\", max_alerts: 0}]", "noise rules must be a list")
	} else if ok && rn.kind == nSeq {
		for _, it := range rn.items {
			rg, ok := d.fields(it, "a noise rule", "rule", "max_alerts")
			if !ok {
				continue
			}
			rb := &RuleNoiseBudget{line: it.line, col: it.col, rulePos: [2]int{it.line, it.col}}
			if v, ok := rg("rule"); ok {
				rb.Rule = d.str(v, "noise rule")
				rb.rulePos = [2]int{v.line, v.col}
			}
			if rb.Rule == "" {
				d.errf(it, "name a rule by id, name or title", "noise budget without rule")
			}
			v, ok := rg("max_alerts")
			if !ok {
				d.errf(it, "add max_alerts: 0 (no unexpected alert of this rule)", "noise budget for %q has no max_alerts", rb.Rule)
			}
			rb.MaxAlerts = int(d.integer(v, "noise rule max_alerts", 0, 1<<30))
			nb.Rules = append(nb.Rules, rb)
		}
	}
	if nb.MaxAlerts < 0 && len(nb.Rules) == 0 {
		d.errf(n, "add max_alerts: N (overall) or rules: [{rule: R, max_alerts: N}]", "noise declares no budget")
	}
	return nb
}

// crossCheck validates references between parts.
func (d *decoder) crossCheck(s *Scenario) {
	stepIDs := map[string]bool{}
	var all []string
	for _, a := range s.Actors {
		for _, st := range a.Steps {
			walkSteps(st, func(st *Step) {
				if st.ID == "" {
					return
				}
				if stepIDs[st.ID] {
					d.errf(&ynode{line: st.line, col: st.col}, "step ids are unique across actors", "duplicate step id %q", st.ID)
				}
				stepIDs[st.ID] = true
				all = append(all, st.ID)
			})
		}
	}
	for _, e := range s.Expect {
		if e.Anchor != "" && !stepIDs[e.Anchor] {
			hint := "no step has an id"
			if len(all) > 0 {
				hint = suggest(e.Anchor, all)
			}
			d.errf(e.anchorAt, hint, "expectation anchored after unknown step %q", e.Anchor)
		}
	}
	d.checkInjectSteps(s, stepIDs, all)
}

func walkSteps(st *Step, f func(*Step)) {
	f(st)
	for _, c := range st.params.children() {
		walkSteps(c, f)
	}
}
