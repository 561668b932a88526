package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/agops/agops/internal/kubeclient"
	"github.com/agops/agops/internal/waitfor"
)

// podNamespaceFile is where the kubelet (or migrate's projected token volume) puts the pod's namespace.
const podNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// waitFlags are the flags of `agops wait service` and `agops wait job`.
type waitFlags struct {
	namespace  string
	kubeconfig string
	timeout    time.Duration
	interval   time.Duration
}

// waitFunc is waitfor.Service or waitfor.Job.
type waitFunc func(ctx context.Context, c kubeclient.Interface, namespace, name string, opts ...waitfor.Option) error

func newWaitCmd(g *globals, s streams) *cobra.Command {
	f := &waitFlags{}
	cmd := verbGroup("wait", "Wait for a dependency in the cluster (what migrate's init containers run for depends_on)")
	fl := cmd.PersistentFlags()
	fl.StringVarP(&f.namespace, "namespace", "n", "", "namespace to wait in (default: the pod's, read from "+
		podNamespaceFile+"; out of a pod, the kubeconfig context's)")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: the in-cluster config, else $KUBECONFIG or ~/.kube/config)")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Minute, "give up after this long")
	fl.DurationVar(&f.interval, "interval", waitfor.DefaultInterval, "time between two looks at the cluster")
	cmd.AddCommand(
		f.verb(g, s, "service NAME", "Wait until the Service NAME has a ready endpoint (depends_on: service_healthy)", waitfor.Service),
		f.verb(g, s, "job NAME", "Wait until the Job NAME completes; fail if it failed (depends_on: service_completed_successfully)", waitfor.Job),
	)
	return cmd
}

func (f *waitFlags) verb(g *globals, s streams, use, short string, wait waitFunc) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, namespace, err := f.parse()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			return wait(ctx, client, namespace, args[0], waitfor.WithInterval(f.interval), waitfor.WithLogger(progressLogger(g, s.err)))
		},
	}
}

// parse checks the flags and returns a client of the cluster and the namespace to wait in.
func (f *waitFlags) parse() (kubeclient.Interface, string, error) {
	if f.timeout <= 0 || f.interval <= 0 {
		return nil, "", usageError{fmt.Errorf("--timeout and --interval must be positive, not %s and %s", f.timeout, f.interval)}
	}
	cfg, namespace, err := f.config()
	if err != nil {
		return nil, "", err
	}
	cfg = rest.AddUserAgent(cfg, "agops/"+Version)
	cfg.QPS = -1 // --interval paces the requests; client-go's limiter would only hide the last error behind its own
	client, err := kubeclient.New(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("creating kubernetes client: %w", err)
	}
	return client, namespace, nil
}

// config is the in-cluster config with the pod's namespace or, with --kubeconfig or out of a pod, the kubeconfig's
// current context. --namespace wins over either namespace.
func (f *waitFlags) config() (*rest.Config, string, error) {
	if f.kubeconfig == "" {
		cfg, err := rest.InClusterConfig()
		if err == nil {
			namespace, err := f.podNamespace()
			return cfg, namespace, err
		}
		if !errors.Is(err, rest.ErrNotInCluster) {
			return nil, "", fmt.Errorf("loading in-cluster config: %w", err)
		}
	}
	return f.kubeconfigConfig()
}

func (f *waitFlags) podNamespace() (string, error) {
	if f.namespace != "" {
		return f.namespace, nil
	}
	b, err := os.ReadFile(podNamespaceFile)
	if err != nil {
		return "", fmt.Errorf("reading the pod's namespace (or pass --namespace): %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (f *waitFlags) kubeconfigConfig() (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules() // $KUBECONFIG, else ~/.kube/config
	rules.ExplicitPath = f.kubeconfig
	overrides := &clientcmd.ConfigOverrides{Context: clientcmdapi.Context{Namespace: f.namespace}}
	kc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := kc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("loading kubeconfig: %w", err)
	}
	namespace, _, err := kc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("reading the namespace from kubeconfig: %w", err)
	}
	return cfg, namespace, nil
}

// progressLogger shows wait progress at Info level, which -v alone would otherwise gate: an init container's log is
// where a user looks when a pod stays in Init. -q still silences it; -v adds debug lines.
func progressLogger(g *globals, w io.Writer) *slog.Logger {
	if g.quiet || g.verbose {
		return g.logger(w)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// verbGroup is a command that only holds subcommands: alone it prints its help, and an unknown subcommand is a
// usage error (cobra would print the help and exit 0).
func verbGroup(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs, // "unknown command ...", which Run reports as a usage error
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
}
