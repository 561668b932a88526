package cli

import (
	"github.com/spf13/cobra"

	"github.com/agops/agops/internal/migrate"
)

func newSecretsCmd(_ *globals, s streams) *cobra.Command {
	f := &loadFlags{}
	cmd := &cobra.Command{
		Use:   "secrets [-f compose.yaml]",
		Short: "Print the project's Secrets, with their values, to stdout (pipe into kubectl apply -f -)",
		Long: "Prints the Secrets that migrate's manifests reference, with the values from the Compose project's secret " +
			"files and credentials. Nothing is written to disk; the values go to stdout only because you asked.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := f.options(s)
			if err != nil {
				return err
			}
			return migrate.PrintSecrets(cmd.Context(), o)
		},
	}
	f.register(cmd)
	return cmd
}
