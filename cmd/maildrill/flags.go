package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/maildrill/maildrill/internal/buildinfo"
	"github.com/maildrill/maildrill/scenarios/report"
)

// reportFlags are the report files a command writes.
type reportFlags struct{ report.Files }

func (f *reportFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.JSON, "json", "", "write the JSON report (schema maildrill.report/v2) to FILE ('-': stdout)")
	fl.StringVar(&f.JUnit, "junit", "", "write a JUnit XML report to FILE: one test case per expectation")
	fl.StringVar(&f.HTML, "html", "", "write a self-contained HTML report (timeline, verdicts, narrative) to FILE")
	fl.StringVar(&f.Navigator, "navigator", "", "write an ATT&CK Navigator layer (format 4.5) to FILE")
}

// write renders the report in every format asked for; a file error names
// its flag.
func (f *reportFlags) write(rep *report.Report, stdout io.Writer) error {
	err := f.Files.Write(rep, stdout)
	var fe *report.FileError
	if errors.As(err, &fe) {
		return fmt.Errorf("--%s: %w", fe.Format, fe.Err)
	}
	return err
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
	return report.BuildWith(runs, report.Options{Generated: time.Now(), Version: version, Commit: buildinfo.CurrentCommit()})
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
