package cli

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/agops/agops/internal/image"
	"github.com/agops/agops/internal/plan"
	"github.com/agops/agops/internal/testbed"
)

type testbedFlags struct {
	dir       string
	gpus      []string // up
	serveGPUs []string // serve: what up passes on
	nodes     string   // up and serve: real or simulated
	helper    string   // up and serve: the reference the helper image is loaded as (real nodes)
}

// stateFile and logFile live in the run folder of a test bed left running.
func (f *testbedFlags) stateFile() string { return filepath.Join(f.dir, "state.json") }
func (f *testbedFlags) logFile() string   { return filepath.Join(f.dir, "testbed.log") }

func defaultRunDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "agops", "testbed-run")
	}
	return filepath.Join(os.TempDir(), "agops-testbed-run")
}

func newTestbedCmd(g *globals, s streams) *cobra.Command {
	f := &testbedFlags{}
	cmd := verbGroup("testbed", "A real control plane with three simulated nodes, for rehearsals and your own kubectl")
	cmd.PersistentFlags().StringVar(&f.dir, "dir", defaultRunDir(), "folder for the state and log of a test bed left running")
	install := &cobra.Command{
		Use: "install", Short: "Build the control-plane binaries from the Go module proxy and cache them", Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := testbed.Install(cmd.Context(), testbed.WithLogger(progressLogger(g, s.err)))
			if err == nil {
				fmt.Fprintf(s.out, "binaries in %s\n", filepath.Dir(b.APIServer))
			}
			return err
		},
	}
	up := &cobra.Command{
		Use: "up", Short: "Start a test bed in the background and print its kubeconfig", Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			if err := f.validateNodes(); err != nil {
				return err
			}
			args := []string{"testbed", "serve", "--dir", f.dir, "--nodes", f.nodes, "--helper-image", f.helper}
			for _, gpu := range f.gpus {
				args = append(args, "--gpus", gpu)
			}
			st, err := testbed.Up(cmd.Context(), self, args, f.stateFile(), f.logFile())
			if err == nil {
				fmt.Fprintf(s.out, "export KUBECONFIG=%s\n", st.Kubeconfig)
			}
			return err
		},
	}
	up.Flags().StringArrayVar(&f.gpus, "gpus", []string{"node-a=1"}, "nvidia.com/gpu a node advertises, NODE=COUNT (repeatable)")
	serve := &cobra.Command{
		Use: "serve", Hidden: true, Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			nodes, err := nodeSpecs(f.serveGPUs)
			if err != nil {
				return err
			}
			if err := f.validateNodes(); err != nil {
				return err
			}
			log := progressLogger(g, s.err)
			opts := []testbed.Option{testbed.WithNodes(nodes), testbed.WithLogger(log)}
			if f.nodes == "real" {
				opts = append(opts, testbed.WithRealNodes())
				if img, err := selfImage(); err != nil {
					log.Warn("the helper image is not loaded: migrated manifests' init containers will not start", "err", err)
				} else {
					opts = append(opts, testbed.WithImage(f.helper, img))
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return testbed.Serve(ctx, f.stateFile(), opts...)
		},
	}
	serve.Flags().StringArrayVar(&f.serveGPUs, "gpus", nil, "nvidia.com/gpu a node advertises, NODE=COUNT (repeatable)")
	for _, c := range []*cobra.Command{up, serve} {
		c.Flags().StringVar(&f.nodes, "nodes", "simulated", "simulated (kwok) or real (containerd and a kubelet per node; Linux, root)")
		c.Flags().StringVar(&f.helper, "helper-image", plan.DefaultOptions().HelperImage, "with --nodes real: the reference this agops is loaded as, for the init containers and stand-ins of migrated manifests (agops must be built with CGO_ENABLED=0)")
	}
	down := &cobra.Command{
		Use: "down", Short: "Stop the test bed that up started", Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error { return testbed.Down(cmd.Context(), f.stateFile()) },
	}
	cmd.AddCommand(install, up, serve, down)
	return cmd
}

func (f *testbedFlags) validateNodes() error {
	switch f.nodes {
	case "simulated":
		return nil
	case "real":
		return testbed.RealNodesSupported()
	}
	return usageError{fmt.Errorf("--nodes must be real or simulated, not %q", f.nodes)}
}

// selfImage packs this agops as the helper image; it must be static.
func selfImage() (v1.Image, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return image.Build(self)
}
