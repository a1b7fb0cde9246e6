// Command imapbench measures an IMAP server's bulk download throughput and
// the latency a small request sees meanwhile: N connections each download a
// mailbox whole (UID FETCH 1:* BODY.PEEK[]) over and over, while a probe
// connection times one-message FETCH n (FLAGS) requests.
//
// It speaks plain IMAP, IMAPS or STARTTLS to any server, so that mailsim and
// Dovecot can be compared with the same client on the same corpus (see
// scripts/bench-dovecot.sh and docs/performance.md). It prints one JSON
// object on stdout and a human summary on stderr.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "imapbench:", err)
		os.Exit(1)
	}
}

type options struct {
	addr        string
	security    string // plain, tls, starttls
	caFile      string
	serverName  string
	user, pass  string
	accounts    string
	mailbox     string
	conns       int
	sameBox     bool
	rounds      int
	duration    time.Duration
	probe       bool
	probeEvery  time.Duration
	probeLog    string // --probe-log FILE: each probe's send time and round trip
	label       string
	parts       bool
	binary      string // --binary PART: UID FETCH 1:* BINARY.PEEK[PART]
	skipAccount int
	rate        float64 // --rate: MB/s for all bulk connections together; 0: unpaced
	pace        *pacer
	fill        int   // --fill N: APPEND N messages and exit
	fillSize    int64 // approximate size of each appended message
	fillSeed    uint64
}

// Account is a login, as in `maildrill serve --accounts FILE`. imapbench
// is an outside client: it imports no maildrill package and reads only the
// fields a login needs, so it loads any server's list of {address,
// password} (kind optional) rather than depending on mailsim/account.
type Account struct {
	Address  string `json:"address"`
	Password string `json:"password"`
	Kind     string `json:"kind,omitempty"`
}

// Result is what one run measured.
type Result struct {
	Label       string   `json:"label"`
	Addr        string   `json:"addr"`
	Mailbox     string   `json:"mailbox"`
	Users       []string `json:"users"`
	Conns       int      `json:"conns"`
	Mode        string   `json:"mode"` // "rounds=N" or "duration=D"
	Messages    int64    `json:"messages"`
	Bytes       int64    `json:"bytes"`
	Seconds     float64  `json:"seconds"`
	MBPerSecond float64  `json:"mb_per_s"` // 10^6 bytes of message data per second
	// ClientCPU is the CPU time this client used while it measured, user
	// and system; MachineCPU the busy time of every core of the machine
	// meanwhile (Linux's /proc/stat): the server's, the kernel's for both,
	// and anything else running. Seconds; absent where not measured.
	ClientCPU  float64 `json:"client_cpu_s,omitempty"`
	MachineCPU float64 `json:"machine_cpu_s,omitempty"`
	Probe      *Probe  `json:"probe,omitempty"`
}

// Probe summarises the probe's round-trip times, in milliseconds.
type Probe struct {
	Count  int     `json:"count"`
	Errors int     `json:"errors"`
	P50    float64 `json:"p50_ms"`
	P90    float64 `json:"p90_ms"`
	P99    float64 `json:"p99_ms"`
	Max    float64 `json:"max_ms"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "imapbench",
		Short: "Measure an IMAP server's bulk download throughput and probe latency",
		Long: `imapbench opens --conns connections, each logged in as a different account
(or the same one with --same-mailbox), which download --mailbox whole with
UID FETCH 1:* BODY.PEEK[] (or each attachment part with --parts, or one
part decoded with --binary PART), for
--rounds full passes or for --duration. With --probe, another connection
EXAMINEs the mailbox of the first account and times FETCH n (FLAGS)
every --probe-every meanwhile. Message bytes received are counted
(literal data only); MB is 10^6 bytes.

With --fill N it measures nothing: it APPENDs N generated messages (a
short text and a PDF attachment, base64, about --fill-size bytes each; the
same --fill-seed gives the same bytes) to --mailbox of the first account,
so that two servers can be given the same APPENDed mail.`,
		Example: `  maildrill serve --allow-plaintext-auth --users 8 --messages 400 --accounts acc.json &
  imapbench --addr 127.0.0.1:1143 --accounts acc.json --conns 4 --duration 10s --probe`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.fill > 0 {
				fr, err := fill(cmd.Context(), o)
				if err != nil {
					return err
				}
				b, _ := json.Marshal(fr)
				fmt.Fprintln(stdout, string(b))
				fmt.Fprintf(stderr, "appended %d messages (%.1f MB) to %s in %.2fs\n", fr.Messages, float64(fr.Bytes)/1e6, fr.Mailbox, fr.Seconds)
				return nil
			}
			res, err := bench(cmd.Context(), o)
			if err != nil {
				return err
			}
			b, _ := json.Marshal(res)
			fmt.Fprintln(stdout, string(b))
			fmt.Fprintln(stderr, res.human())
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.addr, "addr", "127.0.0.1:1143", "server address")
	fl.StringVar(&o.security, "security", "plain", "plain, tls (implicit) or starttls")
	fl.StringVar(&o.caFile, "ca", "", "CA certificate (PEM) to trust, for tls and starttls")
	fl.StringVar(&o.serverName, "server-name", "", "TLS server name (default: the host of --addr)")
	fl.StringVar(&o.user, "user", "", "login name (with --password), instead of --accounts")
	fl.StringVar(&o.pass, "password", "", "password for --user")
	fl.StringVar(&o.accounts, "accounts", "", "accounts JSON file as written by 'maildrill serve --accounts'; person accounts are used in order")
	fl.IntVar(&o.skipAccount, "skip-accounts", 0, "skip this many person accounts of --accounts")
	fl.StringVar(&o.mailbox, "mailbox", "INBOX", "mailbox to download")
	fl.IntVar(&o.conns, "conns", 1, "bulk download connections (0 with --probe: probe alone, e.g. from another process)")
	fl.BoolVar(&o.sameBox, "same-mailbox", false, "every connection downloads the first account's mailbox")
	fl.IntVar(&o.rounds, "rounds", 0, "full passes per connection (0: run for --duration)")
	fl.DurationVar(&o.duration, "duration", 10*time.Second, "how long to download, when --rounds is 0")
	fl.Float64Var(&o.rate, "rate", 0, "pace the bulk connections together to at most this many MB/s of message data (0: as fast as the server sends), e.g. to compare two servers' probes at one throughput")
	fl.BoolVar(&o.probe, "probe", false, "time FETCH n (FLAGS) on another connection during the download")
	fl.DurationVar(&o.probeEvery, "probe-every", 20*time.Millisecond, "pause between probes")
	fl.StringVar(&o.probeLog, "probe-log", "", "write each probe's send time (Unix ns) and round trip (µs) to this file, one line each, tab-separated")
	fl.BoolVar(&o.parts, "parts", false, "download each message's non-text parts (BODY.PEEK[n]) instead of whole messages")
	fl.StringVar(&o.binary, "binary", "", "download part PART of every message decoded (UID FETCH 1:* BINARY.PEEK[PART], RFC 3516), e.g. 2")
	fl.IntVar(&o.fill, "fill", 0, "instead of measuring: APPEND this many messages with a PDF attachment to --mailbox of the first account (created if missing), then exit")
	fl.Int64Var(&o.fillSize, "fill-size", 100<<10, "approximate size in bytes of each --fill message (the attachment, base64, makes most of it)")
	fl.Uint64Var(&o.fillSeed, "fill-seed", 1, "seed of the --fill messages: the same seed gives the same bytes to every server")
	fl.StringVar(&o.label, "label", "", "name of the server, echoed in the output")
	cmd.SetArgs(args)
	cmd.SetOut(stderr)
	cmd.SetErr(stderr)
	return cmd.ExecuteContext(ctx)
}

func (r *Result) human() string {
	s := fmt.Sprintf("%s: %d conn(s), %d messages, %.1f MB in %.2fs = %.1f MB/s",
		cmp(r.Label, r.Addr), r.Conns, r.Messages, float64(r.Bytes)/1e6, r.Seconds, r.MBPerSecond)
	if p := r.Probe; p != nil {
		s += fmt.Sprintf("; probe FETCH n (FLAGS) ×%d: p50 %.2f ms, p99 %.2f ms, max %.2f ms", p.Count, p.P50, p.P99, p.Max)
		if p.Errors > 0 {
			s += fmt.Sprintf(" (%d errors)", p.Errors)
		}
	}
	return s
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (o *options) logins() ([]Account, error) {
	if o.accounts == "" {
		if o.user == "" {
			return nil, errors.New("give --user and --password, or --accounts FILE")
		}
		return []Account{{Address: o.user, Password: o.pass}}, nil
	}
	b, err := os.ReadFile(o.accounts)
	if err != nil {
		return nil, fmt.Errorf("--accounts: %w", err)
	}
	var all []Account
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, fmt.Errorf("--accounts %s: want a JSON array of {address, password}: %w", o.accounts, err)
	}
	var out []Account
	for _, a := range all {
		if a.Kind == "" || a.Kind == "person" {
			out = append(out, a)
		}
	}
	if o.skipAccount >= len(out) {
		return nil, fmt.Errorf("--accounts %s: %d person accounts, --skip-accounts %d", o.accounts, len(out), o.skipAccount)
	}
	return out[o.skipAccount:], nil
}

func (o *options) dial() (*imapclient.Client, error) {
	var tc *tls.Config
	if o.security != "plain" {
		tc = &tls.Config{ServerName: o.serverName, MinVersion: tls.VersionTLS12}
		if tc.ServerName == "" {
			tc.ServerName, _, _ = strings.Cut(o.addr, ":")
		}
		if o.caFile != "" {
			pem, err := os.ReadFile(o.caFile)
			if err != nil {
				return nil, fmt.Errorf("--ca: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--ca %s: no PEM certificate", o.caFile)
			}
		}
	}
	opts := &imapclient.Options{TLSConfig: tc}
	switch o.security {
	case "plain":
		return imapclient.DialInsecure(o.addr, opts)
	case "tls":
		return imapclient.DialTLS(o.addr, opts)
	case "starttls":
		return imapclient.DialStartTLS(o.addr, opts)
	}
	return nil, fmt.Errorf("--security %q: want plain, tls or starttls", o.security)
}

func (o *options) open(a Account) (*imapclient.Client, uint32, error) {
	c, err := o.dial()
	if err != nil {
		return nil, 0, fmt.Errorf("connect %s: %w", o.addr, err)
	}
	if err := c.Login(a.Address, a.Password).Wait(); err != nil {
		c.Close()
		return nil, 0, fmt.Errorf("login %s: %w", a.Address, err)
	}
	sd, err := c.Select(o.mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		c.Close()
		return nil, 0, fmt.Errorf("%s: EXAMINE %s: %w", a.Address, o.mailbox, err)
	}
	return c, sd.NumMessages, nil
}

func bench(ctx context.Context, o *options) (*Result, error) {
	if o.conns < 0 || o.conns == 0 && (!o.probe || o.rounds > 0) {
		return nil, fmt.Errorf("--conns must be at least 1 (0 only with --probe and --duration: probe alone)")
	}
	if o.rate < 0 {
		return nil, fmt.Errorf("--rate %g: want MB/s, 0 or more (0: unpaced)", o.rate)
	}
	accs, err := o.logins()
	if err != nil {
		return nil, err
	}
	res := &Result{Label: o.label, Addr: o.addr, Mailbox: o.mailbox, Conns: o.conns}
	if o.rounds > 0 {
		res.Mode = fmt.Sprintf("rounds=%d", o.rounds)
	} else {
		res.Mode = "duration=" + o.duration.String()
	}

	// Connect and EXAMINE everything first, so that timing covers only
	// the downloads.
	type worker struct {
		c     *imapclient.Client
		count uint32
	}
	workers := make([]worker, o.conns)
	defer func() {
		for _, w := range workers {
			if w.c != nil {
				w.c.Close()
			}
		}
	}()
	for i := range workers {
		a := accs[i%len(accs)]
		if o.sameBox {
			a = accs[0]
		}
		c, n, err := o.open(a)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, fmt.Errorf("%s: %s is empty", a.Address, o.mailbox)
		}
		workers[i] = worker{c, n}
		res.Users = append(res.Users, a.Address)
	}
	var probeC *imapclient.Client
	var probeN uint32
	if o.probe {
		if probeC, probeN, err = o.open(accs[0]); err != nil {
			return nil, err
		}
		defer probeC.Close()
	}

	var bytes, msgs atomic.Int64
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.rounds == 0 {
		runCtx, cancel = context.WithTimeout(runCtx, o.duration)
		defer cancel()
	}
	start := time.Now()
	if o.rate > 0 {
		o.pace = &pacer{start: start, bytesPerSec: o.rate * 1e6}
	}
	cpu0, cpuOK := processCPU()
	mcpu0, mcpuOK := machineCPU()
	var wg sync.WaitGroup
	errs := make([]error, len(workers))
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Closing the connection is what interrupts a download in
			// progress when the duration is over.
			stop := context.AfterFunc(runCtx, func() { w.c.Close() })
			defer stop()
			for r := 0; o.rounds == 0 || r < o.rounds; r++ {
				if err := o.download(w.c, &bytes, &msgs); err != nil {
					if runCtx.Err() == nil {
						errs[i] = fmt.Errorf("connection %d (%s): %w", i, res.Users[i], err)
					}
					return
				}
				if runCtx.Err() != nil {
					return
				}
			}
		}()
	}

	var lat []time.Duration
	var sent []time.Time
	var probeErrs int
	probeDone := make(chan struct{})
	if probeC != nil {
		bulkDone := make(chan struct{})
		go func() {
			wg.Wait()
			if len(workers) == 0 { // probe alone, for --duration
				<-runCtx.Done()
			}
			close(bulkDone)
		}()
		go func() {
			defer close(probeDone)
			t := time.NewTicker(o.probeEvery)
			defer t.Stop()
			for n := uint32(0); ; n++ {
				select {
				case <-bulkDone:
					return
				case <-ctx.Done():
					return
				case <-t.C:
				}
				seq := n%probeN + 1
				t0 := time.Now()
				_, err := probeC.Fetch(imap.SeqSetNum(seq), &imap.FetchOptions{Flags: true}).Collect()
				d := time.Since(t0)
				if err != nil {
					probeErrs++
					continue
				}
				lat = append(lat, d)
				sent = append(sent, t0)
			}
		}()
	} else {
		close(probeDone)
	}
	wg.Wait()
	if len(workers) == 0 {
		<-runCtx.Done()
	}
	end := time.Since(start)
	if cpu1, ok := processCPU(); ok && cpuOK {
		res.ClientCPU = round3((cpu1 - cpu0).Seconds())
	}
	if mcpu1, ok := machineCPU(); ok && mcpuOK {
		res.MachineCPU = round3((mcpu1 - mcpu0).Seconds())
	}
	if o.rounds == 0 {
		end = min(end, o.duration)
	}
	<-probeDone
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res.Bytes, res.Messages = bytes.Load(), msgs.Load()
	res.Seconds = end.Seconds()
	if res.Seconds > 0 {
		res.MBPerSecond = round2(float64(res.Bytes) / 1e6 / res.Seconds)
	}
	res.Seconds = round2(res.Seconds)
	if probeC != nil {
		if o.probeLog != "" {
			if err := writeProbeLog(o.probeLog, sent, lat); err != nil {
				return nil, err
			}
		}
		res.Probe = summarize(lat, probeErrs)
	}
	return res, nil
}

// A pacer holds the bulk connections to a rate, together: a reader that
// is ahead of it sleeps, so the server's writes block on a full socket as
// they would for a client on a slower link.
type pacer struct {
	start       time.Time
	bytesPerSec float64
}

// wait sleeps until total bytes are due at the rate, when that is more
// than a millisecond away (shorter sleeps cost more than they pace).
func (p *pacer) wait(total int64) {
	due := p.start.Add(time.Duration(float64(total) / p.bytesPerSec * float64(time.Second)))
	if d := time.Until(due); d > time.Millisecond {
		time.Sleep(d)
	}
}

// download fetches the mailbox once, counting message bytes.
func (o *options) download(c *imapclient.Client, bytes, msgs *atomic.Int64) error {
	all := imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}
	if o.binary != "" {
		part, err := parsePart(o.binary)
		if err != nil {
			return err
		}
		return o.fetch(c, all, &imap.FetchOptions{UID: true, BinarySection: []*imap.FetchItemBinarySection{{Part: part, Peek: true}}}, bytes, msgs)
	}
	if !o.parts {
		return o.fetch(c, all, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}, bytes, msgs)
	}
	// Attachment parts: find them with BODYSTRUCTURE, then fetch each
	// message's parts in one command per message.
	list, err := c.Fetch(all, &imap.FetchOptions{UID: true, BodyStructure: &imap.FetchItemBodyStructure{}}).Collect()
	if err != nil {
		return err
	}
	for _, m := range list {
		mp, ok := m.BodyStructure.(*imap.BodyStructureMultiPart)
		if !ok {
			continue
		}
		var secs []*imap.FetchItemBodySection
		for i, ch := range mp.Children {
			if sp, ok := ch.(*imap.BodyStructureSinglePart); ok && !strings.EqualFold(sp.Type, "text") {
				secs = append(secs, &imap.FetchItemBodySection{Part: []int{i + 1}, Peek: true})
			}
		}
		if len(secs) == 0 {
			continue
		}
		if err := o.fetch(c, imap.UIDSetNum(m.UID), &imap.FetchOptions{UID: true, BodySection: secs}, bytes, msgs); err != nil {
			return err
		}
	}
	return nil
}

func (o *options) fetch(c *imapclient.Client, set imap.NumSet, opts *imap.FetchOptions, bytes, msgs *atomic.Int64) error {
	cmd := c.Fetch(set, opts)
	buf := make([]byte, 64<<10)
	for {
		m := cmd.Next()
		if m == nil {
			break
		}
		for {
			item := m.Next()
			if item == nil {
				break
			}
			var lit imap.LiteralReader
			switch it := item.(type) {
			case imapclient.FetchItemDataBodySection:
				lit = it.Literal
			case imapclient.FetchItemDataBinarySection:
				lit = it.Literal
			}
			if lit == nil {
				continue
			}
			for {
				n, err := lit.Read(buf)
				total := bytes.Add(int64(n))
				if o.pace != nil {
					o.pace.wait(total)
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					cmd.Close()
					return err
				}
			}
		}
		msgs.Add(1)
	}
	return cmd.Close()
}

// writeProbeLog writes one line per probe: when it was sent (Unix time,
// nanoseconds) and its round trip (microseconds), to line a slow probe up
// with what the server or the machine did then (a collector's log, perf).
func writeProbeLog(path string, sent []time.Time, lat []time.Duration) error {
	var b strings.Builder
	b.WriteString("sent_unix_ns\tround_trip_us\n")
	for i := range lat {
		fmt.Fprintf(&b, "%d\t%d\n", sent[i].UnixNano(), lat[i].Microseconds())
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("--probe-log: %w", err)
	}
	return nil
}

func summarize(lat []time.Duration, errs int) *Probe {
	p := &Probe{Count: len(lat), Errors: errs}
	if len(lat) == 0 {
		return p
	}
	slices.Sort(lat)
	q := func(f float64) float64 {
		i := int(math.Ceil(f*float64(len(lat)))) - 1
		i = max(0, min(i, len(lat)-1))
		return round2(float64(lat[i]) / 1e6)
	}
	p.P50, p.P90, p.P99, p.Max = q(0.50), q(0.90), q(0.99), round2(float64(lat[len(lat)-1])/1e6)
	return p
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// round3 rounds to milliseconds: a short run's CPU time rounded to 10 ms
// could read 0.
func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
