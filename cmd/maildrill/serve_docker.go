package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/container"
)

// dockerServeFlags are serve's container options.
type dockerServeFlags struct {
	enabled bool
	sweep   bool
}

func registerDockerServeFlags(fl *pflag.FlagSet, f *dockerServeFlags) {
	fl.BoolVar(&f.enabled, "docker", false, "run mailsim in a Docker container (image built locally; see docs/containers.md)")
	fl.BoolVar(&f.sweep, "docker-sweep", false, "with --docker: first remove containers and networks a killed maildrill left behind")
}

// runServeDocker is `serve --docker`: the same mail system in a container
// on a private network, published on 127.0.0.1, until Ctrl-C.
func runServeDocker(ctx context.Context, f *serveFlags, stdout, stderr io.Writer) error {
	if f.auditLog != "" || f.certDir != "" || f.proxyProtocol || f.virtualClock || len(f.adminHosts) > 0 || f.adminToken != "" {
		return usageError{fmt.Errorf("--docker does not take --audit-log, --cert-dir, --proxy-protocol, --virtual-clock, --admin-host or --admin-token: the audit trail is on the admin API (GET /api/events, token printed below)")}
	}
	if f.docker.sweep {
		n, err := container.Sweep(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			fmt.Fprintf(stderr, "removed %d leftover containers/networks\n", n)
		}
	}
	t0 := time.Now()
	fmt.Fprintln(stderr, "building or finding the mailsim image (a static go build, then docker build FROM scratch on a change; the first build takes a minute or two)")
	img, err := container.BuildImage(ctx, container.BuildOptions{})
	if err != nil {
		return err
	}
	how := "built"
	if img.Cached {
		how = "cached"
	}
	fmt.Fprintf(stderr, "image %s (%s in %s)\n", img.Tag, how, img.Took.Round(time.Millisecond))
	opts := container.Options{Image: img.Tag, Seed: f.seed, Users: f.users, Messages: f.messages, AllowPlaintext: f.allowPlaintext, RunID: f.runID}
	if f.start != "" {
		t, err := time.Parse(time.RFC3339, f.start)
		if err != nil {
			return usageError{fmt.Errorf("--start %q: want an RFC 3339 time", f.start)}
		}
		if f.speed != 1 {
			return usageError{fmt.Errorf("--docker with --start gives a virtual clock (POST /api/clock); --speed is not supported")}
		}
		opts.Start = t
	}
	m, err := container.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer m.Close()
	fmt.Fprintf(stdout, "mailsim container ready in %s (start-to-ready %s): %d accounts, network %s, hosts %s\n\n",
		time.Since(t0).Round(time.Millisecond), m.StartToReady.Round(time.Millisecond), len(m.Accounts), m.NetworkName, strings.Join(container.Aliases, ", "))
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  IMAP\t%s\tSTARTTLS\n  IMAPS\t%s\timplicit TLS\n  submission\t%s\tSMTP AUTH, STARTTLS\n  MX\t%s\tinbound SMTP\n  admin API\t%s\t%s/healthz\n",
		m.IMAPAddr, m.IMAPSAddr, m.SubmissionAddr, m.MXAddr, strings.TrimPrefix(m.AdminURL, "http://"), m.AdminURL)
	tw.Flush()
	ca, err := os.CreateTemp("", "mailsim-ca-*.pem")
	if err == nil {
		ca.Write(m.CAPEM)
		ca.Close()
		defer os.Remove(ca.Name())
		fmt.Fprintf(stdout, "\nTLS: trust the CA in %s\n", ca.Name())
	}
	fmt.Fprintf(stdout, "admin token: %s  (send Authorization: Bearer <token>)\n", m.Token)
	if f.accounts != "" {
		if err := mailsim.WriteAccounts(f.accounts, m.Accounts); err != nil {
			return usageError{fmt.Errorf("--accounts: %w", err)}
		}
		fmt.Fprintf(stdout, "all accounts: %s\n", f.accounts)
	}
	for _, a := range m.Accounts {
		if a.Kind == "person" {
			fmt.Fprintf(stdout, "\nlog in, e.g.: %s / %s (%s)\n", a.Address, a.Password, a.Role)
			break
		}
	}
	fmt.Fprintln(stdout, "\nCtrl-C to stop (the container and its network are removed).")
	<-ctx.Done()
	fmt.Fprintln(stderr, "\nstopping the container...")
	t1 := time.Now()
	err = m.Close()
	fmt.Fprintf(stderr, "stopped and removed in %s\n", time.Since(t1).Round(time.Millisecond))
	return err
}
