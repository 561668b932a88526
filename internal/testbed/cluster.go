package testbed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"k8s.io/client-go/rest"

	"github.com/agops/agops/internal/kubeclient"
)

// Cluster is a running control plane with fake nodes. Its methods are safe
// for concurrent use.
type Cluster struct {
	log         *slog.Logger
	bins        Binaries
	paths       paths
	ports       ports
	nodes       []NodeSpec
	classes     []string // storage classes the binder serves besides local-path
	stopGrace   time.Duration
	readyWithin time.Duration

	token  string
	config *rest.Config
	client kubeclient.Interface

	// Real nodes (WithRealNodes): their binaries, network, tokens and processes.
	realNodes  bool
	nodeBins   NodeBinaries
	net        *labNet
	nodeTokens map[string]string
	real       map[string]*realNode // by node name
	unlockReal func()               // releases the machine's real-node lock (lockRealNodes)

	mu     sync.Mutex
	procs  []*process          // in start order
	kwok   map[string]*process // by node name
	killed map[*process]bool   // ended on purpose by KillNode

	cancel   context.CancelFunc // ends the PV binder
	wg       sync.WaitGroup
	stopped  chan struct{}
	stopOnce sync.Once
	stopErr  error
}

// Start builds or reuses the binaries (see Install), then starts etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, the PV binder and
// one kwok per node, all on free loopback ports, and waits until every node
// is Ready. The cluster lives until Stop is called or ctx ends; on error,
// everything started so far is stopped.
func Start(ctx context.Context, opts ...Option) (*Cluster, error) {
	o := newOptions(opts)
	if err := validateNodes(o.nodes); err != nil {
		return nil, err
	}
	bins, err := binaries(ctx, o, opts)
	if err != nil {
		return nil, err
	}
	var nodeBins NodeBinaries
	if o.real {
		if nodeBins, err = prepareRealNodes(ctx, o, opts); err != nil {
			return nil, err
		}
	}
	unlock := func() {}
	if o.real {
		if unlock, err = lockRealNodes(ctx, o.logger); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "agops-testbed-")
	if err != nil {
		unlock()
		return nil, fmt.Errorf("creating cluster folder: %w", err)
	}
	c := &Cluster{
		log: o.logger, bins: bins, paths: newPaths(dir), nodes: o.nodes, classes: o.classes,
		stopGrace: o.stopGrace, readyWithin: o.readyWithin,
		kwok: map[string]*process{}, killed: map[*process]bool{},
		realNodes: o.real, nodeBins: nodeBins, real: map[string]*realNode{}, unlockReal: unlock,
		cancel: func() {}, stopped: make(chan struct{}),
	}
	if err := c.start(ctx); err != nil {
		return nil, errors.Join(err, c.Stop())
	}
	if len(o.images) > 0 && !o.real {
		return nil, errors.Join(errors.New("images can only be loaded into real nodes"), c.Stop())
	}
	for _, ref := range slices.Sorted(maps.Keys(o.images)) {
		if err := c.LoadImage(ctx, ref, o.images[ref]); err != nil {
			return nil, errors.Join(err, c.Stop())
		}
	}
	go func() {
		select {
		case <-ctx.Done():
			_ = c.Stop()
		case <-c.stopped:
		}
	}()
	return c, nil
}

func binaries(ctx context.Context, o options, opts []Option) (Binaries, error) {
	if o.binaries != nil {
		return *o.binaries, nil
	}
	return Install(ctx, opts...)
}

func (c *Cluster) start(ctx context.Context) error {
	begin := time.Now()
	if err := c.prepare(ctx); err != nil {
		return err
	}
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"etcd", c.startEtcd},
		{"kube-apiserver", c.startAPIServer},
		{"controllers", c.startControllers},
		{"storage", c.startStorage},
		{"nodes", c.startNodes},
		{"add-ons", c.startAddons},
	}
	for _, s := range steps {
		t := time.Now()
		if err := s.run(ctx); err != nil {
			return err
		}
		c.log.Info("testbed step ready", "step", s.name, "took", time.Since(t).Round(time.Millisecond))
	}
	c.log.Info("testbed cluster ready", "server", c.config.Host, "kubeconfig", c.paths.kubeconfig,
		"took", time.Since(begin).Round(time.Millisecond))
	return nil
}

// prepare writes the files the processes read and picks their ports.
func (c *Cluster) prepare(ctx context.Context) error {
	for _, d := range []string{c.paths.etcdData, c.paths.certDir, c.paths.logs, c.paths.volumes} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if err := writeServiceAccountKey(c.paths.saKey); err != nil {
		return err
	}
	var users []tokenUser
	if c.realNodes {
		users = nodeUsers(c.nodes)
	}
	token, nodeTokens, err := writeTokenFile(c.paths.tokens, users)
	if err != nil {
		return fmt.Errorf("writing token file: %w", err)
	}
	c.token, c.nodeTokens = token, nodeTokens
	if err := writeKwokConfig(c.paths.kwokConfig); err != nil {
		return fmt.Errorf("writing kwok config: %w", err)
	}
	if c.ports, err = allocatePorts(len(c.nodes)); err != nil {
		return err
	}
	if c.realNodes {
		// The API server serves on k3s's port, on the cluster's own bridge address, which no other cluster has:
		// pods reach it through the kubernetes Service, and NetworkPolicies that admit the API server by its port
		// (agops admits TCP 6443) must see the port k3s uses.
		c.ports.apiServer = k3sAPIPort
		return c.startNetwork(ctx)
	}
	return nil
}

// k3sAPIPort is the port k3s's API server serves on.
const k3sAPIPort = 6443

// run starts one process and records it.
func (c *Cluster) run(name, bin string, args []string) (*process, error) {
	p, err := startProcess(name, bin, args, filepath.Join(c.paths.logs, name+".log"))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	c.log.Debug("started", "process", name, "pid", p.pid(), "args", args)
	return p, nil
}

// Kubeconfig is the path of a kubeconfig file for the admin user (group
// system:masters), valid until Stop.
func (c *Cluster) Kubeconfig() string { return c.paths.kubeconfig }

// RESTConfig returns a copy of the admin user's client configuration.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.config) }

// Client is a clientset for the admin user.
func (c *Cluster) Client() kubeclient.Interface { return c.client }

// Nodes are the names of the cluster's nodes, in the order given to Start.
func (c *Cluster) Nodes() []string {
	names := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		names[i] = n.Name
	}
	return names
}

// Dir is the cluster's temporary folder (logs, volumes, etcd data), removed
// by Stop.
func (c *Cluster) Dir() string { return c.paths.root }

// Logs maps each process's name (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok-<node>) to its log file.
// The files are removed by Stop.
func (c *Cluster) Logs() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	logs := make(map[string]string, len(c.procs))
	for _, p := range c.procs {
		logs[p.name] = p.log
	}
	return logs
}

// KillNode simulates a host failure: it sends SIGKILL to the kwok process
// of node name, so the node stops renewing its lease and its pods stop
// changing. The node becomes NotReady after the node monitor grace period
// (20s).
func (c *Cluster) KillNode(name string) error {
	c.mu.Lock()
	if r := c.real[name]; r != nil {
		c.mu.Unlock()
		if err := c.killRealNode(r); err != nil {
			return err
		}
		c.log.Info("killed node", "node", name)
		return nil
	}
	p, ok := c.kwok[name]
	if ok {
		c.killed[p] = true
	}
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("no node %q in the testbed cluster", name)
	}
	p.kill()
	c.log.Info("killed node", "node", name, "pid", p.pid())
	return nil
}

// pids are the process ids of every child the cluster started.
func (c *Cluster) pids() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]int, len(c.procs))
	for i, p := range c.procs {
		out[i] = p.pid()
	}
	return out
}

// deadProcess returns a child that exited without being asked to.
func (c *Cluster) deadProcess() *process {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		if !c.killed[p] && p.exited() {
			return p
		}
	}
	return nil
}

// Stop ends every process, kwok first and etcd last: SIGTERM, then SIGKILL
// after the grace period. It then removes the cluster's folder. Calling it
// again returns the first result.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		close(c.stopped)
		c.stopErr = c.stop()
	})
	return c.stopErr
}

func (c *Cluster) stop() error {
	c.cancel()
	var errs []error
	if c.realNodes {
		errs = append(errs, c.stopRealNodes())
	}
	c.mu.Lock()
	procs := append([]*process(nil), c.procs...)
	c.mu.Unlock()
	// Tiers in reverse start order; the processes of one tier stop together.
	for _, tier := range stopTiers(procs) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, p := range tier {
			wg.Go(func() {
				if err := p.stop(c.stopGrace); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	c.wg.Wait()
	if c.net != nil {
		errs = append(errs, c.net.down(context.Background(), len(c.nodes)))
	}
	if err := os.RemoveAll(c.paths.root); err != nil {
		errs = append(errs, fmt.Errorf("removing cluster folder: %w", err))
	}
	c.unlockReal()
	c.log.Info("testbed cluster stopped")
	return errors.Join(errs...)
}

// stopTiers groups processes for stopping: kwoks, then scheduler and
// controller manager, then the API server, then etcd.
func stopTiers(procs []*process) [][]*process {
	rank := func(name string) int {
		switch name {
		case "etcd":
			return 3
		case "kube-apiserver":
			return 2
		case "kube-controller-manager", "kube-scheduler":
			return 1
		}
		return 0
	}
	tiers := make([][]*process, 4)
	for _, p := range procs {
		r := rank(p.name)
		tiers[r] = append(tiers[r], p)
	}
	return tiers
}
