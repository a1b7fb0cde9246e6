package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/maildrill/maildrill/mailsim"
)

func newExportCmd() *cobra.Command {
	var seed int64
	var users, messages int
	var only []string
	cmd := &cobra.Command{
		Use:   "export-maildir DIR",
		Short: "Write the synthetic organisation's mailboxes as Maildir++ trees (to seed Dovecot)",
		Long: `export-maildir writes, for each mailbox, DIR/<address>/Maildir in Maildir++
layout with dovecot-uidlist files, so that Dovecot serves the same messages
with the same UIDs as mailsim for the same --seed, --users and --messages.

Exporting again over an earlier export replaces it (its messages, folders
and Dovecot indexes); a Maildir holding mail no export wrote is refused
before anything is written.`,
		Example: "  maildrill export-maildir --users 20 --messages 300 /srv/mail",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if users < 1 || messages < 0 {
				return usageError{fmt.Errorf("--users must be at least 1 and --messages not negative")}
			}
			out := cmd.OutOrStdout()
			err := mailsim.ExportMaildirs(cmd.Context(), mailsim.Config{Seed: seed, Users: users, MessagesPerUser: messages}, only, args[0],
				func(_, dir string) { fmt.Fprintf(out, "exported %s\n", dir) })
			if errors.Is(err, mailsim.ErrNoMailbox) {
				return usageError{fmt.Errorf("no mailbox matched --user %v", only)}
			}
			return err
		},
	}
	cmd.Flags().Int64Var(&seed, "seed", 1, "corpus seed")
	cmd.Flags().IntVar(&users, "users", 50, "number of personal mailboxes")
	cmd.Flags().IntVar(&messages, "messages", 200, "messages per mailbox")
	cmd.Flags().StringSliceVar(&only, "user", nil, "export only these addresses (repeatable)")
	return cmd
}
