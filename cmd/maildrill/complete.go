package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/maildrill/maildrill/scenarios"
)

// Shell completion (maildrill completion bash|zsh|fish|powershell): the
// library's scenario names, with their titles, beside the user's files.

// completeScenarios completes a scenario argument: the library names that
// start with what was typed; a path (or no library name matching) is left
// to the shell's file completion.
func completeScenarios(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if strings.ContainsAny(toComplete, "/.~") {
		return nil, cobra.ShellCompDirectiveDefault
	}
	lib, err := scenarios.Library()
	if err != nil {
		return nil, cobra.ShellCompDirectiveDefault
	}
	var out []string
	for _, sc := range lib {
		if strings.HasPrefix(sc.ID, toComplete) {
			out = append(out, sc.ID+"\t"+sc.Title)
		}
	}
	if len(out) == 0 {
		return nil, cobra.ShellCompDirectiveDefault
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeOneScenario completes the single scenario argument of replay.
func completeOneScenario(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return completeScenarios(cmd, args, toComplete)
}

// completeDirs completes directories and files (list DIR).
func completeDirs(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveDefault
}

// completeFixed registers fixed values for a flag of cmd.
func completeFixed(cmd *cobra.Command, flag string, values ...string) {
	_ = cmd.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
}

// completeScenarioCmd sets the completions of a command that runs
// scenarios (run, test): scenario names, --target and --profile values.
func completeScenarioCmd(cmd *cobra.Command) {
	cmd.ValidArgsFunction = completeScenarios
	completeFixed(cmd, "target", "embedded", "docker", "dovecot", "remote")
	_ = cmd.MarkFlagFilename("remote", "yaml", "yml")
	completeFixed(cmd, "profile", "stock", "enhanced")
}
