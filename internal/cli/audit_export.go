package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/agops/agops/internal/audit"
)

type auditExportFlags struct {
	from, to             uint64
	checkpoint, key, out string
}

func newAuditExportCmd(g *globals, s streams) *cobra.Command {
	var f auditExportFlags
	cmd := &cobra.Command{
		Use:   "export FILE --from SEQ --to SEQ --checkpoint CP --key PUB -o OUT",
		Short: "Write a range of an audit log's records with a proof that they are in the log a signed checkpoint covers",
		Long: "Checks the whole log against the checkpoint (as verify --checkpoint does), then writes records --from to " +
			"--to (by seq, inclusive) to OUT, with the checkpoint and the hashes that tie them to its root. Whoever " +
			"receives OUT checks it with `agops audit verify-export OUT --key PUB` without seeing the other records.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runAuditExport(g, s, f, args[0]) },
	}
	cmd.Flags().Uint64Var(&f.from, "from", 0, "the first record's seq")
	cmd.Flags().Uint64Var(&f.to, "to", 0, "the last record's seq")
	cmd.Flags().StringVar(&f.checkpoint, "checkpoint", "", "the signed checkpoint to prove against")
	cmd.Flags().StringVar(&f.key, "key", "", "the verifier key (.pub) of the checkpoint's signer")
	cmd.Flags().StringVarP(&f.out, "output", "o", "", "the export file to write")
	return cmd
}

func runAuditExport(g *globals, s streams, f auditExportFlags, path string) error {
	if f.from == 0 || f.to == 0 || f.checkpoint == "" || f.key == "" || f.out == "" {
		return usageError{errors.New("--from, --to, --checkpoint, --key and -o are required")}
	}
	v, err := audit.LoadVerifier(f.key)
	if err != nil {
		return err
	}
	cp, err := os.ReadFile(f.checkpoint)
	if err != nil {
		return fmt.Errorf("reading the checkpoint: %w", err)
	}
	var buf bytes.Buffer
	if err := audit.Export(&buf, path, f.from, f.to, cp, v); err != nil {
		return err
	}
	if err := os.WriteFile(f.out, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("writing the export: %w", err)
	}
	if !g.quiet {
		fmt.Fprintf(s.out, "exported records %d to %d of %s to %s\n", f.from, f.to, path, f.out)
	}
	return nil
}

func newAuditVerifyExportCmd(g *globals, s streams) *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:   "verify-export FILE --key PUB",
		Short: "Check an export of audit records against the signed checkpoint it carries",
		Long: "Checks the checkpoint's signature with PUB, each record's hash, seq and chain, and that the records with " +
			"the export's proof hash to the checkpoint's root: then every record is, at its seq, in the log the " +
			"checkpoint covers. Exits 1 otherwise.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if key == "" {
				return usageError{errors.New("--key is required")}
			}
			v, err := audit.LoadVerifier(key)
			if err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("reading the export: %w", err)
			}
			defer f.Close()
			exp, err := audit.VerifyExport(f, v)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if !g.quiet {
				fmt.Fprintf(s.out, "verified: records %d to %d are in the log of %s that the checkpoint of %d records covers\n",
					exp.From, exp.To, exp.Checkpoint.Origin, exp.Checkpoint.Size)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "the verifier key (.pub) of the checkpoint's signer")
	return cmd
}
