package cli

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/agops/agops/internal/airgap"
	"github.com/agops/agops/internal/cluster"
	"github.com/agops/agops/internal/plan"
)

// airgapSourceFlags say where `agops airgap images|bundle` take the image list from.
type airgapSourceFlags struct {
	load    loadFlags
	images  []string
	cluster string
}

// register adds -f and the migrate flags that change images, and --image.
func (f *airgapSourceFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	f.load.plan = plan.DefaultOptions()
	fl.StringArrayVarP(&f.load.files, "file", "f", nil, "compose file to migrate in memory (repeatable, merged in order)")
	fl.StringVar(&f.load.projectDir, "project-directory", "", "project folder (default: the folder of the first file)")
	fl.StringVarP(&f.load.projectName, "project-name", "p", "", "project name (default: name: in the file, else the folder name)")
	fl.StringArrayVar(&f.load.envFiles, "env-file", nil, "environment file for interpolation (repeatable; default: .env)")
	fl.StringArrayVar(&f.load.profiles, "profile", nil, "profile to enable (repeatable; default: COMPOSE_PROFILES)")
	fl.StringVar(&f.load.plan.HelperImage, "helper-image", f.load.plan.HelperImage, "agops image of init containers, gateway and workers, as given to agops migrate")
	fl.StringVar(&f.load.plan.Registry, "registry", f.load.plan.Registry, "registry prefix for images of services that only have build:, as given to agops migrate")
	fl.BoolVar(&f.load.plan.WithTemporal, "with-temporal", false, "as agops migrate --with-temporal: also bundle "+plan.TemporalImage+" when the migration adds it")
	fl.BoolVar(&f.load.plan.NoGateway, "no-gateway", false, "as agops migrate --no-gateway")
	fl.StringArrayVar(&f.images, "image", nil, "another image to include, such as a device plugin (repeatable)")
	fl.StringVar(&f.cluster, "cluster", "", "folder written by agops cluster init: also include the images of its manifests (kube-vip, device plugins)")
}

// source is where the images come from: the output folder argument, or -f, and --image.
func (f *airgapSourceFlags) source(args []string, s streams) (airgap.Source, error) {
	src := airgap.Source{Extra: f.images}
	if f.cluster != "" {
		spec, err := cluster.Read(f.cluster)
		if err != nil {
			return src, err
		}
		src.Extra = append(src.Extra, spec.Images()...)
	}
	switch {
	case len(args) == 1 && len(f.load.files) > 0:
		return src, usageError{errors.New("give an agops output folder or -f compose.yaml, not both")}
	case len(args) == 1:
		src.Folder = args[0]
	case len(f.load.files) > 0:
		o, err := f.load.options(s)
		if err != nil {
			return src, err
		}
		src.Compose = &o
	case len(src.Extra) == 0:
		return src, usageError{errors.New("nothing to bundle: give -f compose.yaml, an agops output folder, --cluster DIR or --image REF")}
	}
	return src, nil
}

func newAirgapCmd(g *globals, s streams) *cobra.Command {
	cmd := verbGroup("airgap", "Move every image a migrated project needs into a site with no internet, pinned by digest")
	cmd.AddCommand(newAirgapImagesCmd(s), newAirgapBundleCmd(g, s), newAirgapVerifyCmd(s), newAirgapPushCmd(g, s))
	return cmd
}

func newAirgapImagesCmd(s streams) *cobra.Command {
	f := &airgapSourceFlags{}
	cmd := &cobra.Command{
		Use:   "images [-f compose.yaml | OUT] [--cluster DIR] [--image REF]...",
		Short: "List the images a bundle of this project would hold, one per line",
		Args:  maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := f.source(args, s)
			if err != nil {
				return err
			}
			refs, err := airgap.List(cmd.Context(), src)
			for _, r := range refs {
				fmt.Fprintln(s.out, r)
			}
			return err
		},
	}
	f.register(cmd)
	return cmd
}

// airgapBundleFlags are the flags of `agops airgap bundle`.
type airgapBundleFlags struct {
	src          airgapSourceFlags
	out          string
	platform     string
	insecure     bool
	archives     []string
	helperBinary string
	pullMirrors  []string
}

// options turns the flags into airgap.Options; a malformed --pull-mirror is a usage error. The helper image is
// the one --helper-image names, as agops migrate writes it into the manifests.
func (f *airgapBundleFlags) options(g *globals, s streams) (airgap.Options, error) {
	o := airgap.Options{Platform: f.platform, Insecure: f.insecure, Progress: progress(g, s), Archives: f.archives}
	mirrors, err := airgap.ParseMirrors(f.pullMirrors)
	if err != nil {
		return o, usageError{fmt.Errorf("--pull-mirror: %w", err)}
	}
	o.Mirrors = mirrors
	if f.helperBinary != "" {
		o.Helper = &airgap.Helper{Ref: f.src.load.plan.HelperImage, Binary: f.helperBinary}
	}
	return o, nil
}

func newAirgapBundleCmd(g *globals, s streams) *cobra.Command {
	f := &airgapBundleFlags{}
	cmd := &cobra.Command{
		Use: "bundle [-f compose.yaml | OUT] -o bundle.tar [--cluster DIR] [--platform os/arch] [--image REF]... " +
			"[--image-archive FILE]... [--helper-binary PATH] [--pull-mirror HOST=REG[/prefix]]...",
		Short: "Pull every image of the project for one platform, pinned by digest, into one verifiable archive",
		Long: "Lists the images of an agops output folder (its ha overlay) or of a Compose project migrated in memory, " +
			"plus --image, resolves each to a digest for --platform, and writes one tar archive: an OCI image " +
			"layout, agops-bundle.json and SHA256SUMS. An interrupted run resumes from -o's .partial folder. " +
			"Images built locally come from --image-archive (docker save), the helper image from --helper-binary, " +
			"and --pull-mirror fetches a registry's images through a proxy cache. See docs/airgap.md.",
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.out == "" {
				return usageError{errors.New("-o bundle.tar is required")}
			}
			o, err := f.options(g, s)
			if err != nil {
				return err
			}
			src, err := f.src.source(args, s)
			if err != nil {
				return err
			}
			refs, err := airgap.List(cmd.Context(), src)
			if err != nil {
				return err
			}
			m, err := airgap.Bundle(cmd.Context(), refs, f.out, o)
			if err != nil {
				return err
			}
			return printManifest(s.out, fmt.Sprintf("wrote %s", f.out), m)
		},
	}
	f.src.register(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&f.out, "output", "o", "", "the bundle to write (a tar archive; written atomically)")
	fl.StringVar(&f.platform, "platform", airgap.DefaultPlatform, "os/arch[/variant] of the images to bundle")
	fl.BoolVar(&f.insecure, "insecure", false, "talk plain HTTP to the source registries and pull mirrors")
	fl.StringArrayVar(&f.archives, "image-archive", nil, "docker save / podman save archive, or an OCI archive (podman save --format oci-archive, buildx --output type=oci): project images matching its tags are taken from it (repeatable)")
	fl.StringVar(&f.helperBinary, "helper-binary", "", "static agops binary: build the --helper-image from it instead of pulling it")
	fl.StringArrayVar(&f.pullMirrors, "pull-mirror", nil, "HOST=REG[/prefix]: fetch HOST's images from this pull-through cache (repeatable)")
	return cmd
}

func newAirgapVerifyCmd(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "verify BUNDLE",
		Short: "Check a bundle offline: checksums, blob digests, every referenced blob present, nothing extra",
		Args:  exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			m, err := airgap.Verify(args[0])
			if err != nil {
				return err
			}
			return printManifest(s.out, fmt.Sprintf("%s is intact", args[0]), m)
		},
	}
}

// airgapPushFlags are the flags of `agops airgap push`.
type airgapPushFlags struct {
	registry string
	insecure bool
}

func newAirgapPushCmd(g *globals, s streams) *cobra.Command {
	f := &airgapPushFlags{}
	cmd := &cobra.Command{
		Use:   "push BUNDLE --registry REG[/prefix] [--insecure]",
		Short: "Verify a bundle, then push its images to a registry, keeping repository paths, tags and digests",
		Long: "docker.io/library/postgres:16 goes to REG/prefix/library/postgres:16, ghcr.io/example/app:1.4 to " +
			"REG/prefix/example/app:1.4, each with the bundled digest. Blobs the registry has are not sent again.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.registry == "" {
				return usageError{errors.New("--registry REG[/prefix] is required")}
			}
			o := airgap.PushOptions{Insecure: f.insecure, Progress: progress(g, s)}
			pushed, err := airgap.Push(cmd.Context(), args[0], f.registry, o)
			refs := make([]string, 0, len(pushed))
			for ref := range pushed {
				refs = append(refs, ref)
			}
			sort.Strings(refs)
			for _, ref := range refs {
				fmt.Fprintf(s.out, "%s -> %s\n", ref, pushed[ref])
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.registry, "registry", "", "target registry: host[:port][/prefix]")
	fl.BoolVar(&f.insecure, "insecure", false, "talk plain HTTP to the target registry")
	return cmd
}

// progress is where progress lines go: stderr, unless -q.
func progress(g *globals, s streams) io.Writer {
	if g.quiet {
		return nil
	}
	return s.err
}

// printManifest writes a heading and one line per image: reference, digest, size, where it came from.
func printManifest(w io.Writer, heading string, m airgap.Manifest) error {
	var total int64
	for _, img := range m.Images {
		total += img.Size
	}
	fmt.Fprintf(w, "%s: %d images for %s, %.1f MiB, created %s\n", heading, len(m.Images), m.Platform,
		float64(total)/(1<<20), m.Created.Format("2006-01-02T15:04:05Z"))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, img := range m.Images {
		source := img.Source
		if source == "" {
			source = "pulled from " + img.Registry
		}
		fmt.Fprintf(tw, "  %s\t%s\t%.1f MiB\t%s\n", img.Ref, img.Digest, float64(img.Size)/(1<<20), source)
	}
	return tw.Flush()
}

// maxArgs is cobra.MaximumNArgs reporting a usage error.
func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.MaximumNArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
