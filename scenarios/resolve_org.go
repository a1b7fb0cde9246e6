package scenarios

import (
	"fmt"
	"slices"
	"strings"

	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/target"
)

// ResolveOrg checks the names a scenario gives to things of the
// organisation against the organisation its run will serve: the one
// generated from seed (the environment's, or a --seed override) and the
// environment's users and messages (target.NewOrg). Every target serves
// that same organisation: the embedded one and the docker container run
// mailsim with that configuration, and the dovecot target is seeded with
// a Maildir export of it; so one check holds for all.
//
// Resolved, each at the position of its value:
//
//   - accounts: credentials.user, login and brute_force user: an address,
//     a local part or a role (the first person with it), as a run reads
//     them;
//   - a stolen credentials list: at least one entry must name an account.
//     A list is what an attacker bought or harvested, and wrong or stale
//     entries are legitimate (a failed login is what a rule should see),
//     but a list of which no entry names an account can never log in, and
//     every later step of the actor would fail hours into the run;
//   - mailboxes (mailbox of every step, move's destination name): "@who"
//     and "@who/folder" name an account and one of its folders;
//     Users/<local part>/folder and Shared/<local part>/folder the same; a
//     plain folder must be one of the logged-in account's — when which
//     account that is depends on the run (credentials from a spray, a
//     stolen list), one of the candidates'. No step kind creates a folder
//     or an account (APPEND and MOVE to a missing mailbox fail with
//     TRYCREATE), so every name must exist in the generated organisation;
//   - file types (types:) against the types the organisation's
//     attachments have (target.AttachmentTypes), and eml when the scenario
//     forwards messages (a forward attaches message.eml);
//   - recipients (to:) at the organisation's domain must be accounts;
//     outside addresses are the point of exfiltration and are not checked;
//   - a spray's users: count must not exceed the people of the directory.
//
// Step anchors (after:) are resolved by Parse. Staff actors name nothing:
// their members are drawn from the directory.
//
// On failure the error is Errors, each with the file:line:col of the
// value and the nearest known name as a hint.
func ResolveOrg(sc *Scenario, seed int64) error {
	org, err := target.NewOrg(seed, sc.Env.Users, sc.Env.Messages)
	if err != nil {
		return fmt.Errorf("%s: the organisation of seed %d: %w", sc.File, seed, err)
	}
	return resolveOrg(sc, org, seed)
}

// ResolveRemote checks the names a scenario gives against the test
// accounts of a remote file (target.RemoteOrg), as ResolveOrg checks them
// against a generated organisation; and more: a step that opens another
// account's mailbox (@who/folder, Users/..., Shared/...) needs the
// logged-in account among that mailbox's delegates:, and a folder is
// checked only against an account that declares its folders:. What the
// target lacks fails here, naming the step, not hours into the run.
func ResolveRemote(sc *Scenario, org *target.Org) error {
	return resolveOrg(sc, org, 0)
}

func resolveOrg(sc *Scenario, org *target.Org, seed int64) error {
	o := &orgNames{org: org, accs: org.Accounts(), seed: seed, domain: org.Domain(), where: org.Describe(seed), short: fmt.Sprintf("seed %d", seed),
		types: target.AttachmentTypes(), d: &decoder{file: sc.File}}
	for _, a := range o.accs {
		if a.Kind == "person" {
			o.people = append(o.people, a)
		}
	}
	forwards := false
	for _, a := range sc.Actors {
		for _, st := range a.Steps {
			walkSteps(st, func(st *Step) { forwards = forwards || st.Kind == "forward" })
		}
	}
	if forwards {
		o.types = append(o.types, "eml")
		slices.Sort(o.types)
	}
	for _, a := range sc.Actors {
		o.actor(a)
	}
	if len(o.d.errs) > 0 {
		return o.d.sorted()
	}
	return nil
}

// orgNames resolves names against one generated organisation.
type orgNames struct {
	where  string // "the organisation of seed 7", "the remote file r.yaml"
	short  string
	org    *target.Org
	accs   []account.Account
	people []account.Account
	seed   int64
	domain string
	types  []string
	d      *decoder
}

func (o *orgNames) actor(a *Actor) {
	if a.Kind == "staff" {
		return
	}
	// who the actor is logged in as: one account, or candidates when the
	// run decides (nil: none known yet)
	var cur []account.Account
	if a.Creds.User != "" {
		if acc, ok := o.account(a.userAt, "credentials user", a.Creds.User); ok && !a.Creds.FromSpray && len(a.Creds.List) == 0 {
			cur = []account.Account{acc}
		}
	}
	if len(a.Creds.List) > 0 {
		for _, lc := range a.Creds.List {
			if acc, ok := FindAccount(o.accs, lc.User); ok {
				cur = append(cur, acc)
			}
		}
		if len(cur) == 0 {
			at := a.listAt[0]
			o.d.errf(at, o.accountHint(a.Creds.List[0].User),
				"credentials list: no entry names an account of %s (%s): the actor could never log in; a list may hold wrong users, but one must be right",
				o.where, o.size())
		}
	}
	if a.Creds.FromSpray {
		cur = o.people
	}
	for _, st := range a.Steps {
		walkSteps(st, func(st *Step) { o.step(st, &cur) })
	}
}

func (o *orgNames) step(st *Step, cur *[]account.Account) {
	ks, ok := st.params.(*kindStep)
	if !ok {
		return
	}
	p := &ks.p
	what := st.Kind
	switch st.Kind {
	case "login":
		if p.User != "" {
			if acc, ok := o.account(st.vals["user"], what+" user", p.User); ok {
				*cur = []account.Account{acc}
			}
		}
	case "brute_force":
		o.account(st.vals["user"], what+" user", p.User)
	case "spray":
		if p.Users > len(o.people) {
			o.d.errf(st.vals["users"], fmt.Sprintf("at most %d, or users: all", len(o.people)),
				"spray users: %d, but %s has %d people%s", p.Users, o.where, len(o.people), o.peopleHint())
		}
	}
	if p.Mailbox != "" {
		o.mailbox(st.vals["mailbox"], what+" mailbox", p.Mailbox, *cur)
	}
	if st.Kind == "move" && p.Name != "" {
		o.mailbox(st.vals["name"], what+" name", p.Name, *cur)
	}
	if n := st.vals["types"]; n != nil {
		for i, t := range p.Types {
			if !slices.Contains(o.types, t) {
				hint := "known types: " + strings.Join(o.types, ", ")
				if h := suggest(t, o.types); strings.HasPrefix(h, "did you mean") {
					hint = h + "; " + hint
				}
				o.d.errf(itemOr(n, i), hint, "%s types: no attachment of the organisation's mail is of type %q", what, t)
			}
		}
	}
	if n := st.vals["to"]; n != nil {
		for i, to := range p.To {
			local, dom, _ := strings.Cut(to, "@")
			if !strings.EqualFold(dom, o.domain) {
				continue
			}
			if _, ok := FindAccount(o.accs, strings.ToLower(to)); !ok {
				o.d.errf(itemOr(n, i), o.accountHint(local), "%s to: %q is at the organisation's domain but names no account of %s (%s)", what, to, o.short, o.size())
			}
		}
	}
}

// account resolves a user name at n.
func (o *orgNames) account(n *ynode, what, spec string) (account.Account, bool) {
	if acc, ok := FindAccount(o.accs, spec); ok {
		return acc, true
	}
	o.d.errf(n, o.accountHint(spec), "%s: no account %q in %s (%s)", what, spec, o.where, o.size())
	return account.Account{}, false
}

func (o *orgNames) peopleHint() string {
	if o.org.Remote() {
		return " (test accounts of kind person)"
	}
	return " (environment.users)"
}

func (o *orgNames) size() string {
	return fmt.Sprintf("%d people, %d shared mailboxes", len(o.people), len(o.accs)-len(o.people))
}

// accountHint is the nearest local part or role, else the roles there are.
func (o *orgNames) accountHint(spec string) string {
	var names, roles []string
	for _, a := range o.accs {
		local, _, _ := strings.Cut(a.Address, "@")
		names = append(names, local)
		if a.Kind == "person" && !slices.Contains(roles, a.Role) {
			roles = append(roles, a.Role)
		}
	}
	slices.Sort(roles)
	spec = strings.ToLower(strings.TrimSpace(spec))
	if local, dom, ok := strings.Cut(spec, "@"); ok && strings.EqualFold(dom, o.domain) {
		spec = local
	}
	if h := suggest(spec, append(roles, names...)); strings.HasPrefix(h, "did you mean") {
		return h
	}
	return "give an address, a local part or a role: " + strings.Join(roles, ", ")
}

// mailbox resolves a mailbox name at n, as actorRun.mailboxName reads it.
func (o *orgNames) mailbox(n *ynode, what, name string, cur []account.Account) {
	switch {
	case strings.HasPrefix(name, "@"):
		who, folder, _ := strings.Cut(name[1:], "/")
		if folder == "" {
			folder = "INBOX"
		}
		acc, ok := FindAccount(o.accs, who)
		if !ok {
			o.d.errf(n, o.accountHint(who), "%s %q: no account %q in %s (%s)", what, name, who, o.where, o.size())
			return
		}
		o.delegated(n, what, name, acc, cur)
		o.folder(n, what, name, folder, []account.Account{acc})
	case strings.HasPrefix(name, "Users/") || strings.HasPrefix(name, "Shared/"):
		ns, rest, _ := strings.Cut(name, "/")
		local, folder, _ := strings.Cut(rest, "/")
		var acc *account.Account
		for i, a := range o.accs {
			l, _, _ := strings.Cut(a.Address, "@")
			if strings.EqualFold(l, local) && (a.Kind == "shared") == (ns == "Shared") {
				acc = &o.accs[i]
			}
		}
		if acc == nil {
			var names []string
			for _, a := range o.accs {
				if (a.Kind == "shared") == (ns == "Shared") {
					l, _, _ := strings.Cut(a.Address, "@")
					names = append(names, l)
				}
			}
			hint := suggest(local, names)
			if !strings.HasPrefix(hint, "did you mean") {
				hint = "@role/folder names a mailbox by role, e.g. @director/INBOX"
			}
			o.d.errf(n, hint, "%s %q: no account %q in the %s namespace of %s", what, name, local, ns, o.where)
			return
		}
		o.delegated(n, what, name, *acc, cur)
		if folder == "" {
			return // the account's root: LIST material, not a folder to open
		}
		o.folder(n, what, name, folder, []account.Account{*acc})
	default:
		if len(cur) == 0 {
			cur = o.people // no login known: any person's folders
		}
		o.folder(n, what, name, name, cur)
	}
}

// delegated checks, on a remote file, that the account logged in may
// open acc's mailbox: it is acc, or acc declares it in delegates:. The
// server grants such access (ACLs, shared namespaces) and maildrill
// cannot create it, so a file that does not declare it fails here.
func (o *orgNames) delegated(n *ynode, what, name string, acc account.Account, cur []account.Account) {
	if !o.org.Remote() || len(cur) == 0 {
		return
	}
	for _, c := range cur {
		if c.Address == acc.Address || slices.Contains(acc.Delegates, c.Address) {
			return
		}
	}
	who := cur[0].Address
	if len(cur) > 1 {
		who = fmt.Sprintf("none of the %d accounts that may be logged in", len(cur))
	}
	o.d.errf(n, fmt.Sprintf("declare the access in %s: delegates: [%s] on %s, as the server grants it", o.org.Describe(0)[len("the remote file "):], cur[0].Address, acc.Address),
		"%s %q: %s is not a delegate of %s in %s: the step needs a delegated or shared mailbox the target does not declare", what, name, who, acc.Address, o.where)
}

// folder checks that one of accs has the folder.
func (o *orgNames) folder(n *ynode, what, name, folder string, accs []account.Account) {
	var all []string
	for _, a := range accs {
		if !o.org.FoldersKnown(a.Address) {
			return // a remote account that does not declare its folders
		}
		for _, f := range o.org.Folders(a.Address) {
			if f == folder || strings.EqualFold(f, "INBOX") && strings.EqualFold(folder, "INBOX") {
				return
			}
			if !slices.Contains(all, f) {
				all = append(all, f)
			}
		}
	}
	whose := fmt.Sprintf("%d accounts that may be logged in", len(accs))
	if len(accs) == 1 {
		whose = accs[0].Address
		if accs[0].Role != "" {
			whose += " (" + accs[0].Role + ")"
		}
	}
	o.d.errf(n, suggest(folder, all), "%s %q: %s has no folder %q", what, name, whose, folder)
}

// FindAccount resolves an address, local part or role (the first person
// with it) to an account: how a run and ResolveOrg read a user name.
func FindAccount(accs []account.Account, spec string) (account.Account, bool) {
	spec = strings.ToLower(strings.TrimSpace(spec))
	for _, a := range accs {
		local, _, _ := strings.Cut(a.Address, "@")
		if a.Address == spec || local == spec {
			return a, true
		}
	}
	for _, a := range accs {
		if a.Kind == "person" && strings.EqualFold(a.Role, spec) {
			return a, true
		}
	}
	return account.Account{}, false
}
