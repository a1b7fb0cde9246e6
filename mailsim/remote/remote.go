// Package remote reads a remote file: the description of the user's own
// staging mail server that `--target remote` attacks — its IMAP,
// submission and MX endpoints with their TLS modes, the CA that signs
// their certificates, the mail domain, the test accounts with the roles
// scenarios refer to, and where its logs arrive (syslog or a file).
//
// Parse is strict: an unknown key, a missing one or a bad value is an
// error naming file:line:col. remote.schema.json describes the same
// format for editors (TestSchemaAgrees keeps the two in step).
//
// Allow (allow.go) is the safety rule: every endpoint must be covered by
// an --allow-target (host, IP or CIDR) before a single packet is sent.
package remote

import (
	"bytes"
	"crypto/x509"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/maildrill/maildrill/internal/bom"
)

// Schema is the JSON Schema of the remote file (remote.schema.json).
//
//go:embed remote.schema.json
var Schema []byte

// TLS modes of an endpoint.
const (
	TLSImplicit = "implicit" // TLS from the first byte (IMAPS 993, submissions 465)
	TLSStartTLS = "starttls" // plain, then STARTTLS before authenticating
	TLSNone     = "none"     // no TLS at all (a lab server; passwords cross in clear)
)

// Endpoint is one listener of the remote server.
type Endpoint struct {
	Address string `yaml:"address" json:"address"`
	TLS     string `yaml:"tls" json:"tls"`
	// Line is where the endpoint is written (file:line in messages).
	Line int `yaml:"-" json:"-"`
}

// Host is the endpoint's host (a name or an IP).
func (e *Endpoint) Host() string { h, _, _ := net.SplitHostPort(e.Address); return h }

// Port is the endpoint's port.
func (e *Endpoint) Port() string { _, p, _ := net.SplitHostPort(e.Address); return p }

// Account is a test account on the remote server.
type Account struct {
	Address    string `yaml:"address" json:"address"`
	Password   string `yaml:"password" json:"password"`
	Role       string `yaml:"role" json:"role,omitempty"`
	Name       string `yaml:"name" json:"name,omitempty"`
	Department string `yaml:"department" json:"department,omitempty"`
	// Kind is person (default) or shared (a team mailbox, reached through
	// its delegates; its password may be left out).
	Kind string `yaml:"kind" json:"kind,omitempty"`
	// Delegates are the addresses that may open this mailbox (delegated
	// or shared access that the server grants).
	Delegates []string `yaml:"delegates" json:"delegates,omitempty"`
	// Folders are the mailbox's folders besides INBOX; when given,
	// validate --remote checks the folders steps name against them.
	Folders []string `yaml:"folders" json:"folders,omitempty"`
	Line    int      `yaml:"-" json:"-"`
}

// Logs says where the server's mail log reaches maildrill.
type Logs struct {
	// Syslog: HOST:PORT (TCP and UDP), or tcp://, udp://, tls:// HOST:PORT.
	Syslog string `yaml:"syslog" json:"syslog,omitempty"`
	// File: a log file to follow (tail -F), on this machine.
	File string `yaml:"file" json:"file,omitempty"`
	// Profile says how much the server logs, as a Dovecot + Postfix
	// logging profile (docs/dovecot.md): stock or enhanced. Expectations
	// whose blind_on names that telemetry (dovecot-stock,
	// dovecot-enhanced) are then BLIND rather than MISSED when no alert
	// comes; "" (unknown) claims nothing.
	Profile string `yaml:"profile" json:"profile,omitempty"`
	Line    int    `yaml:"-" json:"-"`
}

// File is a parsed remote file.
type File struct {
	Domain     string    `yaml:"domain"`
	IMAP       *Endpoint `yaml:"imap"`
	Submission *Endpoint `yaml:"submission"`
	MX         *Endpoint `yaml:"mx"`
	CA         string    `yaml:"ca"`
	Insecure   bool      `yaml:"insecure"`
	Accounts   []Account `yaml:"accounts"`
	Logs       *Logs     `yaml:"logs"`

	// Path is the file read ("" for Parse's name).
	Path string `yaml:"-"`
	// CAPool is the CA file's certificates (nil: the system's).
	CAPool *x509.CertPool `yaml:"-"`
	tree   *ast.File
}

// Endpoints are the file's endpoints, named: imap, submission, mx.
func (f *File) Endpoints() []NamedEndpoint {
	var out []NamedEndpoint
	for _, e := range []struct {
		n string
		e *Endpoint
	}{{"imap", f.IMAP}, {"submission", f.Submission}, {"mx", f.MX}} {
		if e.e != nil {
			out = append(out, NamedEndpoint{e.n, e.e})
		}
	}
	return out
}

// NamedEndpoint is an endpoint with its key.
type NamedEndpoint struct {
	Key string
	*Endpoint
}

// Error is one problem of a remote file, at file:line:col.
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Load reads and parses the remote file at path; the CA file, when
// relative, is relative to it.
func Load(path string) (*File, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("remote file: %w", err)
	}
	f, err := Parse(path, src)
	if err != nil {
		return nil, err
	}
	f.Path = path
	if f.CA != "" {
		ca := f.CA
		if !filepath.IsAbs(ca) {
			ca = filepath.Join(filepath.Dir(path), ca)
		}
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, &Error{File: path, Line: f.line("$.ca"), Col: 1, Msg: fmt.Sprintf("ca: %v", err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &Error{File: path, Line: f.line("$.ca"), Col: 1, Msg: fmt.Sprintf("ca: %s holds no PEM certificate", ca)}
		}
		f.CAPool = pool
	}
	return f, nil
}

// maxSize bounds a remote file (it is a few lines).
const maxSize = 1 << 20

// Parse parses a remote file's text; name is used in messages. It does
// not read the CA file (Load does).
func Parse(name string, src []byte) (f *File, err error) {
	if len(src) > maxSize {
		return nil, &Error{File: name, Msg: fmt.Sprintf("%d bytes: a remote file is at most %d", len(src), maxSize)}
	}
	src, bad := bom.Text(src)
	if bad != nil {
		return nil, &Error{File: name, Line: bad.Line, Col: bad.Col, Msg: bad.Msg}
	}
	defer func() {
		// The YAML library must never take the command down.
		if r := recover(); r != nil {
			f, err = nil, &Error{File: name, Msg: fmt.Sprintf("unreadable YAML (%v)", r)}
		}
	}()
	tree, perr := parser.ParseBytes(src, 0)
	if perr != nil {
		return nil, yamlError(name, perr)
	}
	if len(tree.Docs) != 1 || tree.Docs[0].Body == nil {
		return nil, &Error{File: name, Line: 1, Col: 1, Msg: "want one YAML document: a mapping with domain, imap, submission, accounts"}
	}
	if _, ok := tree.Docs[0].Body.(*ast.MappingNode); !ok {
		if _, ok := tree.Docs[0].Body.(*ast.MappingValueNode); !ok {
			tok := tree.Docs[0].Body.GetToken()
			return nil, &Error{File: name, Line: tok.Position.Line, Col: tok.Position.Column, Msg: "want a mapping with domain, imap, submission, accounts"}
		}
	}
	f = &File{}
	if err := yaml.UnmarshalWithOptions(src, f, yaml.Strict()); err != nil {
		return nil, yamlError(name, err)
	}
	p := &checker{name: name, tree: tree}
	f.tree = tree
	p.check(f)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return f, nil
}

func yamlError(name string, err error) error {
	var ye yaml.Error
	if errors.As(err, &ye) && ye.GetToken() != nil {
		pos := ye.GetToken().Position
		msg := ye.GetMessage()
		if strings.HasPrefix(msg, "unknown field") {
			msg += ": known keys are domain, imap, submission, mx, ca, insecure, accounts, logs; an endpoint has address and tls; an account address, password, role, name, department, kind, delegates, folders; logs syslog or file"
		}
		return &Error{File: name, Line: pos.Line, Col: pos.Column, Msg: msg}
	}
	return &Error{File: name, Msg: err.Error()}
}

type checker struct {
	name string
	tree *ast.File
	errs []error
}

// pos is the line and column of the value at a YAML path ($.imap.tls).
func pos(tree *ast.File, path string) (int, int) {
	if tree == nil {
		return 0, 0
	}
	p, err := yaml.PathString(path)
	if err != nil {
		return 0, 0
	}
	n, err := p.FilterFile(tree)
	if err != nil || n == nil || n.GetToken() == nil {
		return 0, 0
	}
	return n.GetToken().Position.Line, n.GetToken().Position.Column
}

func (f *File) line(path string) int { l, _ := pos(f.tree, path); return l }

func (c *checker) errf(path, format string, args ...any) {
	l, col := pos(c.tree, path)
	if l == 0 && strings.Contains(path, ".") {
		// a missing key: point at its parent
		l, col = pos(c.tree, path[:strings.LastIndex(path, ".")])
	}
	c.errs = append(c.errs, &Error{File: c.name, Line: l, Col: col, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) check(f *File) {
	if f.Domain == "" {
		c.errf("$", "domain: missing: the mail domain of the test accounts (e.g. domain: staging.example.org)")
	} else if !validDomain(f.Domain) {
		c.errf("$.domain", "domain %q: want a domain name such as staging.example.org", f.Domain)
	}
	if f.IMAP == nil {
		c.errf("$", "imap: missing: the IMAP endpoint, e.g. imap: {address: mail.staging.example.org:993, tls: implicit}")
	}
	if f.Submission == nil {
		c.errf("$", "submission: missing: the submission endpoint, e.g. submission: {address: mail.staging.example.org:587, tls: starttls}")
	}
	for _, e := range f.Endpoints() {
		c.endpoint("$."+e.Key, e.Key, e.Endpoint)
	}
	if f.CA != "" && f.Insecure {
		c.errf("$.insecure", "ca and insecure: true both given: give the CA that signs the server's certificates, or insecure: true to skip the check, not both")
	}
	if len(f.Accounts) == 0 {
		c.errf("$", "accounts: missing: at least one test account {address, password, role}")
	}
	seen := map[string]int{}
	for i := range f.Accounts {
		a := &f.Accounts[i]
		at := fmt.Sprintf("$.accounts[%d]", i)
		a.Line, _ = pos(c.tree, at+".address")
		if a.Line == 0 {
			a.Line, _ = pos(c.tree, at)
		}
		a.Address = strings.ToLower(strings.TrimSpace(a.Address))
		local, dom, ok := strings.Cut(a.Address, "@")
		switch {
		case a.Address == "":
			c.errf(at, "accounts[%d]: address missing", i)
		case !ok || local == "" || strings.ContainsAny(local, " \t\"") || !strings.EqualFold(dom, f.Domain):
			c.errf(at+".address", "accounts[%d]: address %q: want local@%s (the file's domain)", i, a.Address, f.Domain)
		}
		if prev, dup := seen[a.Address]; dup && a.Address != "" {
			c.errf(at+".address", "accounts[%d]: %s is also accounts[%d]", i, a.Address, prev)
		}
		seen[a.Address] = i
		if a.Kind == "" {
			a.Kind = "person"
		}
		if a.Password == "" && a.Kind == "person" {
			c.errf(at, "accounts[%d] (%s): password missing (only a shared mailbox, reached through its delegates, has none)", i, a.Address)
		}
		switch a.Kind {
		case "person":
			if a.Role != "" && !validRole(a.Role) {
				c.errf(at+".role", "accounts[%d] (%s): role %q: want a role as scenarios name it (lower case letters, digits, _ and -; e.g. director)", i, a.Address, a.Role)
			}
		case "shared":
			if a.Role != "" {
				c.errf(at+".role", "accounts[%d] (%s): a shared mailbox has no role", i, a.Address)
			}
		default:
			c.errf(at+".kind", "accounts[%d] (%s): kind %q: want person or shared", i, a.Address, a.Kind)
		}
		for j, d := range a.Delegates {
			a.Delegates[j] = strings.ToLower(strings.TrimSpace(d))
			if !strings.Contains(d, "@") {
				c.errf(fmt.Sprintf("%s.delegates[%d]", at, j), "accounts[%d] (%s): delegate %q: want an address", i, a.Address, d)
			}
		}
		for j, fo := range a.Folders {
			if strings.TrimSpace(fo) == "" {
				c.errf(fmt.Sprintf("%s.folders[%d]", at, j), "accounts[%d] (%s): empty folder name", i, a.Address)
			}
		}
	}
	if f.Logs != nil {
		f.Logs.Line, _ = pos(c.tree, "$.logs")
		if p := f.Logs.Profile; p != "" && p != "stock" && p != "enhanced" {
			c.errf("$.logs.profile", "logs: profile %q: want stock or enhanced (the server's logging, as in docs/dovecot.md), or leave it out", p)
		}
		switch {
		case f.Logs.Syslog != "" && f.Logs.File != "":
			c.errf("$.logs", "logs: syslog and file both given: give one")
		case f.Logs.Syslog == "" && f.Logs.File == "":
			c.errf("$.logs", "logs: give syslog: HOST:PORT (or tcp://, udp://, tls://) or file: PATH, or leave logs out")
		case f.Logs.Syslog != "":
			if err := checkSyslog(f.Logs.Syslog); err != nil {
				c.errf("$.logs.syslog", "logs syslog %q: %v", f.Logs.Syslog, err)
			}
		}
	}
}

// checkSyslog checks a listen address as ingest reads it.
func checkSyslog(s string) error {
	hp := s
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		switch scheme {
		case "tcp", "udp":
		case "tls":
			return errors.New("tls:// needs a server certificate: use maildrill ingest --tls-cert for that, or tcp:// on a trusted network")
		default:
			return fmt.Errorf("scheme %q: want tcp://, udp:// or none (TCP and UDP)", scheme)
		}
		hp = rest
	}
	_, port, err := net.SplitHostPort(hp)
	if err != nil {
		return errors.New("want HOST:PORT to listen on")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q: want 0-65535", port)
	}
	return nil
}

func (c *checker) endpoint(at, key string, e *Endpoint) {
	e.Line, _ = pos(c.tree, at)
	host, port, err := net.SplitHostPort(e.Address)
	switch {
	case e.Address == "":
		c.errf(at, "%s: address missing: HOST:PORT", key)
	case err != nil || host == "":
		c.errf(at+".address", "%s address %q: want HOST:PORT (e.g. mail.staging.example.org:993)", key, e.Address)
	default:
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			c.errf(at+".address", "%s address %q: port %q: want 1-65535", key, e.Address, port)
		}
		if strings.ContainsAny(host, "*/ ") {
			c.errf(at+".address", "%s address %q: one host, no wildcard or range", key, e.Address)
		}
	}
	switch e.TLS {
	case TLSImplicit, TLSStartTLS, TLSNone:
	case "":
		c.errf(at, "%s: tls missing: implicit, starttls or none", key)
	default:
		c.errf(at+".tls", "%s tls %q: want implicit, starttls or none", key, e.TLS)
	}
}

func validRole(r string) bool {
	for _, c := range r {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return r != ""
}

func validDomain(d string) bool {
	if len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// Find resolves an address, local part or role (the first person with
// it) to a test account, as a scenario names users.
func (f *File) Find(spec string) (*Account, bool) {
	spec = strings.ToLower(strings.TrimSpace(spec))
	for i, a := range f.Accounts {
		local, _, _ := strings.Cut(a.Address, "@")
		if a.Address == spec || local == spec {
			return &f.Accounts[i], true
		}
	}
	for i, a := range f.Accounts {
		if a.Kind == "person" && strings.EqualFold(a.Role, spec) {
			return &f.Accounts[i], true
		}
	}
	return nil, false
}

// Describe is a one-line summary for progress notes.
func (f *File) Describe() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s: imap %s (%s), submission %s (%s)", f.Domain, f.IMAP.Address, f.IMAP.TLS, f.Submission.Address, f.Submission.TLS)
	if f.MX != nil {
		fmt.Fprintf(&b, ", mx %s (%s)", f.MX.Address, f.MX.TLS)
	}
	fmt.Fprintf(&b, ", %d accounts", len(f.Accounts))
	return b.String()
}
