package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/agops/agops/internal/audit"
)

func newAuditCmd(g *globals, s streams) *cobra.Command {
	cmd := verbGroup("audit", "Work with the gateway's hash-chained audit log")
	strict := false
	verify := &cobra.Command{
		Use:   "verify FILE",
		Short: "Check that no record of an audit log was edited, deleted or reordered, and summarise it",
		Long: "Reads the log from start to end, recomputing each record's hash and its link to the previous one, and " +
			"compares the head with FILE.head when the gateway keeps one. Exits 1 on the first problem, naming its line. " +
			"A torn last line (bytes after the last newline: a crash in the middle of a write, never acknowledged, so no " +
			"call was forwarded for it) is reported but accepted, unless --strict.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sum, err := audit.VerifyFile(args[0])
			if errors.Is(err, audit.ErrTornTail) && !strict {
				err = nil
			}
			if err != nil {
				return err
			}
			if !g.quiet {
				fmt.Fprintln(s.out, sum.String())
				fmt.Fprintln(s.out, "verified: the chain is intact")
			}
			return nil
		},
	}
	verify.Flags().BoolVar(&strict, "strict", false, "fail on a torn last line too")
	cmd.AddCommand(verify)
	return cmd
}
