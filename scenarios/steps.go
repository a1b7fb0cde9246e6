package scenarios

import (
	"sort"
	"strings"
	"time"
)

// Params holds the parameters of any step kind; each kind accepts a subset
// of the keys (see StepKinds).
type Params struct {
	Mailbox        string
	Pattern        string
	User           string
	Users          int
	Passwords      []string
	Attempts       int
	Delay          time.Duration
	Service        string
	StopOnSuccess  bool
	Text           []string
	From           string
	Since, Before  time.Time
	HasAttachment  bool
	FromSearch     bool
	Types          []string
	MinSize        int64
	MaxSize        int64
	Name           string
	Limit          int
	Scope          string
	Download       string
	Seen           bool
	Expunge        bool
	To             []string
	Subject, Body  string
	Attach         bool
	MaxAttachments int
	Duration       time.Duration
	Times          int
	Over           string
	Steps          []*Step
}

type stepParams interface {
	children() []*Step
}

type kindStep struct {
	kind *StepKind
	p    Params
}

func (k *kindStep) children() []*Step { return k.p.Steps }

// StepKind is a registered step kind: its name, what it does, the
// parameters it accepts and an example, for the parser, the schema and the
// catalogue. What a kind does when run is scenarios/run's.
type StepKind struct {
	Name    string
	Summary string
	Keys    []string // accepted parameter keys
	Scalar  string   // a scalar value sets this key ("wait: 30m")
	Example string
}

var registry = func() map[string]*StepKind {
	m := map[string]*StepKind{}
	for _, k := range stepKinds {
		m[k.Name] = k
	}
	return m
}()

// StepKinds lists the registered step kinds, sorted.
func StepKinds() []*StepKind {
	var out []*StepKind
	for _, k := range registry {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Params are the step's parameters, as parsed.
func (st *Step) Params() *Params { return &st.params.(*kindStep).p }

// Line is the line of the step in its file.
func (st *Step) Line() int { return st.line }

func kindNames() []string {
	var out []string
	for _, k := range StepKinds() {
		out = append(out, k.Name)
	}
	return out
}

func (d *decoder) steps(n *ynode) []*Step {
	var out []*Step
	for _, it := range n.items {
		if st := d.step(it); st != nil {
			out = append(out, st)
		}
	}
	return out
}

func (d *decoder) step(n *ynode) *Step {
	st := &Step{line: n.line, col: n.col}
	var kindKey string
	var pn *ynode
	switch n.kind {
	case nScalar:
		kindKey = n.str
	case nMap:
		for i, k := range n.keys {
			switch k {
			case "id":
				st.ID = d.str(n.vals[i], "step id")
				if st.ID != "" && !idRe.MatchString(st.ID) {
					d.errf(n.vals[i], "use lower-case letters, digits, - and _", "step id %q is not a valid identifier", st.ID)
				}
			case "at":
				st.At = d.at(n.vals[i])
			default:
				if kindKey != "" {
					d.errf(&ynode{line: n.kpos[i].Line, col: n.kpos[i].Column}, "a step has one kind, plus optional id and at; put further steps in their own list items", "step has two kinds: %q and %q", kindKey, k)
					continue
				}
				kindKey, pn = k, n.vals[i]
				n = &ynode{kind: nMap, line: n.kpos[i].Line, col: n.kpos[i].Column, keys: n.keys, vals: n.vals, kpos: n.kpos}
			}
		}
	default:
		d.errf(n, "", "a step is a mapping such as {login: {}} or a word such as logout, got %s", n)
		return nil
	}
	kind, ok := registry[kindKey]
	if !ok {
		where := n
		if kindKey == "" {
			d.errf(where, "known kinds: "+strings.Join(kindNames(), ", "), "step has no kind")
			return nil
		}
		hint := suggest(kindKey, kindNames())
		if !strings.HasPrefix(hint, "known") {
			hint += "; known kinds: " + strings.Join(kindNames(), ", ")
		}
		d.errf(where, hint, "unknown step kind %q", kindKey)
		return nil
	}
	st.Kind = kind.Name
	p := Params{Delay: -1, Limit: -1}
	if pn != nil && pn.kind == nScalar {
		if kind.Scalar == "" {
			d.errf(pn, "give a mapping of parameters: "+strings.Join(kind.Keys, ", "), "%s takes a mapping, not %s", kind.Name, pn)
		} else {
			pn = &ynode{kind: nMap, line: pn.line, col: pn.col, keys: []string{kind.Scalar}, vals: []*ynode{pn}, kpos: nil}
			pn.kpos = append(pn.kpos, tokenPos(pn.line, pn.col))
		}
	}
	before := len(d.errs)
	if pn != nil && pn.kind == nMap {
		st.vals = map[string]*ynode{}
		for i, k := range pn.keys {
			st.vals[k] = pn.vals[i]
		}
	}
	if pn != nil && pn.kind != nNull {
		get, _ := d.fields(pn, kind.Name, kind.Keys...)
		d.stepParams(&p, get, kind)
	}
	if len(d.errs) == before { // one message per problem
		d.requireParams(st, &p, kind, pn)
	}
	st.params = &kindStep{kind: kind, p: p}
	return st
}

func (d *decoder) stepParams(p *Params, get func(string) (*ynode, bool), kind *StepKind) {
	for _, key := range kind.Keys {
		v, ok := get(key)
		if !ok {
			continue
		}
		what := kind.Name + " " + key
		switch key {
		case "mailbox":
			p.Mailbox = d.str(v, what)
		case "pattern":
			p.Pattern = d.str(v, what)
		case "user":
			p.User = d.str(v, what)
		case "users":
			if v.kind == nScalar && v.str == "all" {
				p.Users = -1
			} else {
				p.Users = int(d.integer(v, what, 1, 100000))
			}
		case "passwords":
			if v.kind == nScalar && v.str == "common" {
				p.Passwords = nil
			} else {
				p.Passwords = d.strList(v, what)
			}
		case "attempts":
			p.Attempts = int(d.integer(v, what, 1, 100000))
		case "delay":
			p.Delay = d.duration(v, what)
		case "service":
			p.Service = d.str(v, what)
			if !contains([]string{"imap", "smtp"}, p.Service) {
				d.errf(v, suggest(p.Service, []string{"imap", "smtp"}), "%s: unknown service %q", what, p.Service)
			}
		case "stop_on_success":
			p.StopOnSuccess = d.boolean(v, what)
		case "text", "keywords":
			p.Text = append(p.Text, d.strList(v, what)...)
		case "from":
			p.From = d.str(v, what)
		case "since", "before":
			t, err := time.Parse("2006-01-02", d.str(v, what))
			if err != nil {
				d.errf(v, "a date such as 2025-11-01", "%s: %q is not a date", what, v.str)
			}
			if key == "since" {
				p.Since = t
			} else {
				p.Before = t
			}
		case "has_attachment":
			p.HasAttachment = d.boolean(v, what)
		case "from_search":
			p.FromSearch = d.boolean(v, what)
		case "types":
			for _, t := range d.strList(v, what) {
				p.Types = append(p.Types, strings.TrimPrefix(strings.ToLower(t), "."))
			}
		case "min_size":
			p.MinSize = d.size(v, what)
		case "max_size":
			p.MaxSize = d.size(v, what)
		case "name":
			p.Name = d.str(v, what)
		case "limit":
			p.Limit = int(d.integer(v, what, 0, 1<<30))
		case "scope":
			p.Scope = d.str(v, what)
			if !contains([]string{"delegated", "shared", "all"}, p.Scope) {
				d.errf(v, suggest(p.Scope, []string{"delegated", "shared", "all"}), "%s: unknown scope %q", what, p.Scope)
			}
		case "download":
			p.Download = d.str(v, what)
			if !contains([]string{"attachments", "messages", "none"}, p.Download) {
				d.errf(v, suggest(p.Download, []string{"attachments", "messages", "none"}), "%s: unknown value %q", what, p.Download)
			}
		case "seen":
			p.Seen = d.boolean(v, what)
		case "expunge":
			p.Expunge = d.boolean(v, what)
		case "to":
			p.To = d.strList(v, what)
			for i, t := range p.To {
				if !strings.Contains(t, "@") {
					d.errf(itemOr(v, i), "a mail address", "%s: %q is not an address", what, t)
				}
			}
		case "subject":
			p.Subject = d.str(v, what)
		case "body":
			p.Body = d.str(v, what)
		case "attach":
			p.Attach = d.str(v, what) == "downloaded" || d.str(v, what) == "true"
			if v.str != "downloaded" && v.str != "true" && v.str != "none" && v.str != "false" {
				d.errf(v, "downloaded or none", "%s: unknown value %q", what, v.str)
			}
		case "max_attachments":
			p.MaxAttachments = int(d.integer(v, what, 1, 10000))
		case "duration":
			p.Duration = d.duration(v, what)
		case "times":
			p.Times = int(d.integer(v, what, 1, 100000))
		case "over":
			p.Over = d.str(v, what)
			if !contains([]string{"mailboxes", "others"}, p.Over) {
				d.errf(v, suggest(p.Over, []string{"mailboxes", "others"}), "%s: unknown value %q", what, p.Over)
			}
		case "steps":
			if v.kind != nSeq || len(v.items) == 0 {
				d.errf(v, "", "%s must be a non-empty list of steps", what)
			} else {
				p.Steps = d.steps(v)
			}
		default:
			panic("scenarios: registry key without decoder: " + key)
		}
	}
}

func (d *decoder) requireParams(st *Step, p *Params, kind *StepKind, pn *ynode) {
	n := &ynode{line: st.line, col: st.col}
	switch kind.Name {
	case "send", "forward":
		if len(p.To) == 0 {
			d.errf(n, "add to: [someone@outside.example]", "%s needs recipients (to)", kind.Name)
		}
	case "move":
		if p.Name == "" {
			d.errf(n, "add name: Trash (the destination mailbox)", "move needs a destination (name)")
		}
	case "repeat":
		if p.Times == 0 || len(p.Steps) == 0 {
			d.errf(n, "e.g. repeat: {times: 3, steps: [...]}", "repeat needs times and steps")
		}
	case "foreach":
		if p.Over == "" || len(p.Steps) == 0 {
			d.errf(n, "e.g. foreach: {over: mailboxes, steps: [...]}", "foreach needs over and steps")
		}
	case "wait", "idle":
		if p.Duration <= 0 {
			d.errf(n, "e.g. wait: 30m", "%s needs a positive duration", kind.Name)
		}
	case "brute_force":
		if p.User == "" {
			d.errf(n, "add user: director (an address, local part or role)", "brute_force needs a user")
		}
	case "append":
		if p.Mailbox == "" {
			d.errf(n, "add mailbox: Drafts", "append needs a mailbox")
		}
	}
}

// Describe renders a human summary of a step, for timelines.
func (st *Step) Describe() string {
	ks := st.params.(*kindStep)
	p := ks.p
	var parts []string
	if p.Mailbox != "" {
		parts = append(parts, p.Mailbox)
	}
	if len(p.Text) > 0 {
		parts = append(parts, strings.Join(p.Text, "|"))
	}
	if len(p.To) > 0 {
		parts = append(parts, "to "+strings.Join(p.To, ","))
	}
	s := st.Kind
	if st.ID != "" {
		s = st.ID + " (" + st.Kind + ")"
	}
	if len(parts) > 0 {
		s += ": " + strings.Join(parts, " ")
	}
	return s
}

// WithMailbox returns st, or a copy of it whose mailbox is mb when its
// kind takes a mailbox and it names none (foreach over mailboxes).
func (st *Step) WithMailbox(mb string) *Step {
	ks := *st.params.(*kindStep)
	if !contains(ks.kind.Keys, "mailbox") || ks.p.Mailbox != "" {
		return st
	}
	ks.p.Mailbox = mb
	cp := *st
	cp.params = &ks
	return &cp
}
