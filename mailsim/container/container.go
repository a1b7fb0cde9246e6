// Package container runs mailsim in Docker with testcontainers-go: an image
// built locally (FROM scratch + the static maildrill binary, cached by
// content hash), a private network where the server answers as
// imap.interieur.test and smtp.interieur.test, readiness proven by the
// admin API's /healthz, the audit trail streamed out as NDJSON and the
// clock driven through the admin API.
//
// Nothing is pulled (testcontainers' reaper is disabled, it needs a pull:
// see Setup), so this package cleans up itself: Close removes the
// container and the network, a failed Start removes what it made, and
// everything carries the label org.maildrill.managed so Sweep can remove
// what a killed process left behind.
package container

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/maildrill/maildrill/mailsim/account"
	"github.com/maildrill/maildrill/mailsim/admin"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/throttle"
)

// Labels on everything this package creates.
const (
	LabelManaged = "org.maildrill.managed" // "mailsim", "network" or "image"
	LabelSession = "org.maildrill.session" // one Start
	LabelOwner   = "org.maildrill.owner"   // one process (see Owner)
)

var owner = func() string {
	if v := os.Getenv("MAILDRILL_DOCKER_OWNER"); v != "" {
		return v
	}
	return randHex(6)
}()

// Owner labels everything this process starts: $MAILDRILL_DOCKER_OWNER, or
// a random value. Count counts one owner's objects, so leak checks are not
// confused by other processes' containers.
func Owner() string { return owner }

// Host names of the mail server on its private network.
var Aliases = []string{"imap.interieur.test", "smtp.interieur.test", "mail.interieur.test"}

// Options configure a mailsim container.
type Options struct {
	Image           string // default: BuildImage from the repository
	Seed            int64
	Users, Messages int
	AllowPlaintext  bool
	// Throttle turns on authentication throttling in the container
	// (serve's --auth-* flags). Zero: off.
	Throttle throttle.Config
	RunID    string
	// Start, when set, gives the container a virtual clock reading Start,
	// moved only by SetClock. Zero: the wall clock.
	Start time.Time
	// ProxyProtocol requires PROXY headers from the network's gateway
	// (where published ports arrive from) on the IMAP and SMTP ports.
	ProxyProtocol bool
	// MaxIMAPSessions and MaxSubmissionSessions cap the container's
	// concurrent IMAP (IMAP and IMAPS together) and submission sessions
	// (serve's --imap-max-sessions and --submission-max-sessions). Zero:
	// serve's defaults.
	MaxIMAPSessions, MaxSubmissionSessions int
	// ReadyTimeout bounds start-to-ready (default 30 s).
	ReadyTimeout time.Duration
	Logger       *slog.Logger

	// failAfter, when set, fails Start at that stage (tests).
	failAfter string
	// trusted replaces the gateway as the trusted proxy (tests).
	trusted string
}

// Mailsim is a running mailsim container.
type Mailsim struct {
	// Addresses published on 127.0.0.1.
	IMAPAddr, IMAPSAddr, SubmissionAddr, MXAddr string
	AdminURL                                    string
	Token                                       string
	CAPEM                                       []byte
	Accounts                                    []account.Account
	Domain                                      string
	Image                                       string
	ContainerID, NetworkName                    string
	Gateway                                     netip.Addr
	// StartToReady is from container create to /healthz answering.
	StartToReady time.Duration

	session string
	ctr     *testcontainers.DockerContainer
	nw      *testcontainers.DockerNetwork
	http    *http.Client
	once    sync.Once
	err     error
}

// accountsFile is where the container's serve writes the accounts with
// their passwords (--accounts); Start copies it out with the Docker API,
// as the admin API never serves passwords.
const accountsFile = "/certs/accounts.json"

var ports = map[string]string{"imap": "143/tcp", "imaps": "993/tcp", "submission": "587/tcp", "mx": "25/tcp", "admin": "8025/tcp"}

// Start builds (or reuses) the image and starts a mailsim container on a
// new private network. On error nothing is left behind.
func Start(ctx context.Context, opts Options) (_ *Mailsim, err error) {
	Setup()
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	if opts.Image == "" {
		img, err := BuildImage(ctx, BuildOptions{})
		if err != nil {
			return nil, err
		}
		opts.Image = img.Tag
	}
	if opts.Users == 0 {
		opts.Users = 50
	}
	if opts.Messages == 0 {
		opts.Messages = 200
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	m := &Mailsim{session: randHex(8), Token: randHex(16), Image: opts.Image, http: &http.Client{}}
	labels := func(kind string) map[string]string {
		return map[string]string{LabelManaged: kind, LabelSession: m.session, LabelOwner: owner, LabelProcess: process}
	}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	// Calls that create Docker objects run to completion even when ctx is
	// cancelled (Ctrl-C): a create aborted client-side may still complete
	// in the daemon, after the cleanup looked. Cancellation is honoured
	// between steps and while waiting for readiness.
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer ccancel()
	m.nw, err = tcnetwork.New(cctx, tcnetwork.WithLabels(labels("network")))
	if err != nil {
		return nil, fmt.Errorf("container: network: %w", err)
	}
	m.NetworkName = m.nw.Name
	if opts.failAfter == "network" {
		return nil, errors.New("container: injected failure after the network")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cli, err := dockerClient(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	ni, err := cli.NetworkInspect(ctx, m.nw.ID, client.NetworkInspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("container: network inspect: %w", err)
	}
	for _, c := range ni.Network.IPAM.Config {
		if c.Gateway.IsValid() && c.Gateway.Is4() {
			m.Gateway = c.Gateway
		}
	}
	if !m.Gateway.IsValid() {
		return nil, fmt.Errorf("container: network %s has no IPv4 gateway", m.nw.Name)
	}
	cmd := []string{
		"--imap", "0.0.0.0:143", "--imaps", "0.0.0.0:993", "--submission", "0.0.0.0:587", "--mx", "0.0.0.0:25",
		"--admin", "0.0.0.0:8025", "--cert-dir", "/certs", "--accounts", accountsFile,
		"--seed", strconv.FormatInt(opts.Seed, 10), "--users", strconv.Itoa(opts.Users), "--messages", strconv.Itoa(opts.Messages),
	}
	if opts.RunID != "" {
		cmd = append(cmd, "--run-id", opts.RunID)
	}
	if opts.AllowPlaintext {
		cmd = append(cmd, "--allow-plaintext-auth")
	}
	if t := opts.Throttle; t.Enabled() {
		cmd = append(cmd, "--auth-failure-delay", t.FailureDelay.String(),
			"--auth-max-failures-per-source", strconv.Itoa(t.MaxFailuresPerSource),
			"--auth-max-failures-per-account", strconv.Itoa(t.MaxFailuresPerAccount))
		if t.Window > 0 {
			cmd = append(cmd, "--auth-failure-window", t.Window.String())
		}
	}
	if opts.MaxIMAPSessions > 0 {
		cmd = append(cmd, "--imap-max-sessions", strconv.Itoa(opts.MaxIMAPSessions))
	}
	if opts.MaxSubmissionSessions > 0 {
		cmd = append(cmd, "--submission-max-sessions", strconv.Itoa(opts.MaxSubmissionSessions))
	}
	if !opts.Start.IsZero() {
		cmd = append(cmd, "--virtual-clock", "--start", opts.Start.Format(time.RFC3339Nano))
	}
	if opts.ProxyProtocol {
		// Published ports reach the container from the network's gateway:
		// that is the runner, the only peer allowed to name a client.
		trusted := m.Gateway.String() + "/32"
		if opts.trusted != "" {
			trusted = opts.trusted
		}
		cmd = append(cmd, "--proxy-protocol", "--trusted-proxies", trusted)
	}
	var exposed []string
	for _, p := range ports {
		exposed = append(exposed, p)
	}
	t0 := time.Now()
	m.ctr, err = testcontainers.Run(cctx, opts.Image,
		testcontainers.WithNoStart(),
		testcontainers.WithCmd(cmd...),
		testcontainers.WithEnv(map[string]string{"MAILDRILL_ADMIN_TOKEN": m.Token}),
		testcontainers.WithExposedPorts(exposed...),
		testcontainers.WithLabels(labels("mailsim")),
		testcontainers.WithTmpfs(map[string]string{"/tmp": "rw,mode=1777,size=64m"}),
		tcnetwork.WithNetwork(Aliases, m.nw),
		// Publish on loopback only: the mail server is for this machine.
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.PublishAllPorts = false
			hc.PortBindings = network.PortMap{}
			for _, p := range ports {
				hc.PortBindings[network.MustParsePort(p)] = []network.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1")}}
			}
		}),
		// On a scratch image a published port accepts before the server
		// listens (docker-proxy): readiness is the health endpoint.
		testcontainers.WithWaitStrategyAndDeadline(opts.ReadyTimeout,
			wait.ForHTTP("/healthz").WithPort("8025/tcp").WithPollInterval(20*time.Millisecond).WithStartupTimeout(opts.ReadyTimeout)),
	)
	if m.ctr != nil {
		m.ContainerID = m.ctr.GetContainerID()
	}
	if err != nil {
		return nil, fmt.Errorf("container: mailsim: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := m.ctr.Start(ctx); err != nil {
		return nil, fmt.Errorf("container: mailsim: %w%s", err, m.logTail())
	}
	m.StartToReady = time.Since(t0)
	if opts.failAfter == "ready" {
		return nil, errors.New("container: injected failure after readiness")
	}
	addr := func(name string) (string, error) {
		p, err := m.ctr.MappedPort(ctx, ports[name])
		if err != nil {
			return "", err
		}
		return net.JoinHostPort("127.0.0.1", p.Port()), nil
	}
	for name, dst := range map[string]*string{"imap": &m.IMAPAddr, "imaps": &m.IMAPSAddr, "submission": &m.SubmissionAddr, "mx": &m.MXAddr} {
		if *dst, err = addr(name); err != nil {
			return nil, fmt.Errorf("container: port %s: %w", name, err)
		}
	}
	a, err := addr("admin")
	if err != nil {
		return nil, err
	}
	m.AdminURL = "http://" + a
	rc, err := m.ctr.CopyFileFromContainer(ctx, "/certs/ca.pem")
	if err != nil {
		return nil, fmt.Errorf("container: reading the CA: %w", err)
	}
	m.CAPEM, err = io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	if m.Accounts, err = m.readAccounts(ctx, opts.ReadyTimeout); err != nil {
		return nil, err
	}
	var info map[string]string
	if err := m.getJSON(ctx, "/api/info", &info); err != nil {
		return nil, err
	}
	m.Domain = info["domain"]
	return m, nil
}

// readAccounts copies the --accounts file out of the container. serve
// writes it (atomically) just after its listeners answer, so it may not be
// there yet when /healthz first does.
func (m *Mailsim) readAccounts(ctx context.Context, within time.Duration) ([]account.Account, error) {
	deadline := time.Now().Add(within)
	for {
		rc, err := m.ctr.CopyFileFromContainer(ctx, accountsFile)
		if err == nil {
			var accs []account.Account
			err = json.NewDecoder(rc).Decode(&accs)
			rc.Close()
			if err != nil {
				return nil, fmt.Errorf("container: reading %s: %w", accountsFile, err)
			}
			if len(accs) == 0 {
				return nil, fmt.Errorf("container: %s lists no account", accountsFile)
			}
			return accs, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return nil, fmt.Errorf("container: copying the accounts out (%s): %w%s", accountsFile, err, m.logTail())
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TLSConfig trusts the container's CA for serverName (its certificate
// names localhost, 127.0.0.1 and the aliases).
func (m *Mailsim) TLSConfig(serverName string) *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(m.CAPEM)
	return &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12}
}

func (m *Mailsim) logTail() string {
	if m.ctr == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	rc, err := m.ctr.Logs(ctx)
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 64<<10))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	if len(b) == 0 {
		return ""
	}
	return "\ncontainer log:\n" + string(b)
}

func (m *Mailsim) request(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, m.AdminURL+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+m.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := m.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("container: %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	return resp, nil
}

func (m *Mailsim) getJSON(ctx context.Context, path string, v any) error {
	resp, err := m.request(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// SetClock moves the container's virtual clock to t. Moving it back is
// refused by mailsim and reported as an error.
func (m *Mailsim) SetClock(ctx context.Context, t time.Time) error {
	b, _ := json.Marshal(map[string]time.Time{"set": t})
	resp, err := m.request(ctx, http.MethodPost, "/api/clock", bytes.NewReader(b))
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// Published is how many audit events the container has published.
func (m *Mailsim) Published(ctx context.Context) (uint64, error) {
	var h struct {
		Events uint64 `json:"events"`
	}
	err := m.getJSON(ctx, "/healthz", &h)
	return h.Events, err
}

// Stream calls fn for every audit event from sequence from on, in order,
// until ctx ends, the container stops or fn fails.
func (m *Mailsim) Stream(ctx context.Context, from uint64, fn func(audit.Event) error) error {
	resp, err := m.request(ctx, http.MethodGet, "/api/events?from="+strconv.FormatUint(from, 10), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var fnErr error
	err = admin.ReadEvents(resp.Body, "container: event stream", func(e audit.Event) error {
		fnErr = fn(e)
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil && ctx.Err() == nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	return nil
}

// Close stops the container (SIGTERM: mailsim closes its sessions) and
// removes it and its network. Safe to call more than once.
func (m *Mailsim) Close() error {
	m.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var errs []error
		if m.ctr != nil {
			stop := 5 * time.Second
			if err := m.ctr.Terminate(ctx, testcontainers.StopTimeout(stop)); err != nil {
				errs = append(errs, err)
			}
		}
		if m.nw != nil {
			if err := m.nw.Remove(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		// Whatever a cancelled create may have left under this session.
		if m.session != "" {
			if _, err := sweep(ctx, LabelSession+"="+m.session); err != nil {
				errs = append(errs, err)
			}
		}
		m.err = errors.Join(errs...)
	})
	return m.err
}

// Sweep removes every container and network labelled as maildrill's that
// a process left behind (one killed outright) and reports how many it
// removed and how many it left to the maildrill processes still running
// (Alive): another run on the same Docker host keeps its containers.
func Sweep(ctx context.Context) (removed, inUse int, err error) {
	return sweepLeftovers(ctx, LabelManaged)
}

// sweepLeftovers is sweep for objects whose process is gone.
func sweepLeftovers(ctx context.Context, label string) (removed, inUse int, err error) {
	return sweepWhere(ctx, label, func(labels map[string]string) bool { return Alive(labels[LabelProcess]) })
}

// sweep removes every container and network carrying label.
func sweep(ctx context.Context, label string) (int, error) {
	n, _, err := sweepWhere(ctx, label, func(map[string]string) bool { return false })
	return n, err
}

// sweepWhere removes the containers and networks carrying label that
// keep (given their labels) does not keep, and counts both.
func sweepWhere(ctx context.Context, label string, keep func(map[string]string) bool) (removed, kept int, err error) {
	cli, err := dockerClient(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer cli.Close()
	var errs []error
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", label)})
	if err != nil {
		return 0, 0, err
	}
	for _, c := range cs.Items {
		if keep(c.Labels) {
			kept++
			continue
		}
		if _, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			errs = append(errs, err)
		} else {
			removed++
		}
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: client.Filters{}.Add("label", label)})
	if err != nil {
		return removed, kept, err
	}
	for _, nw := range ns.Items {
		if keep(nw.Labels) {
			kept++
			continue
		}
		if _, err := cli.NetworkRemove(ctx, nw.ID, client.NetworkRemoveOptions{}); err != nil {
			errs = append(errs, err)
		} else {
			removed++
		}
	}
	return removed, kept, errors.Join(errs...)
}

// Counts are Docker objects present: containers (running or not) and
// networks labelled as one maildrill process's, and every volume (a scratch image
// declares none; a leaked anonymous one would carry no label).
type Counts struct{ Containers, Networks, Volumes int }

// Count counts what Counts describes, for this process's objects.
func Count(ctx context.Context) (Counts, error) { return CountOwner(ctx, owner) }

// CountOwner counts the objects of another process (its
// MAILDRILL_DOCKER_OWNER); "" counts every maildrill process's.
func CountOwner(ctx context.Context, owner string) (Counts, error) {
	cli, err := dockerClient(ctx)
	if err != nil {
		return Counts{}, err
	}
	defer cli.Close()
	f := client.Filters{}.Add("label", LabelManaged)
	if owner != "" {
		f = f.Add("label", LabelOwner+"="+owner)
	}
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return Counts{}, err
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return Counts{}, err
	}
	vs, err := cli.VolumeList(ctx, client.VolumeListOptions{})
	if err != nil {
		return Counts{}, err
	}
	return Counts{len(cs.Items), len(ns.Items), len(vs.Items)}, nil
}

func dockerClient(ctx context.Context) (*client.Client, error) {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("container: docker client: %w", err)
	}
	return cli, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
