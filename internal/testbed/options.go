package testbed

import (
	"io"
	"log/slog"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
)

// NodeSpec describes one fake node: its name and how many nvidia.com/gpu it
// advertises.
type NodeSpec struct {
	Name string
	GPUs int
	// Extended lists other extended resources the node advertises, such as amd.com/gpu or an NPU.
	Extended map[string]int
	// Labels and Taints are set on the Node, as a cluster's configuration sets them (agops cluster init labels and
	// taints accelerator nodes).
	Labels map[string]string
	Taints []corev1.Taint
}

// DefaultNodes are the nodes a cluster has unless WithNodes says otherwise:
// three nodes without GPUs. Copy it before changing it.
var DefaultNodes = []NodeSpec{{Name: "node-a"}, {Name: "node-b"}, {Name: "node-c"}}

// Option configures Install and Start.
type Option func(*options)

type options struct {
	logger      *slog.Logger
	cacheDir    string
	binaries    *Binaries
	nodes       []NodeSpec
	classes     []string
	stopGrace   time.Duration
	readyWithin time.Duration
	real        bool
	nodeBins    *NodeBinaries
	images      map[string]v1.Image
}

func newOptions(opts []Option) options {
	o := options{
		logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		nodes:       DefaultNodes,
		stopGrace:   10 * time.Second,
		readyWithin: 2 * time.Minute,
	}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithLogger sends build output and progress to l. The default is silent.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithCacheDir sets the folder that holds the built binaries, one subfolder
// per version of the tools module. The default is $AGOPS_CACHE/testbed, or
// the user cache folder's agops/testbed.
func WithCacheDir(dir string) Option {
	return func(o *options) { o.cacheDir = dir }
}

// WithBinaries makes Start use these binaries instead of calling Install.
func WithBinaries(b Binaries) Option {
	return func(o *options) { o.binaries = &b }
}

// WithNodes sets the fake nodes of the cluster (default DefaultNodes).
func WithNodes(nodes []NodeSpec) Option {
	return func(o *options) { o.nodes = append([]NodeSpec(nil), nodes...) }
}

// WithStopGrace sets how long Stop waits after SIGTERM before it sends
// SIGKILL (default 10s).
func WithStopGrace(d time.Duration) Option {
	return func(o *options) { o.stopGrace = d }
}

// WithReadyTimeout bounds each readiness wait of Start (default 2m), in
// addition to the context.
func WithReadyTimeout(d time.Duration) Option {
	return func(o *options) { o.readyWithin = d }
}

// WithStorageClasses adds storage classes, besides the default local-path, whose claims the binder provisions, as
// a cluster that has them would.
func WithStorageClasses(names ...string) Option {
	return func(o *options) { o.classes = append(o.classes, names...) }
}

// WithRealNodes makes the nodes real: each runs containerd, a kubelet and kube-proxy in its own network namespace,
// and the cluster runs CoreDNS and a NetworkPolicy enforcer (see README.md). It needs Linux and root
// (RealNodesSupported); missing Debian packages are installed.
func WithRealNodes() Option {
	return func(o *options) { o.real = true }
}

// WithNodeBinaries makes Start use these real-node binaries instead of calling InstallNodes.
func WithNodeBinaries(b NodeBinaries) Option {
	return func(o *options) { o.nodeBins = &b }
}

// WithImage makes Start import img into every real node's runtime as ref, as LoadImage does (real nodes only).
func WithImage(ref string, img v1.Image) Option {
	return func(o *options) {
		if o.images == nil {
			o.images = map[string]v1.Image{}
		}
		o.images[ref] = img
	}
}
