package imapd

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startTranscriptDovecot starts Debian's Dovecot on a free loopback port
// from a minimal configuration in a temporary directory (no system
// service), with one account per name in users (password "pw", an empty
// INBOX), and returns its IMAP address. The test fails when Dovecot is
// missing: it is only called under MAILDRILL_DOVECOT=1.
func startTranscriptDovecot(t *testing.T, users []string) string {
	t.Helper()
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		t.Fatalf("MAILDRILL_DOVECOT=1 but no dovecot on PATH (Debian: apt-get install dovecot-imapd): %v", err)
	}
	dir := t.TempDir()
	// Dovecot's mail processes drop privileges: as root they run as
	// nobody and must reach their mail directory.
	mailUser, mailGroup := "nobody", "nogroup"
	root := os.Geteuid() == 0
	if root {
		if _, err := user.LookupGroup(mailGroup); err != nil {
			mailGroup = "nobody"
		}
		for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
			if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o005 != 0o005 && strings.HasPrefix(d, os.TempDir()) {
				_ = os.Chmod(d, st.Mode().Perm()|0o005)
			}
		}
	} else {
		u, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			t.Fatal(err)
		}
		mailUser, mailGroup = u.Username, g.Name
	}
	mail := filepath.Join(dir, "mail")
	for _, d := range []string{"run", "state", "mail"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(mail, 0o777); err != nil {
		t.Fatal(err)
	}
	var pw strings.Builder
	for _, u := range users {
		fmt.Fprintf(&pw, "%s:{PLAIN}pw\n", u)
	}
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte(pw.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf := fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
instance_name = maildrill-transcripts-%[2]d
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = %[1]s/dovecot.log
mail_location = maildir:%[3]s/%%u:LAYOUT=fs
first_valid_uid = 1
mail_max_userip_connections = 100
namespace inbox {
  inbox = yes
  separator = /
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/passwd
}
userdb {
  driver = static
  args = uid=%[4]s gid=%[5]s home=%[3]s/%%u
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
`, dir, port, mail, mailUser, mailGroup)
	if !root {
		conf += fmt.Sprintf("default_login_user = %[1]s\ndefault_internal_user = %[1]s\n", mailUser)
	}
	confPath := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd := exec.Command(bin, "-F", "-c", confPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("dovecot: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; ; i++ {
		select {
		case err := <-done:
			t.Fatalf("dovecot exited: %v: %s", err, out.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			l, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(l, "* OK") {
				return addr
			}
		}
		if i > 750 {
			log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			t.Fatalf("dovecot: no greeting on %s: %s %s", addr, out.String(), log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
