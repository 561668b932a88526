package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"

	"github.com/agops/agops/internal/airgap"
	"github.com/agops/agops/internal/weights"
)

func newModelCmd(g *globals, s streams) *cobra.Command {
	cmd := verbGroup("model", "Model weights for the model servers migrate adds (what their init containers run)")
	var dir, file, mirror string
	var insecure bool
	var timeout time.Duration
	pull := &cobra.Command{
		Use:   "pull MODEL --dir DIR [--file model.gguf]",
		Short: "Copy a model's GGUF weights from its OCI artifact (ai/smollm2, registry/ns/name:tag) into DIR, unless they are there",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return usageError{fmt.Errorf("--dir is required")}
			}
			o := weights.Options{}
			if insecure {
				o.NameOptions = append(o.NameOptions, name.Insecure)
			}
			ref := args[0]
			if mirror != "" {
				var err error
				if ref, err = mirroredRef(ref, mirror); err != nil {
					return usageError{err}
				}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			res, err := weights.Pull(ctx, ref, dir, file, o)
			if err != nil {
				return err
			}
			if res.Skipped {
				fmt.Fprintf(s.out, "%s: %s already holds %s\n", ref, res.Path, res.Digest)
				return nil
			}
			fmt.Fprintf(s.out, "%s: wrote %s (%d bytes, %s)\n", ref, res.Path, res.Size, res.Digest)
			return nil
		},
	}
	fl := pull.Flags()
	fl.StringVar(&dir, "dir", "", "folder of the weights (the model server's volume)")
	fl.StringVar(&file, "file", "model.gguf", "file name of the weights in --dir")
	fl.BoolVar(&insecure, "insecure", false, "talk plain HTTP to the registry")
	fl.StringVar(&mirror, "mirror", "", "pull from this registry mirror (REG[/prefix]) under the path agops airgap push gives the artifact, by digest when MODEL has one")
	fl.DurationVar(&timeout, "timeout", 2*time.Hour, "give up after this long")
	cmd.AddCommand(pull)
	return cmd
}

// mirroredRef is where agops airgap push put ref under mirror: by digest when ref is pinned, so that the mirror
// cannot serve other weights under the tag.
func mirroredRef(ref, mirror string) (string, error) {
	out, err := airgap.TargetRef(ref, mirror)
	if err != nil {
		return "", err
	}
	if _, digest, pinned := strings.Cut(ref, "@"); pinned {
		repo, _, _ := strings.Cut(out, "@")
		if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
			repo = repo[:i]
		}
		out = repo + "@" + digest
	}
	return out, nil
}
