package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/maildrill/maildrill/scenarios"
)

// newNewCmd is `maildrill new`: scaffolds to start from.
func newNewCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "new",
		Short: "Write a scaffold to start from (a scenario; for a rule: maildrill rules new)",
	}
	cmd.AddCommand(newNewScenarioCmd())
	return cmd
}

func newNewScenarioCmd() *cobra.Command {
	var dir string
	var force bool
	cmd := &cobra.Command{
		Use:   "scenario NAME",
		Short: "Write NAME.yaml: a commented scenario that validates and runs as written",
		Long: `new scenario writes NAME.yaml (in the current directory, or --dir): a small
organisation, an evening of staff activity, a brute force at night and the
expectations on it, each key commented. It validates and runs as written;
edit it from there. An existing file is left alone unless --force.`,
		Example: `  maildrill new scenario night-brute-force
  maildrill validate night-brute-force.yaml && maildrill run night-brute-force.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := scenarios.Scaffold(args[0])
			if err != nil {
				return usageError{err}
			}
			path := filepath.Join(dir, args[0]+".yaml")
			if err := writeNew(path, src, force); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (check it: maildrill validate %s)\n", path, path)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".", "write the file in DIR")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	return cmd
}

// writeNew writes a scaffold file, creating its directory; an existing
// file is bad input unless force.
func writeNew(path string, data []byte, force bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return usageError{err}
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	fh, err := os.OpenFile(path, flags, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return usageError{fmt.Errorf("%s exists: not overwritten (--force to replace it)", path)}
	}
	if err != nil {
		return usageError{err}
	}
	if _, err := fh.Write(data); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}
