package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/agops/agops/internal/kube"
)

type applyFlags struct {
	overlay    string
	kubeconfig string
	dryRun     string
	prune      bool
	wait       bool
	timeout    time.Duration
	set        string
}

func newApplyCmd(g *globals, s streams) *cobra.Command {
	f := &applyFlags{}
	cmd := &cobra.Command{
		Use:   "apply DIR",
		Short: "Server-side apply migrated manifests (an agops output folder, a kustomization or a YAML file)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options(args[0], s.err, g.quiet)
			if err != nil {
				return err
			}
			cfg, err := loadKubeconfig(f.kubeconfig)
			if err != nil {
				return err
			}
			res, err := kube.Run(cmd.Context(), cfg, o)
			if !g.quiet {
				fmt.Fprintf(s.err, "agops: applied %d objects%s, pruned %d\n", len(res.Applied), dryRunNote(o.DryRun), len(res.Pruned))
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.overlay, "overlay", "ha", "overlay of an agops output folder: ha or single-node")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fl.StringVar(&f.dryRun, "dry-run", "none", "none, or server: the API server validates and admits everything without storing it")
	fl.BoolVar(&f.prune, "prune", false, "delete objects an earlier agops apply created that are no longer rendered")
	fl.BoolVar(&f.wait, "wait", false, "wait until every workload is ready (Jobs: complete)")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Minute, "how long --wait waits")
	fl.StringVar(&f.set, "set", "", "apply set id for --prune (default: the project, from app.kubernetes.io/part-of)")
	return cmd
}

func dryRunNote(dry bool) string {
	if dry {
		return " (server dry run)"
	}
	return ""
}

func (f *applyFlags) options(path string, progress io.Writer, quiet bool) (kube.RunOptions, error) {
	switch f.dryRun {
	case "none", "server":
	default:
		return kube.RunOptions{}, usageError{fmt.Errorf("--dry-run must be none or server, not %q", f.dryRun)}
	}
	if f.overlay != "ha" && f.overlay != "single-node" {
		return kube.RunOptions{}, usageError{fmt.Errorf("--overlay must be ha or single-node, not %q", f.overlay)}
	}
	o := kube.RunOptions{Path: path, Overlay: f.overlay, Wait: f.wait, Timeout: f.timeout}
	o.DryRun, o.Prune, o.SetID = f.dryRun == "server", f.prune, f.set
	if !quiet {
		o.Progress = progressPrinter(progress)
	}
	return o, nil
}

// loadKubeconfig reads a kubeconfig file, or $KUBECONFIG / ~/.kube/config when path is empty.
func loadKubeconfig(path string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	return cfg, nil
}

// progressPrinter shows one line per workload. On a terminal the block is redrawn in place; elsewhere each change
// is printed once.
func progressPrinter(w io.Writer) func([]kube.WorkloadState) {
	f, isFile := w.(*os.File)
	tty := isFile && term.IsTerminal(int(f.Fd()))
	var last []kube.WorkloadState
	return func(states []kube.WorkloadState) {
		if tty {
			if len(last) > 0 {
				fmt.Fprintf(w, "\x1b[%dA", len(last))
			}
			for _, s := range states {
				fmt.Fprintf(w, "\x1b[2K%s\n", s)
			}
			last = states
			return
		}
		var b strings.Builder
		for i, s := range states {
			if i >= len(last) || last[i] != s {
				b.WriteString(s.String() + "\n")
			}
		}
		fmt.Fprint(w, b.String())
		last = states
	}
}
