package dovecot

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/maildrill/maildrill/mailsim/account"
)

// The loopback harness below runs Debian's Dovecot from its own
// configuration for TestLocalDovecot; it is test code only.

// LocalOptions configure a Dovecot run from its own configuration on
// loopback (no system service, no root needed beyond reading the files).
type LocalOptions struct {
	// Dir is the work directory (config, run, state, log). It must exist.
	Dir string
	// MailRoot holds <address>/Maildir trees (maildrill export-maildir).
	MailRoot string
	Accounts []account.Account
	Profile  Profile
	// TrustedProxies may send a PROXY header on the proxy listener
	// (default 127.0.0.0/8).
	TrustedProxies string
	// Binary is the dovecot executable (default "dovecot" on PATH).
	Binary string
}

// Local is a running Dovecot on 127.0.0.1.
type Local struct {
	// IMAPAddr takes plain IMAP; ProxyAddr takes IMAP behind a PROXY v1/v2
	// header (haproxy = yes) from TrustedProxies; LMTPAddr takes LMTP.
	IMAPAddr, ProxyAddr, LMTPAddr string
	LogPath                       string
	cmd                           *exec.Cmd
	done                          chan struct{}
	waitErr                       error
	stderr                        *strings.Builder
	mu                            sync.Mutex
}

// Available tells whether a dovecot binary is on PATH.
func Available() bool {
	_, err := exec.LookPath("dovecot")
	return err == nil
}

// freePorts finds n distinct free loopback ports. Its listeners stay open
// until all n are found: closed one by one, the kernel may hand out the
// same port twice, and Dovecot refuses a duplicate listener.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// StartLocal writes a configuration into o.Dir and starts `dovecot -F` on
// three free loopback ports; it returns once IMAP answers. Close stops it.
func StartLocal(ctx context.Context, o LocalOptions) (*Local, error) {
	if o.Binary == "" {
		o.Binary = "dovecot"
	}
	if o.TrustedProxies == "" {
		o.TrustedProxies = "127.0.0.0/8"
	}
	if o.Profile == "" {
		o.Profile = Stock
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	// Dovecot's auth and mail processes drop privileges: as root they run
	// as dovecot/nobody and must reach the files; as a user, as that user.
	mailUser, mailGroup := "nobody", "nogroup"
	root := os.Geteuid() == 0
	if !root {
		u, err := user.Current()
		if err != nil {
			return nil, err
		}
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			return nil, err
		}
		mailUser, mailGroup = u.Username, g.Name
	} else if _, err := user.LookupGroup(mailGroup); err != nil {
		mailGroup = "nobody"
	}
	for _, d := range []string{"run", "state"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	var pw strings.Builder
	for _, a := range o.Accounts {
		if isShared(a) {
			continue
		}
		fmt.Fprintf(&pw, "%s:{PLAIN}%s\n", a.Address, a.Password)
	}
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte(pw.String()), 0o644); err != nil {
		return nil, err
	}
	if root {
		// Every directory on the way must be searchable by the dropped users.
		for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
			if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o005 != 0o005 && strings.HasPrefix(d, os.TempDir()) {
				_ = os.Chmod(d, st.Mode().Perm()|0o005)
			}
		}
		if err := chownTree(o.MailRoot, mailUser, mailGroup); err != nil {
			return nil, err
		}
	}
	l := &Local{
		IMAPAddr:  fmt.Sprintf("127.0.0.1:%d", ports[0]),
		ProxyAddr: fmt.Sprintf("127.0.0.1:%d", ports[1]),
		LMTPAddr:  fmt.Sprintf("127.0.0.1:%d", ports[2]),
		LogPath:   filepath.Join(dir, "dovecot.log"),
		done:      make(chan struct{}),
		stderr:    &strings.Builder{},
	}
	conf := fmt.Sprintf(`# Written by maildrill (mailsim/dovecot.StartLocal): loopback only.
base_dir = %[1]s/run
state_dir = %[1]s/state
instance_name = maildrill-%[2]d
listen = 127.0.0.1
protocols = imap lmtp
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = %[3]s
mail_location = maildir:%[4]s/%%u/Maildir
first_valid_uid = 1
mail_max_userip_connections = 100
haproxy_trusted_networks = %[5]s
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/passwd
}
userdb {
  driver = static
  args = uid=%[6]s gid=%[7]s home=%[4]s/%%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[8]d
  }
  inet_listener imap_proxy {
    address = 127.0.0.1
    port = %[9]d
    haproxy = yes
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = %[10]d
  }
}
`, dir, ports[0], l.LogPath, o.MailRoot, o.TrustedProxies, mailUser, mailGroup, ports[0], ports[1], ports[2])
	if !root {
		conf += fmt.Sprintf("default_login_user = %[1]s\ndefault_internal_user = %[1]s\n", mailUser)
	}
	if o.Profile == Enhanced {
		conf += EnhancedLogging
	}
	confPath := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	l.cmd = exec.Command(o.Binary, "-F", "-c", confPath)
	l.cmd.Stdout = l.stderr
	l.cmd.Stderr = l.stderr
	if err := l.cmd.Start(); err != nil {
		return nil, fmt.Errorf("dovecot: %w", err)
	}
	go func() {
		l.waitErr = l.cmd.Wait()
		close(l.done)
	}()
	if err := l.waitReady(ctx, 15*time.Second); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func chownTree(root, usr, group string) error {
	if root == "" {
		return nil
	}
	u, err := user.Lookup(usr)
	if err != nil {
		return err
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return err
	}
	var uid, gid int
	fmt.Sscan(u.Uid, &uid)
	fmt.Sscan(g.Gid, &gid)
	return filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

func (l *Local) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-l.done:
			return fmt.Errorf("dovecot exited: %v: %s", l.waitErr, l.stderr.String())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		c, err := net.DialTimeout("tcp", l.IMAPAddr, time.Second)
		if err == nil {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "* OK") {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dovecot: no IMAP greeting on %s after %s", l.IMAPAddr, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Close stops Dovecot (SIGTERM, then SIGKILL after 5 s) and waits for it.
func (l *Local) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cmd == nil || l.cmd.Process == nil {
		return nil
	}
	select {
	case <-l.done:
		return nil
	default:
	}
	_ = l.cmd.Process.Signal(os.Interrupt)
	select {
	case <-l.done:
	case <-time.After(5 * time.Second):
		_ = l.cmd.Process.Kill()
		<-l.done
	}
	return nil
}
