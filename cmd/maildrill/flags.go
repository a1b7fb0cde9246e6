package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/maildrill/maildrill/scenarios/report"
)

// reportFlags are the report files a command writes.
type reportFlags struct {
	json, junit, html, navigator string
}

func (f *reportFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.json, "json", "", "write the JSON report (schema maildrill.report/v2) to FILE ('-': stdout)")
	fl.StringVar(&f.junit, "junit", "", "write a JUnit XML report to FILE: one test case per expectation")
	fl.StringVar(&f.html, "html", "", "write a self-contained HTML report (timeline, verdicts, narrative) to FILE")
	fl.StringVar(&f.navigator, "navigator", "", "write an ATT&CK Navigator layer (format 4.5) to FILE")
}

// toStdout says whether a report goes to standard output: the verdict
// tables then go to standard error.
func (f *reportFlags) toStdout() bool {
	return f.json == "-" || f.junit == "-" || f.html == "-" || f.navigator == "-"
}

// write renders the report in every format asked for.
func (f *reportFlags) write(rep *report.Report, stdout io.Writer) error {
	for _, o := range []struct {
		path  string
		flag  string
		write func(io.Writer, *report.Report) error
	}{
		{f.json, "--json", report.WriteJSON},
		{f.junit, "--junit", report.WriteJUnit},
		{f.html, "--html", report.WriteHTML},
		{f.navigator, "--navigator", report.WriteNavigator},
	} {
		if o.path == "" {
			continue
		}
		if o.path == "-" {
			if err := o.write(stdout, rep); err != nil {
				return err
			}
			continue
		}
		var buf bytes.Buffer
		if err := o.write(&buf, rep); err != nil {
			return err
		}
		if err := os.WriteFile(o.path, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("%s: %w", o.flag, err)
		}
	}
	return nil
}

// defaultCorpusCache is the user's cache directory for generated
// attachments ("" when the platform has none).
func defaultCorpusCache() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "maildrill", "corpus")
}

// buildReport is the report of the runs, with this binary's version.
func buildReport(runs []report.Run) *report.Report {
	info, ok := debug.ReadBuildInfo()
	return report.BuildWith(runs, report.Options{Generated: time.Now(), Version: version, Commit: buildCommit(info, ok)})
}

// checkTarget validates --target and --profile.
func checkTarget(target, profile string) error {
	switch target {
	case "", "embedded", "docker", "dovecot":
	default:
		return usageError{fmt.Errorf("--target %q: want embedded, docker or dovecot", target)}
	}
	if profile != "stock" && profile != "enhanced" {
		return usageError{fmt.Errorf("--profile %q: want stock or enhanced", profile)}
	}
	return nil
}
