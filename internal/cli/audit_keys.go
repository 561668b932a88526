package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/agops/agops/internal/audit"
)

func newAuditKeygenCmd(g *globals, s streams) *cobra.Command {
	var name, dir string
	cmd := &cobra.Command{
		Use:   "keygen --name NAME -o DIR",
		Short: "Create a key pair for signing audit checkpoints: DIR/NAME.key (private, 0600) and DIR/NAME.pub",
		Long: "The gateway signs its checkpoints with NAME.key; whoever checks a log needs only NAME.pub. Keep the " +
			"private key where only the gateway reads it, and give NAME.pub to the people who check logs. An " +
			"existing file is never replaced.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return usageError{fmt.Errorf("--name is required")}
			}
			keyPath, pubPath, err := audit.WriteKeyPair(dir, name)
			if err != nil {
				return err
			}
			if !g.quiet {
				fmt.Fprintf(s.out, "private key: %s\nverifier key: %s\n", keyPath, pubPath)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the key's name, shown in signature lines (no spaces or '+')")
	cmd.Flags().StringVarP(&dir, "output", "o", ".", "the directory to write the two files to")
	return cmd
}
