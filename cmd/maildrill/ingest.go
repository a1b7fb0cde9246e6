package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/maildrill/maildrill/detectors"
	"github.com/maildrill/maildrill/internal/outpath"
	"github.com/maildrill/maildrill/internal/termsafe"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/dovecot"
	"github.com/maildrill/maildrill/mailsim/ingest"
	"github.com/maildrill/maildrill/scenarios"
	"github.com/spf13/cobra"
)

// ingestFlags are `maildrill ingest`'s flags.
type ingestFlags struct {
	syslog, file, tlsCert, tlsKey, logTZ string
	fromStart, verbose                   bool
	alerts, events, runID                string
	rulesFlags
}

// newIngestCmd reads a mail server's own logs (syslog or a file), turns
// its Dovecot and Postfix lines into audit events and runs the rules over
// them, printing each alert as it fires.
func newIngestCmd() *cobra.Command {
	var f ingestFlags
	cmd := &cobra.Command{
		Use:   "ingest --syslog ADDR | --file PATH",
		Short: "Receive a mail server's syslog (or follow its log file), parse its Dovecot and Postfix lines, run the rules and print alerts as JSON lines",
		Long: `Receives syslog (RFC 3164 and RFC 5424; on TCP octet-counting or newline
framing, told apart per message) on UDP and TCP at ADDR, or one transport
with udp://ADDR, tcp://ADDR, tls://ADDR (with --tls-cert and --tls-key),
and/or follows a log file like tail -F (from its end, or --from-start;
through rotation and truncation). Dovecot and Postfix lines are parsed into
audit events (docs/audit-schema.md), the rules (the built-in pack plus
any --rules, or only them with --no-pack) run over them in event time, and each alert is printed on stdout
as one JSON object as it fires. Runs until Ctrl-C or --deadline, then
reads what was already received, flushes the correlations and prints on
stderr how many lines came in, how many events they gave and the lines it
could not understand, with samples. Traditional timestamps carry no year
and no zone: they are read in --log-tz, in the current year (a December
line read in January is last year's). See docs/ingest.md.`,
		Example: `  maildrill ingest --syslog 127.0.0.1:5514                     # rsyslog: *.* @@127.0.0.1:5514
  maildrill ingest --file /var/log/mail.log --alerts alerts.jsonl --events events.jsonl
  maildrill ingest --syslog tls://0.0.0.0:6514 --tls-cert cert.pem --tls-key key.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runIngest(cmd, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.syslog, "syslog", "", "receive syslog at HOST:PORT (UDP and TCP), or udp://, tcp://, tls://HOST:PORT")
	fl.StringVar(&f.file, "file", "", "follow this log file (Dovecot's log_path, Postfix's maillog_file, or a syslog file such as /var/log/mail.log)")
	fl.BoolVar(&f.fromStart, "from-start", false, "read the --file from its start instead of its end")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "server certificate (PEM) of a tls:// listener")
	fl.StringVar(&f.tlsKey, "tls-key", "", "its private key (PEM)")
	fl.StringVar(&f.logTZ, "log-tz", "Local", "time zone of timestamps that carry none (traditional syslog, log files): an IANA name, UTC or Local")
	f.rulesFlags.register(cmd)
	fl.StringVar(&f.alerts, "alerts", "", "also write the alerts as JSON lines to FILE")
	fl.StringVar(&f.events, "events", "", "write the audit events as JSON lines to FILE")
	fl.StringVar(&f.runID, "run-id", "", "label every event with this run id (labels.run_id; event ids ID-N)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "name the rules that cannot fire (logsource not mapped)")
	return cmd
}

func (f *ingestFlags) config() (ingest.Config, error) {
	cfg := ingest.Config{Syslog: f.syslog, File: f.file, FromStart: f.fromStart}
	if f.syslog == "" && f.file == "" {
		return cfg, errors.New("give --syslog ADDR or --file PATH (or both)")
	}
	if f.file != "" {
		if st, err := os.Stat(f.file); err == nil && st.IsDir() {
			return cfg, fmt.Errorf("--file %s: a directory, not a log file", f.file)
		} else if err == nil && !st.Mode().IsRegular() {
			return cfg, fmt.Errorf("--file %s: %s, not a log file (a pipe from rsyslog: use --syslog)", f.file, ingest.FileKind(st.Mode()))
		}
	}
	var transports []string
	if f.syslog != "" {
		var err error
		if transports, _, err = ingest.ParseAddr(f.syslog); err != nil {
			return cfg, fmt.Errorf("--syslog: %w", err)
		}
	}
	isTLS := len(transports) == 1 && transports[0] == "tls"
	switch {
	case isTLS && (f.tlsCert == "" || f.tlsKey == ""):
		return cfg, fmt.Errorf("--syslog %s: tls:// needs --tls-cert and --tls-key", f.syslog)
	case !isTLS && (f.tlsCert != "" || f.tlsKey != ""):
		return cfg, errors.New("--tls-cert and --tls-key serve a tls:// --syslog address only")
	case isTLS:
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return cfg, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", f.tlsCert, f.tlsKey, err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	loc, err := time.LoadLocation(f.logTZ)
	if err != nil {
		return cfg, fmt.Errorf("--log-tz %q: %w", f.logTZ, err)
	}
	cfg.Parser = dovecot.Options{Location: loc}
	return cfg, nil
}

// createOutput opens an output file named by flag; nil when not asked for.
func createOutput(flag, path string) (*os.File, *bufio.Writer, error) {
	if path == "" {
		return nil, nil, nil
	}
	file, err := os.Create(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", flag, err)
	}
	return file, bufio.NewWriter(file), nil
}

func runIngest(cmd *cobra.Command, f *ingestFlags) error {
	cfg, err := f.config()
	if err != nil {
		return usageError{err}
	}
	if f.runID != "" {
		if err := audit.CheckRunID(f.runID); err != nil {
			return usageError{fmt.Errorf("--run-id %w", err)}
		}
	}
	// --events naming the followed log truncated it.
	if err := checkFiles(append(f.rulesFlags.files(), outpath.File{Flag: "--file", Path: f.file}, outpath.File{Flag: "--tls-cert", Path: f.tlsCert}, outpath.File{Flag: "--tls-key", Path: f.tlsKey}),
		[]outpath.File{{Flag: "--alerts", Path: f.alerts}, {Flag: "--events", Path: f.events}}); err != nil {
		return err
	}
	pack, err := f.load()
	if err != nil {
		return err
	}
	eng, err := detectors.NewEngine(pack.Rules, pack.Config)
	if err != nil {
		return usageError{err}
	}
	stderr := cmd.ErrOrStderr()
	detectors.ReportUnfireable(stderr, eng, f.verbose, "", "")
	alertsFile, alertsW, err := createOutput("--alerts", f.alerts)
	if err != nil {
		return usageError{err}
	}
	eventsFile, eventsW, err := createOutput("--events", f.events)
	if err != nil {
		if alertsFile != nil {
			alertsFile.Close()
		}
		return usageError{err}
	}
	// An output that cannot be written (a full disk) stops the listener:
	// every later alert would be lost.
	ctx, stop := context.WithCancelCause(cmd.Context())
	defer stop(nil)
	out := &ingestOutput{stdout: cmd.OutOrStdout(), alerts: alertsW, events: eventsW, runID: f.runID, stop: stop}
	in, err := ingest.Start(cmd.Context(), cfg, func(e *audit.Event) { out.event(eng, e) })
	if err != nil {
		return usageError{err}
	}
	tcp, udp := in.Addr()
	var where []string
	if tcp != nil {
		proto := "tcp"
		if cfg.TLS != nil {
			proto = "tls"
		}
		where = append(where, proto+" "+tcp.String())
	}
	if udp != nil {
		where = append(where, "udp "+udp.String())
	}
	if f.file != "" {
		where = append(where, "following "+f.file)
	}
	fmt.Fprintf(stderr, "ingest: %s\n", strings.Join(where, ", "))
	if f.file != "" {
		// Followed as tail -F does, but a path that names nothing is more
		// often a typo than a log about to appear: say so.
		if _, err := os.Stat(f.file); errors.Is(err, fs.ErrNotExist) {
			what := "does not exist yet: waiting for it"
			if _, err := os.Stat(filepath.Dir(f.file)); errors.Is(err, fs.ErrNotExist) {
				what = "does not exist, nor does its directory: waiting for them"
			}
			fmt.Fprintf(stderr, "ingest: %s %s\n", termsafe.String(f.file), what)
		}
	}

	<-ctx.Done()
	in.Close()
	for _, a := range eng.Flush() {
		out.alert(a)
	}
	for _, w := range []struct {
		flag string
		f    *os.File
		w    *bufio.Writer
	}{{"--alerts", alertsFile, alertsW}, {"--events", eventsFile, eventsW}} {
		if w.f == nil {
			continue
		}
		if err := errors.Join(w.w.Flush(), w.f.Close()); err != nil && out.err == nil {
			out.err = fmt.Errorf("%s: %w", w.flag, err)
		}
	}
	st := in.Stats()
	st.Summary(stderr)
	fmt.Fprintf(stderr, "ingest: %d alerts\n", out.nalerts)
	// Stopping (Ctrl-C, --deadline) is how a listener ends: not an error.
	return out.err
}

// ingestOutput numbers the events and writes them and their alerts; it is
// called from the Ingester's one delivering goroutine, then after Close.
type ingestOutput struct {
	stdout         io.Writer
	alerts, events *bufio.Writer
	runID          string
	seq            uint64
	nalerts        int
	err            error
	stop           context.CancelCauseFunc
}

// fail keeps the first output error and stops the listener.
func (o *ingestOutput) fail(err error) {
	if o.err != nil {
		return
	}
	o.err = err
	if o.stop != nil {
		o.stop(err)
	}
}

func (o *ingestOutput) event(eng *detectors.Engine, e *audit.Event) {
	o.seq++
	e.Sequence = o.seq
	e.ID = strconv.FormatUint(o.seq, 10)
	if o.runID != "" {
		e.RunID = o.runID
		e.ID = o.runID + "-" + e.ID
	}
	if o.events != nil {
		b, err := json.Marshal(e)
		if err == nil {
			_, err = o.events.Write(append(b, '\n'))
		}
		if err != nil {
			o.fail(fmt.Errorf("--events: %w", err))
		}
	}
	for _, a := range eng.Process(scenarios.AuditEvent(e)) {
		o.alert(a)
	}
}

func (o *ingestOutput) alert(a detectors.Alert) {
	o.nalerts++
	b, err := json.Marshal(a)
	if err != nil {
		o.fail(fmt.Errorf("alert of %s: %w", a.Title, err))
		return
	}
	b = append(b, '\n')
	if _, err := o.stdout.Write(b); err != nil {
		o.fail(fmt.Errorf("writing the alerts: %w", err))
	}
	if o.alerts != nil {
		if _, err := o.alerts.Write(b); err != nil {
			o.fail(fmt.Errorf("--alerts: %w", err))
		}
	}
}
