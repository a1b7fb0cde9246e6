package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/maildrill/maildrill/internal/outpath"
	"github.com/maildrill/maildrill/scenarios"
	"github.com/maildrill/maildrill/scenarios/exercise"
	scenariorun "github.com/maildrill/maildrill/scenarios/run"
)

type exerciseFlags struct {
	scenarioFlags
	listen, debrief, publicURL string
	facToken, socToken         string
	duration                   time.Duration
	autostart, exitAtEnd       bool
}

func newExerciseCmd() *cobra.Command {
	f := &exerciseFlags{}
	cmd := &cobra.Command{
		Use:   "exercise SCENARIO",
		Short: "Run a scenario as a live exercise with a facilitator's view and a SOC view",
		Long: `exercise plays a scenario on a clock the facilitator steers (start, pause,
resume, speed, skip to the next step, end) and serves two web views, each
behind its own link and access token: the facilitator's (the ground truth,
the injects to come, alerts with their verdicts, the players' answers, the
controls and notes) and the players' SOC console (alerts and the raw audit
trail, the injects as they are released; no ground truth). At the end the
debrief — verdicts, the players' time to detect, injects, answers, notes
and the verdict report — opens from the facilitator's view and, with
--debrief, is written to a file. See docs/exercise.md.`,
		Example: `  maildrill exercise ministry-overnight-exercise --duration 60m
  maildrill exercise ./drill.yaml --listen 0.0.0.0:8080 --speed 30 --debrief debrief.html`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExercise(cmd.Context(), f, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f.scenarioFlags.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address the views are served on (host:port)")
	fl.DurationVar(&f.duration, "duration", 0, "wall time the whole scenario takes (sets the speed; instead of --speed)")
	fl.StringVar(&f.debrief, "debrief", "", "write the debrief (one HTML file) to FILE when the exercise ends")
	fl.StringVar(&f.publicURL, "public-url", "", "base URL the printed links use (default: http://LISTEN)")
	fl.StringVar(&f.facToken, "facilitator-token", os.Getenv("MAILDRILL_FACILITATOR_TOKEN"), "the facilitator's access token (default: $MAILDRILL_FACILITATOR_TOKEN, else generated)")
	fl.StringVar(&f.socToken, "soc-token", os.Getenv("MAILDRILL_SOC_TOKEN"), "the players' access token (default: $MAILDRILL_SOC_TOKEN, else generated)")
	fl.BoolVar(&f.autostart, "autostart", false, "start the scenario clock at once instead of waiting for the facilitator's start")
	fl.BoolVar(&f.exitAtEnd, "exit-at-end", false, "stop serving when the exercise ends (after writing --debrief)")
	return cmd
}

func (f *exerciseFlags) checkExercise() error {
	if err := f.check(); err != nil {
		return err
	}
	if f.duration < 0 {
		return usageError{fmt.Errorf("--duration %s: want a positive duration", f.duration)}
	}
	if f.duration > 0 && f.speed > 0 {
		return usageError{errors.New("--speed and --duration both set: give one")}
	}
	if _, _, err := net.SplitHostPort(f.listen); err != nil {
		return usageError{fmt.Errorf("--listen %q: want host:port", f.listen)}
	}
	if f.publicURL != "" {
		// The printed links are the only way in: one that cannot be
		// opened locks the room out.
		if !httpURL(f.publicURL) || strings.ContainsAny(f.publicURL, "?#") {
			return usageError{fmt.Errorf("--public-url %q: want http(s)://HOST[:PORT][/PATH], e.g. https://drill.example.org", f.publicURL)}
		}
	}
	for _, tok := range []struct{ name, v string }{{"--facilitator-token", f.facToken}, {"--soc-token", f.socToken}} {
		if tok.v != "" && (len(tok.v) < 16 || strings.ContainsAny(tok.v, "/?#% ")) {
			return usageError{fmt.Errorf("%s: at least 16 characters, none of / ? # %% or space", tok.name)}
		}
	}
	if f.facToken != "" && f.facToken == f.socToken {
		return usageError{errors.New("--facilitator-token and --soc-token must differ")}
	}
	return nil
}

func runExercise(ctx context.Context, f *exerciseFlags, name string, stdout, stderr io.Writer) error {
	if err := f.checkExercise(); err != nil {
		return err
	}
	if err := checkFiles(append(argFiles([]string{name}), outpath.File{Flag: "--remote", Path: f.remote.file}),
		[]outpath.File{{Flag: "--debrief", Path: f.debrief}}); err != nil {
		return err
	}
	allow, err := scenariorun.AllowList(f.allow)
	if err != nil {
		return usageError{err}
	}
	rs, org, err := f.remoteSpec(ctx, stderr, false)
	if err != nil {
		return err
	}
	list, err := scenarios.LoadAll([]string{name})
	if err != nil {
		return usageError{err}
	}
	rules, err := scenarios.ResolveSuiteOn(list, nil, nil, f.seed, org)
	if err != nil {
		return usageError{err}
	}
	sc := list[0]
	var debrief *os.File
	if f.debrief != "" {
		if debrief, err = os.Create(f.debrief); err != nil {
			return usageError{fmt.Errorf("--debrief: %w", err)}
		}
		defer debrief.Close()
	}
	opts := f.options(stderr)
	opts.Speed, opts.WallDeadline = 0, 0
	if f.deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.deadline)
		defer cancel()
	}
	opts.AllowTargets, opts.Rules, opts.Remote = allow, rules, rs
	x, err := exercise.New(exercise.Config{Scenario: sc, Run: opts, Speed: f.speed, Duration: f.duration,
		FacilitatorToken: f.facToken, SOCToken: f.socToken, AutoStart: f.autostart})
	if err != nil {
		return usageError{err}
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return usageError{fmt.Errorf("--listen: %w", err)}
	}
	srvCtx, stopStreams := context.WithCancel(context.Background())
	defer stopStreams()
	srv := &http.Server{Handler: x.Handler(srvCtx), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		stopStreams()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()

	base := f.publicURL
	if base == "" {
		host, port, _ := net.SplitHostPort(ln.Addr().String())
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		base = "http://" + net.JoinHostPort(host, port)
	}
	base = strings.TrimSuffix(base, "/")
	fac, soc := x.Tokens()
	fmt.Fprintf(stdout, "exercise %s — %s\n  scenario %s to %s at ×%g\n\n  facilitator  %s/f/%s/\n  players      %s/soc/%s/\n\n",
		sc.ID, sc.Title, sc.Env.Start.Format("Mon 15:04"), sc.Env.Start.Add(sc.Env.Duration).Format("Mon 15:04"), x.Speed(), base, fac, base, soc)
	if host, _, _ := net.SplitHostPort(ln.Addr().String()); !net.ParseIP(host).IsLoopback() {
		fmt.Fprintln(stdout, "  served beyond this machine: share each link only with its audience (the token is the key)")
	}
	if f.autostart {
		fmt.Fprintln(stdout, "  the clock runs now")
	} else {
		fmt.Fprintln(stdout, "  waiting for the facilitator's Start")
	}

	res, runErr := x.Run(ctx)
	stopped := runErr != nil && strings.Contains(runErr.Error(), "run stopped")
	if res != nil {
		met := 0
		for _, v := range res.Verdicts {
			if v.OK() {
				met++
			}
		}
		fmt.Fprintf(stdout, "exercise ended: %d of %d expectation(s) met", met, len(res.Verdicts))
		if stopped {
			fmt.Fprint(stdout, " (stopped before the scenario's end)")
		}
		fmt.Fprintln(stdout)
	}
	if debrief != nil {
		if err := x.Debrief(debrief); err != nil {
			return err
		}
		if err := debrief.Close(); err != nil {
			return fmt.Errorf("--debrief: %w", err)
		}
		fmt.Fprintf(stdout, "debrief written to %s\n", f.debrief)
	}
	if runErr != nil && !stopped {
		var se *scenariorun.StepError
		if errors.As(runErr, &se) {
			return usageError{runErr}
		}
		return runErr
	}
	if ctx.Err() != nil || f.exitAtEnd {
		return nil
	}
	fmt.Fprintf(stdout, "debrief: %s/f/%s/debrief — Ctrl-C stops the server\n", base, fac)
	select {
	case <-ctx.Done():
	case err := <-served:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	return nil
}
