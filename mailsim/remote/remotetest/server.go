// Package remotetest starts a stand-in for a user's own staging mail
// server, for the remote target's tests only: Debian's Dovecot
// (dovecot-imapd) and Postfix on loopback ports, each from a plain
// configuration written here (accounts in a passwd-file, Postfix
// delivering to Dovecot over LMTP and authenticating through Dovecot's
// auth service), both logging to one mail.log, and Debian's rsyslog,
// started with its own configuration, forwarding that log over TCP
// syslog to where the remote file's logs: section listens — as a
// production server's log would reach maildrill.
//
// Nothing here is maildrill's Dovecot image or target code. It needs
// root (Postfix runs as its own user) and the packages dovecot-imapd,
// postfix and rsyslog.
package remotetest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/maildrill/maildrill/internal/procgroup"
	"github.com/maildrill/maildrill/mailsim/certs"
)

// Account is a test account of the server.
type Account struct {
	Address, Password string
	// Shared: a team mailbox (no login), in the Shared/ namespace.
	Shared bool
	// Delegates may open the mailbox (Users/<local>/ or Shared/<local>/).
	Delegates []string
	// Folders are created (besides INBOX) before the server starts.
	Folders []string
}

// Options say what to start.
type Options struct {
	Dir      string // work directory (must exist)
	Domain   string
	Accounts []Account
	// SyslogPort is where rsyslog forwards the mail log (TCP on
	// 127.0.0.1): the remote file's logs: syslog port.
	SyslogPort int
	// TLS: STARTTLS on IMAP and submission, with a certificate for
	// 127.0.0.1 and localhost signed by a CA of the test (Server.CAFile).
	TLS bool
}

// Server is a running Dovecot + Postfix + rsyslog.
type Server struct {
	IMAPAddr, SubmissionAddr string
	LogPath                  string
	// CAFile signs the servers' certificate (Options.TLS).
	CAFile      string
	dir         string
	procs       []*proc
	postfixConf string
	mu          sync.Mutex
	closed      bool
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	out  *strings.Builder
	err  error
}

// Available says what is missing to start a Server ("" when nothing).
func Available() string {
	if os.Geteuid() != 0 {
		return "needs root (Postfix and Dovecot drop privileges)"
	}
	for _, b := range []string{"/usr/sbin/dovecot", "/usr/sbin/postfix", "/usr/sbin/rsyslogd"} {
		if _, err := os.Stat(b); err != nil {
			return b + " not installed (apt-get install dovecot-imapd postfix rsyslog)"
		}
	}
	return ""
}

// FreePort is a free loopback TCP port.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Start starts the three daemons and returns when IMAP and submission
// answer.
func Start(ctx context.Context, o Options) (_ *Server, err error) {
	if why := Available(); why != "" {
		return nil, errors.New("remotetest: " + why)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	// Dovecot's and Postfix's unprivileged users must reach the tree.
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o005 != 0o005 {
			_ = os.Chmod(d, st.Mode().Perm()|0o005)
		}
	}
	var ports [4]int // imap, submission, lmtp, auth
	for i := range ports {
		if ports[i], err = FreePort(); err != nil {
			return nil, err
		}
	}
	s := &Server{dir: dir, IMAPAddr: fmt.Sprintf("127.0.0.1:%d", ports[0]), SubmissionAddr: fmt.Sprintf("127.0.0.1:%d", ports[1]),
		LogPath: filepath.Join(dir, "mail.log")}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	for _, d := range []string{"dovecot/run", "dovecot/state", "mail", "postfix/etc", "postfix/spool", "postfix/data", "rsyslog"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(s.LogPath, nil, 0o666); err != nil {
		return nil, err
	}
	os.Chmod(s.LogPath, 0o666)
	// Mail: Maildirs owned by the mail user; people in mail/users, team
	// mailboxes in mail/shared; ACL files where there are delegates.
	var pw, ud, dict strings.Builder
	for _, a := range o.Accounts {
		kind := "users"
		if a.Shared {
			kind = "shared"
		} else {
			fmt.Fprintf(&pw, "%s:{PLAIN}%s\n", a.Address, a.Password)
		}
		fmt.Fprintf(&ud, "%s:::::%s::\n", a.Address, filepath.Join(dir, "mail", kind, a.Address))
		md := filepath.Join(dir, "mail", kind, a.Address, "Maildir")
		for _, sub := range append([]string{""}, dotted(a.Folders)...) {
			for _, c := range []string{"cur", "new", "tmp"} {
				if err := os.MkdirAll(filepath.Join(md, sub, c), 0o700); err != nil {
					return nil, err
				}
			}
			if len(a.Delegates) > 0 {
				acl := "owner lrwstipekxa\n"
				for _, d := range a.Delegates {
					acl += "user=" + d + " lrwstipekx\n"
				}
				if err := os.WriteFile(filepath.Join(md, sub, "dovecot-acl"), []byte(acl), 0o644); err != nil {
					return nil, err
				}
			}
		}
		for _, d := range a.Delegates {
			fmt.Fprintf(&dict, "shared/shared-boxes/user/%s/%s\n1\n", d, a.Address)
		}
	}
	for name, text := range map[string]string{"passwd": pw.String(), "users": ud.String()} {
		if err := os.WriteFile(filepath.Join(dir, "dovecot", name), []byte(text), 0o644); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "mail", "shared-mailboxes.db"), []byte(dict.String()), 0o644); err != nil {
		return nil, err
	}
	if err := chown(filepath.Join(dir, "mail"), "nobody"); err != nil {
		return nil, err
	}
	mailGroup := "nogroup"
	if _, err := user.LookupGroup(mailGroup); err != nil {
		mailGroup = "nobody"
	}
	dconf := fmt.Sprintf(`# staging server stand-in: plain configuration, loopback only
base_dir = %[1]s/dovecot/run
state_dir = %[1]s/dovecot/state
instance_name = remotetest-%[2]d
listen = 127.0.0.1
protocols = imap lmtp
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = %[3]s
mail_location = maildir:~/Maildir
mail_uid = nobody
mail_gid = %[7]s
first_valid_uid = 1
mail_max_userip_connections = 200
# Lab settings: every client of a test comes from 127.0.0.1, so Dovecot's
# failed-login delay and its per-address penalty (up to 15 s) would
# stretch a password spray over minutes of wall time; the nodelay passdb
# (which never authenticates) turns both off. They change no log line.
auth_failure_delay = 0
passdb {
  driver = static
  args = noauthenticate=y nodelay=y
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/dovecot/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%%u %[1]s/dovecot/users
}
namespace inbox {
  inbox = yes
  separator = /
}
mail_shared_explicit_inbox = yes
namespace users {
  type = shared
  separator = /
  prefix = Users/%%%%n/
  location = maildir:%[1]s/mail/users/%%%%u/Maildir
  subscriptions = no
  list = children
}
namespace shared {
  type = shared
  separator = /
  prefix = Shared/%%%%n/
  location = maildir:%[1]s/mail/shared/%%%%u/Maildir
  subscriptions = no
  list = children
}
mail_plugins = $mail_plugins acl
protocol imap {
  mail_plugins = $mail_plugins imap_acl
}
plugin {
  acl = vfile
  acl_shared_dict = file:%[1]s/mail/shared-mailboxes.db
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[2]d
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = %[4]d
  }
}
service auth {
  inet_listener {
    address = 127.0.0.1
    port = %[5]d
  }
}
protocol lmtp {
  postmaster_address = postmaster@%[6]s
}
`, dir, ports[0], s.LogPath, ports[2], ports[3], o.Domain, mailGroup)
	tlsMain, tlsSub := "", "  -o smtpd_tls_security_level=none\n"
	if o.TLS {
		b, err := certs.Generate(filepath.Join(dir, "tls"), []string{"localhost", "127.0.0.1"}, time.Now())
		if err != nil {
			return nil, err
		}
		s.CAFile = b.CAFile
		dconf = strings.Replace(dconf, "ssl = no\n", fmt.Sprintf("ssl = yes\nssl_cert = <%s\nssl_key = <%s\n", b.CertFile, b.KeyFile), 1)
		tlsMain = fmt.Sprintf("smtpd_tls_security_level = may\nsmtpd_tls_cert_file = %s\nsmtpd_tls_key_file = %s\n", b.CertFile, b.KeyFile)
		tlsSub = "  -o smtpd_tls_security_level=may\n"
	}
	dconfPath := filepath.Join(dir, "dovecot", "dovecot.conf")
	if err := os.WriteFile(dconfPath, []byte(dconf), 0o644); err != nil {
		return nil, err
	}
	if err := s.spawn("dovecot", "/usr/sbin/dovecot", "-F", "-c", dconfPath); err != nil {
		return nil, err
	}

	// Postfix: submission on a loopback port, local mail to Dovecot over
	// LMTP, everything else discarded (logged as sent: the outbox).
	pf := filepath.Join(dir, "postfix")
	s.postfixConf = filepath.Join(pf, "etc")
	main := fmt.Sprintf(`compatibility_level = 3.6
config_directory = %[1]s/etc
queue_directory = %[1]s/spool
data_directory = %[1]s/data
maillog_file = %[2]s
maillog_file_prefixes = %[6]s
myhostname = mail.%[3]s
mydomain = %[3]s
mydestination = %[3]s
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
local_transport = lmtp:inet:127.0.0.1:%[4]d
local_recipient_maps =
default_transport = discard
relay_transport = discard
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:127.0.0.1:%[5]d
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 100000
smtpd_hard_error_limit = 100000
smtpd_client_connection_count_limit = 0
message_size_limit = 26214400
biff = no
`+tlsMain, pf, s.LogPath, o.Domain, ports[2], ports[3], filepath.Dir(s.LogPath))
	master := fmt.Sprintf(`127.0.0.1:%d inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_sasl_auth_enable=yes
%s  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
`, ports[1], tlsSub)
	if err := os.WriteFile(filepath.Join(pf, "etc", "main.cf"), []byte(main), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(pf, "etc", "master.cf"), []byte(master), 0o644); err != nil {
		return nil, err
	}
	if err := chown(filepath.Join(pf, "data"), "postfix"); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, "/usr/sbin/postfix", "-c", s.postfixConf, "start").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("postfix start: %v: %s%s", err, out, s.Log())
	}

	// rsyslog: imfile on the mail log, forwarded over TCP syslog.
	rs := filepath.Join(dir, "rsyslog")
	rconf := fmt.Sprintf(`global(workDirectory="%[1]s" maxMessageSize="64k" net.enableDNS="off" parser.permitSlashInProgramName="on")
main_queue(queue.type="direct")
module(load="imfile" PollingInterval="1")
input(type="imfile" file="%[2]s" tag="maillog:" ruleset="fwd")
ruleset(name="fwd") {
  action(type="omfwd" target="127.0.0.1" port="%[3]d" protocol="tcp" tcp_framing="octet-counted"
    template="RSYSLOG_SyslogProtocol23Format" action.resumeRetryCount="-1" action.resumeInterval="1")
}
`, rs, s.LogPath, o.SyslogPort)
	rconfPath := filepath.Join(rs, "rsyslog.conf")
	if err := os.WriteFile(rconfPath, []byte(rconf), 0o644); err != nil {
		return nil, err
	}
	if err := s.spawn("rsyslogd", "/usr/sbin/rsyslogd", "-n", "-f", rconfPath, "-i", filepath.Join(rs, "rsyslogd.pid")); err != nil {
		return nil, err
	}
	if err := s.waitReady(ctx, 30*time.Second); err != nil {
		return nil, err
	}
	return s, nil
}

func dotted(folders []string) []string {
	out := make([]string, len(folders))
	for i, f := range folders {
		out[i] = "." + strings.ReplaceAll(f, "/", ".")
	}
	return out
}

func chown(root, usr string) error {
	u, err := user.Lookup(usr)
	if err != nil {
		return err
	}
	var uid, gid int
	fmt.Sscan(u.Uid, &uid)
	fmt.Sscan(u.Gid, &gid)
	return filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

func (s *Server) spawn(name, bin string, args ...string) error {
	p := &proc{name: name, cmd: exec.Command(bin, args...), done: make(chan struct{}), out: &strings.Builder{}}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = procgroup.Own()
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	s.procs = append(s.procs, p)
	return nil
}

func (s *Server) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for _, addr := range []string{s.IMAPAddr, s.SubmissionAddr} {
		for {
			for _, p := range s.procs {
				select {
				case <-p.done:
					return fmt.Errorf("%s exited: %v: %s", p.name, p.err, p.out.String())
				default:
				}
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				line, _ := bufio.NewReader(c).ReadString('\n')
				c.Close()
				if strings.HasPrefix(line, "* OK") || strings.HasPrefix(line, "220") {
					break
				}
			}
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(s.LogPath)
				return fmt.Errorf("remotetest: %s does not answer after %s; mail.log:\n%s", addr, limit, log)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// Log is the mail log so far (for failure messages).
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}

// Close stops rsyslog, Postfix and Dovecot and waits for them.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if s.postfixConf != "" {
		if out, err := exec.Command("/usr/sbin/postfix", "-c", s.postfixConf, "stop").CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("postfix stop: %v: %s", err, out))
		}
	}
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = procgroup.Signal(p.cmd.Process, syscall.SIGKILL)
			<-p.done
		}
	}
	return errors.Join(errs...)
}

// Gate skips unless MAILDRILL_DOVECOT=1 and the server can start.
func Gate(t testing.TB) {
	t.Helper()
	if os.Getenv("MAILDRILL_DOVECOT") != "1" {
		t.Skip("set MAILDRILL_DOVECOT=1 to start Dovecot, Postfix and rsyslog on loopback")
	}
	if why := Available(); why != "" {
		t.Skip(why)
	}
}
