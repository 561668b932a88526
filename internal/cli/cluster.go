package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agops/agops/internal/airgap"
	"github.com/agops/agops/internal/cluster"
	"github.com/agops/agops/internal/kubeclient"
)

type clusterInitFlags struct {
	cluster.Flags
	out    string
	bundle string
}

type clusterCheckFlags struct {
	kubeconfig   string
	expectNodes  int
	accelerators []string
	npuResource  string
	mirror       string
}

func newClusterCmd(g *globals, s streams) *cobra.Command {
	cmd := verbGroup("cluster", "Write the configs of a three-node k3s or Talos cluster, and check a running one")
	cmd.AddCommand(newClusterInitCmd(g, s), newClusterCheckCmd(s))
	return cmd
}

func newClusterInitCmd(g *globals, s streams) *cobra.Command {
	f := &clusterInitFlags{}
	cmd := &cobra.Command{
		Use:   "init --distro k3s|talos --node NAME=IP ... --vip IP -o DIR",
		Short: "Write per-node configs, install and preflight scripts, cluster manifests and a README for an HA cluster",
		Long: "Writes into DIR everything a three-node highly available k3s or Talos cluster needs, and a README.md that says " +
			"which files go to which machine and in which order to run what. Every input problem is reported at once and " +
			"nothing is written on error. The k3s join token goes to DIR/secrets/token (mode 0600) and nowhere else. See docs/cluster.md.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.out == "" {
				return usageError{errors.New("-o DIR is required")}
			}
			spec, err := cluster.Parse(f.Flags)
			if err != nil {
				return usageError{err}
			}
			if f.bundle != "" {
				if err := pinCluster(cmd.Context(), &spec, f.bundle); err != nil {
					return err
				}
			}
			tree, err := cluster.Init(spec, f.out)
			if err == nil && !g.quiet {
				fmt.Fprintf(s.err, "agops: wrote %d files for a %d-node %s cluster into %s; start with %s/README.md\n",
					len(tree), len(spec.Nodes), spec.Distro, f.out, f.out)
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Distro, "distro", "", "k3s or talos")
	fl.StringArrayVar(&f.Nodes, "node", nil, "a server, NAME=IP (repeatable; three for HA, in join order)")
	fl.StringVar(&f.VIP, "vip", "", "the virtual IP of the API server: a free address in the nodes' subnet")
	fl.StringVar(&f.CIDR, "cidr", "", "the nodes' subnet (default: the /24, or /64, around the first node)")
	fl.BoolVar(&f.Single, "single", false, "allow a single node (no high availability)")
	fl.BoolVar(&f.Airgap, "airgap", false, "the nodes cannot reach public registries: never fall back to them")
	fl.StringVar(&f.RegistryMirror, "registry-mirror", "", "pull every registry through this mirror, REG[/prefix] (as agops airgap push writes it)")
	fl.StringArrayVar(&f.Accelerators, "accelerator", nil, "a node's accelerator, NAME=nvidia|amd|npu (repeatable)")
	fl.StringVar(&f.NPUResource, "npu-resource", "", "extended resource NPU nodes advertise, DOMAIN/NAME (default "+cluster.DefaultNPUResource+")")
	fl.StringVar(&f.Interface, "interface", "", "network interface that carries the VIP (default: kube-vip's default-route interface; Talos: the physical one)")
	fl.StringVarP(&f.out, "output", "o", "", "output folder (replaced atomically)")
	fl.StringVar(&f.bundle, "bundle", "", "pin the images of manifests/ to the digests this air-gap bundle holds (made with agops airgap bundle --cluster DIR)")
	return cmd
}

func newClusterCheckCmd(s streams) *cobra.Command {
	f := &clusterCheckFlags{}
	cmd := &cobra.Command{
		Use:   "check --kubeconfig F [--expect-nodes 3] [--accelerator NAME=KIND]...",
		Short: "Check a running cluster: Ready nodes, control plane and etcd, accelerators, RuntimeClasses, image sources",
		Long: "Prints one line per check (ok, FAIL with the reason, or info) and exits 1 when any check fails. " +
			"What the API cannot show — the nodes' registry configuration — is said plainly rather than guessed.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs, err := f.spec()
			if err != nil {
				return err
			}
			cfg, err := loadKubeconfig(f.kubeconfig)
			if err != nil {
				return err
			}
			client, err := kubeclient.New(cfg)
			if err != nil {
				return err
			}
			report, err := cluster.Check(cmd.Context(), client, cs)
			if err != nil {
				return err
			}
			if err := report.Write(s.out); err != nil {
				return err
			}
			if n := report.Failed(); n > 0 {
				return fmt.Errorf("%d of %d checks failed", n, len(report))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fl.IntVar(&f.expectNodes, "expect-nodes", 3, "how many Ready nodes the cluster must have")
	fl.StringArrayVar(&f.accelerators, "accelerator", nil, "a node that must advertise its accelerator, NAME=nvidia|amd|npu (repeatable)")
	fl.StringVar(&f.npuResource, "npu-resource", "", "the NPU resource (default "+cluster.DefaultNPUResource+")")
	fl.StringVar(&f.mirror, "registry-mirror", "", "require every running image to come from this mirror, REG[/prefix], or be pinned by digest")
	return cmd
}

func (f *clusterCheckFlags) spec() (cluster.CheckSpec, error) {
	cs := cluster.CheckSpec{ExpectNodes: f.expectNodes, NPUResource: f.npuResource, RegistryMirror: f.mirror, Accelerators: map[string]cluster.Kind{}}
	if f.expectNodes < 1 {
		return cs, usageError{fmt.Errorf("--expect-nodes %d: want at least 1", f.expectNodes)}
	}
	var errs []error
	for _, a := range f.accelerators {
		name, kind, err := cluster.ParseAccelerator(a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cs.Accelerators[name] = kind
	}
	if len(errs) > 0 {
		return cs, usageError{errors.Join(errs...)}
	}
	return cs, nil
}

// pinCluster pins the cluster-side manifests' images to the digests the bundle holds; an image it lacks is an error.
func pinCluster(ctx context.Context, spec *cluster.Spec, bundle string) error {
	r, err := airgap.NewResolver(bundle)
	if err != nil {
		return err
	}
	digests := map[string]string{}
	var missing []string
	for _, img := range spec.Images() {
		d, err := r.Digest(ctx, img)
		if err != nil {
			missing = append(missing, img)
			continue
		}
		digests[img] = d
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s lacks %s: bundle again with agops airgap bundle --image %s (or --cluster DIR)", bundle,
			strings.Join(missing, ", "), strings.Join(missing, " --image "))
	}
	return spec.SetDigests(digests)
}
