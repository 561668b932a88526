package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/agops/agops/internal/image"
)

// imagePushFlags are the flags of `agops image push`.
type imagePushFlags struct {
	binary   string
	insecure bool
}

func newImageCmd(g *globals, s streams) *cobra.Command {
	cmd := verbGroup("image", "Build and push the agops helper image that init containers run (no Docker needed)")
	cmd.AddCommand(newImagePushCmd(g, s))
	return cmd
}

func newImagePushCmd(_ *globals, s streams) *cobra.Command {
	f := &imagePushFlags{}
	cmd := &cobra.Command{
		Use:   "push REF",
		Short: "Build the helper image from a static agops binary and push it to REF",
		Long: "Builds a one-layer image holding a statically linked agops binary at /agops, and pushes it to REF with " +
			"the credentials of your docker config. The same binary always gives the same digest. Pass the pushed " +
			"reference to agops migrate --helper-image.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := f.parse()
			if err != nil {
				return err
			}
			img, err := image.Build(f.binary, opts...)
			if err != nil {
				return err
			}
			digest, err := image.Push(cmd.Context(), args[0], img, opts...)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(s.out, "pushed %s@%s\n", args[0], digest)
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.binary, "binary", "", "static agops binary to put in the image (default: this agops)")
	fl.BoolVar(&f.insecure, "insecure", false, "talk plain HTTP to the registry")
	return cmd
}

// parse fills in the default binary and returns the image options.
func (f *imagePushFlags) parse() ([]image.Option, error) {
	if f.binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding this agops binary (pass --binary): %w", err)
		}
		f.binary = exe
	}
	var opts []image.Option
	if f.insecure {
		opts = append(opts, image.Insecure())
	}
	return opts, nil
}
