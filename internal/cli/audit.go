package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/agops/agops/internal/audit"
)

func newAuditCmd(g *globals, s streams) *cobra.Command {
	cmd := verbGroup("audit", "Work with the gateway's hash-chained audit log")
	cmd.AddCommand(newAuditVerifyCmd(g, s), newAuditKeygenCmd(g, s), newAuditExportCmd(g, s), newAuditVerifyExportCmd(g, s))
	return cmd
}

// auditVerifyFlags are the flags of `agops audit verify`.
type auditVerifyFlags struct {
	strict, allowUncovered bool
	checkpoint, key        string
}

func newAuditVerifyCmd(g *globals, s streams) *cobra.Command {
	var f auditVerifyFlags
	verify := &cobra.Command{
		Use:   "verify FILE",
		Short: "Check that no record of an audit log was edited, deleted or reordered, and summarise it",
		Long: "Reads the log from start to end, recomputing each record's hash and its link to the previous one, and " +
			"compares the head with FILE.head when the gateway keeps one. Exits 1 on the first problem, naming its line. " +
			"A torn last line (bytes after the last newline: a crash in the middle of a write, never acknowledged, so no " +
			"call was forwarded for it) is reported but accepted, unless --strict.\n\n" +
			"With --checkpoint and --key, the log is also checked against a checkpoint signed by the gateway's key: the " +
			"signature, then the log must have the checkpoint's records with its Merkle root (a log cut short or " +
			"rewritten fails, even with every hash recomputed). Records after the checkpoint are not covered by any " +
			"signature and fail the check, unless --allow-uncovered (a live log's last moments).",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runAuditVerify(g, s, f, args[0]) },
	}
	verify.Flags().BoolVar(&f.strict, "strict", false, "fail on a torn last line too")
	verify.Flags().StringVar(&f.checkpoint, "checkpoint", "", "a signed checkpoint of the log, from a place the gateway cannot write")
	verify.Flags().StringVar(&f.key, "key", "", "the verifier key (.pub) of the gateway's checkpoint key")
	verify.Flags().BoolVar(&f.allowUncovered, "allow-uncovered", false, "accept records after the checkpoint (a live log)")
	return verify
}

func runAuditVerify(g *globals, s streams, f auditVerifyFlags, path string) error {
	if (f.checkpoint == "") != (f.key == "") {
		return usageError{errors.New("--checkpoint and --key go together")}
	}
	var sum audit.Summary
	var err error
	if f.checkpoint == "" {
		sum, err = audit.VerifyFile(path)
	} else {
		sum, err = verifyWithCheckpoint(path, f)
	}
	if errors.Is(err, audit.ErrTornTail) && !f.strict {
		err = nil
	}
	if err != nil {
		return err
	}
	if !g.quiet {
		fmt.Fprintln(s.out, sum.String())
		switch {
		case sum.Checkpoint == nil:
			fmt.Fprintln(s.out, "verified: the chain is intact")
		case sum.Uncovered > 0:
			fmt.Fprintf(s.out, "verified: the chain is intact and its first %d records match the checkpoint; "+
				"%d records after it are not covered\n", sum.Checkpoint.Size, sum.Uncovered)
		default:
			fmt.Fprintln(s.out, "verified: the chain is intact and matches the checkpoint")
		}
	}
	return nil
}

// verifyWithCheckpoint is VerifyCheckpoint with the flags' files; uncovered records pass with --allow-uncovered.
func verifyWithCheckpoint(path string, f auditVerifyFlags) (audit.Summary, error) {
	v, err := audit.LoadVerifier(f.key)
	if err != nil {
		return audit.Summary{}, err
	}
	cp, err := os.ReadFile(f.checkpoint)
	if err != nil {
		return audit.Summary{}, fmt.Errorf("reading the checkpoint: %w", err)
	}
	sum, err := audit.VerifyCheckpoint(path, cp, v)
	if errors.Is(err, audit.ErrUncovered) && f.allowUncovered {
		err = nil
		if sum.TornBytes > 0 && f.strict {
			err = fmt.Errorf("%s: %w", path, audit.ErrTornTail)
		}
	}
	return sum, err
}
