package dovecot

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/certs"
	mcontainer "github.com/maildrill/maildrill/mailsim/container"
)

// Labels on the containers this package starts (distinct from
// mailsim/container's, so that each package's leak checks count only its
// own objects).
const (
	LabelTarget  = "org.maildrill.target"          // "dovecot"
	LabelSession = "org.maildrill.dovecot.session" // one StartContainer
)

// ContainerOptions configure StartContainer.
type ContainerOptions struct {
	Image   string // default: BuildImage
	Profile Profile
	Domain  string // default interieur.test
	// Accounts are the mailboxes; MailRoot holds their <address>/Maildir
	// trees (bind-mounted at /srv/mail; the container chowns them).
	// People log in; each account's Delegates see its mailboxes under
	// Users/<local part>/ (Shared/<local part>/ for Kind "shared"), as on
	// mailsim: StartContainer writes a dovecot-acl file in each Maildir
	// folder of an account that has delegates.
	Accounts []account.Account
	MailRoot string
	// CertDir holds the TLS material (mailsim/certs file names: ca.pem,
	// server.pem, server-key.pem): used when there, else generated there
	// (a fresh CA and a certificate for localhost, 127.0.0.1, ::1 and
	// imap., smtp., mail.<Domain>). Empty: a temporary directory, removed
	// by Close. Dovecot and Postfix present the same certificate.
	CertDir string
	// CertTime is the "now" of generated certificates (valid from a day
	// before it, for a year; default time.Now): a scenario clock's start,
	// for actors that verify at scenario time, as mailsim does.
	CertTime time.Time
	// Events receives each event parsed from the container's mail log, in
	// log order, from one goroutine. Parser shapes the parsing.
	Events func(*audit.Event)
	Parser Options
	// ReadyTimeout bounds start-to-ready (default 60 s).
	ReadyTimeout time.Duration
}

// Container is a running Dovecot + Postfix target. Addresses are on
// 127.0.0.1; the *Proxy ones expect a PROXY v1/v2 header first (Dovecot
// trusts only the Docker gateway, i.e. this machine).
type Container struct {
	IMAPAddr, IMAPProxyAddr             string // IMAP (STARTTLS offered)
	IMAPSAddr, IMAPSProxyAddr           string // IMAP over implicit TLS
	SubmissionAddr, SubmissionProxyAddr string // STARTTLS offered
	MXAddr, MXProxyAddr, LMTPAddr       string
	Image, ContainerID                  string
	StartToReady                        time.Duration
	// Certs is the TLS material the servers present; CAPEM its CA
	// certificate (PEM), for clients to trust.
	Certs *certs.Bundle
	CAPEM []byte

	ctr     *testcontainers.DockerContainer
	session string
	logs    *lineConsumer
	once    sync.Once
	err     error
	barrier barrierState
	// follow is closed when the container's output stream ends
	// (container gone).
	follow   chan struct{}
	stopLogs func()
	tmpDir   string // generated CertDir, removed by Close
	// The mail log is a file of this machine bind-mounted at
	// /var/log/mail.log, read as it grows (followLog): lines arrive within
	// a millisecond, where docker's log pipeline took about 4 ms (tail in
	// the container, the json-file driver, the logs API), and every log
	// barrier waits for one.
	logDir  string
	logStop chan struct{} // closed by Close: read to the end, then stop
	logDone chan struct{} // closed when followLog returns
	outMu   sync.Mutex
	out     bytes.Buffer // the container's own output (entrypoint), for errors
}

// TLSConfig trusts the container's CA for serverName (the certificate
// names localhost, 127.0.0.1, ::1 and imap., smtp., mail.<domain>), as
// mailsim/container's Mailsim.TLSConfig.
func (c *Container) TLSConfig(serverName string) *tls.Config {
	return c.Certs.ClientConfig(serverName)
}

var containerPorts = map[string]string{
	"imap": "143/tcp", "imap-proxy": "10143/tcp", "lmtp": "24/tcp",
	"imaps": "993/tcp", "imaps-proxy": "10993/tcp",
	"submission": "587/tcp", "submission-proxy": "10587/tcp",
	"mx": "25/tcp", "mx-proxy": "10025/tcp",
}

// lineConsumer turns the log stream into lines for the parser.
type lineConsumer struct {
	mu      sync.Mutex
	partial []byte
	p       *Parser
	emit    func(*audit.Event)
	all     bytes.Buffer // the whole log, for Log()
	// marker is the highest barrier number seen (see Barrier); marker
	// lines are never parsed into events.
	marker uint64
	// ended counts the connection ends logged per client address (IMAP
	// logouts and disconnections, SMTP disconnections; see Barrier).
	ended map[string]uint64
}

func (c *lineConsumer) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.all.Write(b)
	c.partial = append(c.partial, b...)
	var evs []*audit.Event
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 {
			break
		}
		line := string(c.partial[:i])
		c.partial = c.partial[i+1:]
		if n, ok := markerNumber(line); ok {
			c.marker = max(c.marker, n)
			continue
		}
		parsed := c.p.Parse(line)
		for _, e := range parsed {
			if e.Action == audit.IMAPLogout || e.Action == audit.SMTPDisconnect {
				if a, ok := connAddr(e.SourceIP); ok {
					if c.ended == nil {
						c.ended = map[string]uint64{}
					}
					c.ended[a]++
				}
			}
		}
		evs = append(evs, parsed...)
	}
	c.mu.Unlock()
	// Outside the lock: the callback may call Log.
	if c.emit != nil {
		for _, e := range evs {
			c.emit(e)
		}
	}
	return len(b), nil
}

// StartContainer starts the image with the accounts and mail, waits until
// Dovecot and Postfix listen, and streams the parsed mail log to
// o.Events. On error nothing is left behind; Close removes the container.
func StartContainer(ctx context.Context, o ContainerOptions) (_ *Container, err error) {
	mcontainer.Setup()
	if o.Profile == "" {
		o.Profile = Stock
	}
	if o.Domain == "" {
		o.Domain = "interieur.test"
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 60 * time.Second
	}
	if o.Image == "" {
		if o.Image, err = BuildImage(ctx); err != nil {
			return nil, err
		}
	}
	mailRoot, err := filepath.Abs(o.MailRoot)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 8)
	rand.Read(b)
	c := &Container{Image: o.Image, session: hex.EncodeToString(b)}
	if o.Profile == Enhanced {
		o.Parser.PostfixTLSLogged = true // smtpd_tls_loglevel = 1
	}
	c.logs = &lineConsumer{p: NewParser(o.Parser), emit: o.Events}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if c.logDir, err = os.MkdirTemp("", "maildrill-dovecot-log-"); err != nil {
		return nil, err
	}
	logPath := filepath.Join(c.logDir, "mail.log")
	logFile, err := os.OpenFile(logPath, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			logFile.Close()
		}
	}()
	if err := os.Chmod(logPath, 0o666); err != nil { // Dovecot's and Postfix's loggers write it
		return nil, err
	}
	certDir := o.CertDir
	if certDir == "" {
		if c.tmpDir, err = os.MkdirTemp("", "maildrill-dovecot-certs-"); err != nil {
			return nil, err
		}
		certDir = c.tmpDir
	}
	if c.Certs, err = loadOrGenerateCerts(certDir, o.Domain, o.CertTime); err != nil {
		return nil, err
	}
	if c.CAPEM, err = os.ReadFile(c.Certs.CAFile); err != nil {
		return nil, err
	}
	if err := writeACLs(mailRoot, o.Accounts); err != nil {
		return nil, err
	}
	files := []testcontainers.ContainerFile{
		{Reader: strings.NewReader(passwdFile(o.Accounts)), ContainerFilePath: "/etc/dovecot/maildrill.passwd", FileMode: 0o644},
		{Reader: strings.NewReader(usersFile(o.Accounts)), ContainerFilePath: "/etc/dovecot/maildrill.users", FileMode: 0o644},
		{Reader: strings.NewReader(sharedDict(o.Accounts)), ContainerFilePath: "/etc/dovecot/maildrill-shared.db", FileMode: 0o644},
		{HostFilePath: c.Certs.CertFile, ContainerFilePath: "/etc/maildrill/tls/server.pem", FileMode: 0o644},
		{HostFilePath: c.Certs.KeyFile, ContainerFilePath: "/etc/maildrill/tls/server-key.pem", FileMode: 0o600},
		{HostFilePath: c.Certs.CAFile, ContainerFilePath: "/etc/maildrill/tls/ca.pem", FileMode: 0o644},
	}
	var exposed []string
	for _, p := range containerPorts {
		exposed = append(exposed, p)
	}
	// Creating runs to completion even on Ctrl-C (a create aborted
	// client-side may still complete in the daemon); Close removes it.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	t0 := time.Now()
	c.ctr, err = testcontainers.Run(cctx, o.Image,
		testcontainers.WithNoStart(),
		testcontainers.WithEnv(map[string]string{
			"MAILDRILL_PROFILE": string(o.Profile),
			"MAILDRILL_DOMAIN":  o.Domain,
			// The mail log is read from the bind-mounted file, not
			// streamed to the container's output.
			"MAILDRILL_LOG_STDOUT": "no",
		}),
		testcontainers.WithExposedPorts(exposed...),
		testcontainers.WithLabels(map[string]string{LabelTarget: "dovecot", LabelSession: c.session, mcontainer.LabelOwner: mcontainer.Owner(), mcontainer.LabelProcess: mcontainer.Process()}),
		testcontainers.WithFiles(files...),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.Binds = append(hc.Binds, mailRoot+":/srv/mail", logPath+":/var/log/mail.log")
			// Publish on loopback only: Postfix takes a PROXY header from
			// any peer that reaches 10025/10587, so no other host may.
			// (The bindings testcontainers would make publish every
			// port on all interfaces.)
			hc.PublishAllPorts = false
			hc.PortBindings = network.PortMap{}
			for _, p := range containerPorts {
				hc.PortBindings[network.MustParsePort(p)] = []network.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1")}}
			}
		}),
		testcontainers.WithWaitStrategyAndDeadline(o.ReadyTimeout,
			wait.ForLog("maildrill: ready").WithPollInterval(20*time.Millisecond).WithStartupTimeout(o.ReadyTimeout)),
	)
	if c.ctr != nil {
		c.ContainerID = c.ctr.GetContainerID()
	}
	if err != nil {
		return nil, fmt.Errorf("dovecot: container: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Starting and waiting for readiness honour ctx (Ctrl-C); Close, by
	// the deferred cleanup, removes what was created.
	if err := c.ctr.Start(ctx); err != nil {
		return nil, fmt.Errorf("dovecot: container: %w%s", err, c.dockerLogTail())
	}
	c.StartToReady = time.Since(t0)
	// The mail log, from its first line.
	c.logStop, c.logDone = make(chan struct{}), make(chan struct{})
	go c.followLog(logFile)
	// The container's own output, followed to know when it is gone.
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, err
	}
	// The stream outlives ctx: after Ctrl-C the caller still drains the
	// log (Barrier) before Close ends it.
	out := &lockedWriter{mu: &c.outMu, b: &c.out}
	rc, err := cli.ContainerLogs(context.WithoutCancel(ctx), c.ContainerID, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("dovecot: logs: %w", err)
	}
	c.follow = make(chan struct{})
	c.stopLogs = func() { rc.Close() }
	go func() {
		defer close(c.follow)
		defer cli.Close()
		_, _ = stdcopy.StdCopy(out, out, rc)
	}()
	for name, dst := range map[string]*string{
		"imap": &c.IMAPAddr, "imap-proxy": &c.IMAPProxyAddr, "lmtp": &c.LMTPAddr,
		"imaps": &c.IMAPSAddr, "imaps-proxy": &c.IMAPSProxyAddr,
		"submission": &c.SubmissionAddr, "submission-proxy": &c.SubmissionProxyAddr,
		"mx": &c.MXAddr, "mx-proxy": &c.MXProxyAddr,
	} {
		p, err := c.ctr.MappedPort(ctx, containerPorts[name])
		if err != nil {
			return nil, fmt.Errorf("dovecot: port %s: %w", name, err)
		}
		*dst = net.JoinHostPort("127.0.0.1", p.Port())
	}
	return c, nil
}

// followLog reads the mail log file into the parser as it grows, polling
// (at most every millisecond when idle) until Close asks it to stop, then
// reads what is left.
func (c *Container) followLog(f *os.File) {
	defer close(c.logDone)
	defer f.Close()
	buf := make([]byte, 256<<10)
	wait := 50 * time.Microsecond
	for {
		n, err := f.Read(buf)
		if n > 0 {
			c.logs.Write(buf[:n])
			wait = 50 * time.Microsecond
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return
		}
		select {
		case <-c.logStop:
			for {
				n, _ := f.Read(buf)
				if n == 0 {
					return
				}
				c.logs.Write(buf[:n])
			}
		case <-time.After(wait):
			wait = min(2*wait, time.Millisecond)
		}
	}
}

// lockedWriter appends to a buffer under a lock.
type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() > 1<<20 { // the entrypoint's output: banners and errors
		w.b.Reset()
	}
	return w.b.Write(p)
}

// dockerLogTail is the container's output when the stream is not yet followed.
func (c *Container) dockerLogTail() string {
	if c.ctr == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rc, err := c.ctr.Logs(ctx)
	if err != nil {
		return ""
	}
	defer rc.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(rc)
	s := b.String()
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	return "\n" + s
}

// Log returns the container's mail log so far.
func (c *Container) Log() string {
	c.logs.mu.Lock()
	defer c.logs.mu.Unlock()
	return c.logs.all.String()
}

// Close stops and removes the container (and anything else of this
// session). It is safe to call more than once.
func (c *Container) Close() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var errs []error
		if c.ctr != nil {
			// Half a second for Dovecot and Postfix to log their last lines
			// (callers that need them run a Barrier first), then SIGKILL.
			if err := c.ctr.Terminate(ctx, testcontainers.StopTimeout(500*time.Millisecond)); err != nil {
				errs = append(errs, err)
			}
		}
		if c.follow != nil {
			select {
			case <-c.follow:
			case <-time.After(5 * time.Second):
				c.stopLogs()
				select {
				case <-c.follow:
				case <-time.After(5 * time.Second):
					errs = append(errs, errors.New("dovecot: the log stream did not end"))
				}
			}
		}
		if c.logStop != nil {
			// The servers are stopped: what they wrote is in the file.
			close(c.logStop)
			<-c.logDone
		}
		if c.logDir != "" {
			if err := os.RemoveAll(c.logDir); err != nil {
				errs = append(errs, err)
			}
		}
		if _, err := sweep(ctx, LabelSession+"="+c.session); err != nil {
			errs = append(errs, err)
		}
		if c.tmpDir != "" {
			if err := os.RemoveAll(c.tmpDir); err != nil {
				errs = append(errs, err)
			}
		}
		c.err = errors.Join(errs...)
	})
	return c.err
}

// Sweep removes every container this package started and left behind (a
// process killed outright) and tells how many it removed.
func Sweep(ctx context.Context) (int, error) { return sweep(ctx, LabelTarget+"=dovecot") }

// CountContainers counts this process's Dovecot containers, running or
// not (label org.maildrill.owner, as mailsim/container's objects), so that
// leak checks of processes running side by side do not see each other's.
func CountContainers(ctx context.Context) (int, error) { return CountOwner(ctx, mcontainer.Owner()) }

// CountOwner counts the Dovecot containers of the process whose owner
// label is owner (mailsim/container.Owner, MAILDRILL_DOCKER_OWNER).
func CountOwner(ctx context.Context, owner string) (int, error) {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	f := client.Filters{}.Add("label", LabelTarget+"=dovecot").Add("label", mcontainer.LabelOwner+"="+owner)
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return 0, err
	}
	return len(cs.Items), nil
}

func sweep(ctx context.Context, label string) (int, error) {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", label)})
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, it := range cs.Items {
		if _, err := cli.ContainerRemove(ctx, it.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			errs = append(errs, err)
		} else {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// loadOrGenerateCerts loads the bundle in dir, or generates one there: when
// dir has none, or when its certificate is not valid at the wall clock
// (expired, or made for a scenario set in the future) or lacks the
// domain's IMAP name, which clients would refuse.
func loadOrGenerateCerts(dir, domain string, now time.Time) (*certs.Bundle, error) {
	have := true
	for _, f := range []string{certs.CAFileName, certs.CertFileName, certs.KeyFileName} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			have = false
		}
	}
	if have {
		b, err := certs.Load(dir)
		if err != nil {
			return nil, fmt.Errorf("dovecot: TLS material in %s: %w", dir, err)
		}
		if _, err := b.Leaf.Verify(x509.VerifyOptions{DNSName: "imap." + domain, Roots: b.CAPool}); err == nil {
			return b, nil
		}
	}
	hosts := []string{"localhost", "127.0.0.1", "::1", "imap." + domain, "smtp." + domain, "mail." + domain}
	b, err := certs.Generate(dir, hosts, now) // zero: time.Now
	if err != nil {
		return nil, fmt.Errorf("dovecot: TLS material: %w", err)
	}
	return b, nil
}
