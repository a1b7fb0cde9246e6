package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/maildrill/maildrill/internal/syslogsend"
	"github.com/maildrill/maildrill/scenarios/report"
)

// syslogToFlags stream the audit trail to a network syslog receiver (run,
// test, serve).
type syslogToFlags struct {
	url, ca  string
	insecure bool
	buffer   int
}

func (f *syslogToFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.url, "syslog-to", "", "stream the audit trail as RFC 5424 syslog (Dovecot/Postfix mail-log messages) to udp://, tcp:// or tls://HOST:PORT, e.g. a SIEM's collector; the lines delivered and lost are counted on stderr at the end")
	fl.StringVar(&f.ca, "syslog-ca", "", "trust the CA certificates in this PEM FILE for a --syslog-to tls:// receiver (default: the system's)")
	fl.BoolVar(&f.insecure, "syslog-insecure", false, "do not check the certificate of a --syslog-to tls:// receiver")
	fl.IntVar(&f.buffer, "syslog-buffer", syslogsend.DefaultBuffer, "messages held for a slow or absent --syslog-to receiver; beyond that the oldest are dropped and counted as lost")
}

// syslogFlagOf names the flag behind each syslogsend.Config field.
var syslogFlagOf = map[string]string{"url": "--syslog-to", "ca": "--syslog-ca", "insecure": "--syslog-insecure", "buffer": "--syslog-buffer", "facility": "--syslog-to"}

// open starts the sender (it connects when the first message comes); nil
// without --syslog-to. Bad flags are a usageError naming the flag. With
// live, the receiver going away and coming back is told there as it
// happens (serve: a writer safe for use from another goroutine).
func (f *syslogToFlags) open(stderr, live io.Writer) (*syslogTo, error) {
	if f.buffer < 1 {
		return nil, usageError{fmt.Errorf("--syslog-buffer %d: hold at least one message", f.buffer)}
	}
	if f.url == "" {
		if f.ca != "" || f.insecure {
			return nil, usageError{errors.New("--syslog-ca and --syslog-insecure need --syslog-to tls://HOST:PORT")}
		}
		return nil, nil
	}
	cfg := syslogsend.Config{URL: f.url, CAFile: f.ca, Insecure: f.insecure, Buffer: f.buffer}
	if live != nil {
		name := f.url
		if ep, err := syslogsend.ParseURL(f.url); err == nil {
			name = ep.String()
		}
		cfg.Notify = func(m string) { fmt.Fprintf(live, "syslog-to %s: %s\n", name, m) }
	}
	s, err := syslogsend.Open(cfg)
	var ce *syslogsend.ConfigError
	if errors.As(err, &ce) {
		return nil, usageError{fmt.Errorf("%s: %w", syslogFlagOf[ce.Field], ce.Err)}
	}
	if err != nil {
		return nil, usageError{fmt.Errorf("--syslog-to: %w", err)}
	}
	return &syslogTo{Sender: s, stderr: stderr}, nil
}

// syslogTo is a command's network syslog output.
type syslogTo struct {
	*syslogsend.Sender
	stderr io.Writer
	final  *syslogsend.Stats
}

// sender is the sender, nil for none.
func (t *syslogTo) sender() *syslogsend.Sender {
	if t == nil {
		return nil
	}
	return t.Sender
}

// finish drains the sender once and prints its account on stderr:
// "syslog-to tcp://…: N lines delivered, M lost (why)". Nil without
// --syslog-to.
func (t *syslogTo) finish() *syslogsend.Stats {
	if t == nil {
		return nil
	}
	if t.final == nil {
		st := t.Close()
		t.final = &st
		fmt.Fprintln(t.stderr, st.String())
	}
	return t.final
}

// delivery is the account for the JSON report (after finish); nil
// without --syslog-to.
func (t *syslogTo) delivery() *report.Delivery {
	st := t.finish()
	if st == nil {
		return nil
	}
	return &report.Delivery{Endpoint: st.Endpoint, Sent: st.Sent, Delivered: st.Delivered, Lost: st.Lost,
		LostBufferFull: st.LostBufferFull, LostUnsent: st.LostUnsent, LostTooLarge: st.LostTooLarge,
		Connections: st.Connections, LastError: st.LastError}
}
