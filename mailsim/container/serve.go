package container

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/maildrill/maildrill/mailsim"
)

// ServeOptions are `maildrill serve --docker`'s: the container's options
// (Image is built or found by Serve), whether to sweep what a killed
// maildrill left behind first, and the accounts file to write.
type ServeOptions struct {
	Options
	Sweep          bool
	AccountsFile   string
	Stdout, Stderr io.Writer
}

// Serve runs the mail system in a container on a private network,
// published on 127.0.0.1, prints its banner and serves until ctx ends,
// then removes the container and its network. An accounts file it cannot
// write is a *mailsim.FieldError.
func Serve(ctx context.Context, o ServeOptions) error {
	stdout, stderr := o.Stdout, o.Stderr
	if o.Sweep {
		n, inUse, err := Sweep(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			fmt.Fprintf(stderr, "removed %d leftover containers/networks\n", n)
		}
		if inUse > 0 {
			fmt.Fprintf(stderr, "left %d containers/networks of maildrill processes still running\n", inUse)
		}
	}
	t0 := time.Now()
	fmt.Fprintln(stderr, "building or finding the mailsim image (a static go build, then docker build FROM scratch on a change; the first build takes a minute or two)")
	img, err := BuildImage(ctx, BuildOptions{})
	if err != nil {
		return err
	}
	how := "built"
	if img.Cached {
		how = "cached"
	}
	fmt.Fprintf(stderr, "image %s (%s in %s)\n", img.Tag, how, img.Took.Round(time.Millisecond))
	opts := o.Options
	opts.Image = img.Tag
	m, err := Start(ctx, opts)
	if err != nil {
		return err
	}
	defer m.Close()
	fmt.Fprintf(stdout, "mailsim container ready in %s (start-to-ready %s): %d accounts, network %s, hosts %s\n\n",
		time.Since(t0).Round(time.Millisecond), m.StartToReady.Round(time.Millisecond), len(m.Accounts), m.NetworkName, strings.Join(Aliases, ", "))
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
	if o.AccountsFile != "" {
		if err := mailsim.WriteAccounts(o.AccountsFile, m.Accounts); err != nil {
			return &mailsim.FieldError{Field: "AccountsFile", Op: "write", Err: err}
		}
		fmt.Fprintf(stdout, "all accounts: %s\n", o.AccountsFile)
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
