package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/maildrill/maildrill/internal/buildinfo"
)

// version is the release, set at build time:
//
//	go build -ldflags "-X main.version=v1.2.3" ./cmd/maildrill
var version = "devel"

// versionLine is what `maildrill version` and `maildrill --version` print.
func versionLine() string { return buildinfo.Line("maildrill", version) }

func printVersion(w io.Writer) error {
	_, err := fmt.Fprintln(w, versionLine())
	return err
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the commit and the Go version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return printVersion(cmd.OutOrStdout())
		},
	}
}
