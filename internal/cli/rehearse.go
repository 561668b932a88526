package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/agops/agops/internal/check/reach"
	"github.com/agops/agops/internal/cluster"
	"github.com/agops/agops/internal/rehearse"
	"github.com/agops/agops/internal/testbed"
)

type rehearseFlags struct {
	load    loadFlags
	overlay string
	kill    string
	gpus    []string
	accels  []string
	ready   time.Duration
	recover time.Duration
	nodes   string
	format  string
	helper  string
	stand   bool
	// kubeconfig rehearses on the user's cluster instead of a test bed.
	kubeconfig string
	enforcer   string
}

func newRehearseCmd(g *globals, s streams) *cobra.Command {
	f := &rehearseFlags{}
	cmd := &cobra.Command{
		Use:   "rehearse [-f compose.yaml] [--kill node-b] [--overlay ha]",
		Short: "Migrate, apply to a real three-node test bed, kill a host on purpose and report what survives",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := f.plan(g, s)
			if err != nil {
				return err
			}
			var rep rehearse.Report
			if f.kubeconfig != "" {
				cfg, cerr := loadKubeconfig(f.kubeconfig)
				if cerr != nil {
					return cerr
				}
				// The stand-ins measure workloads only: ServiceLB's pods are left out of the prediction.
				network := reach.Options{PodCIDR: f.load.plan.PodCIDR, ServiceCIDR: f.load.plan.ServiceCIDR, Enforcer: f.enforcer, NoServiceLB: true}
				rep, err = rehearse.OnYourCluster(cmd.Context(), cfg, p, network)
			} else {
				rep, err = rehearse.Rehearse(cmd.Context(), p)
			}
			if err != nil {
				return err
			}
			if f.format == "json" {
				enc := json.NewEncoder(s.out)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			fmt.Fprint(s.out, rep.Text())
			return nil
		},
	}
	f.load.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.overlay, "overlay", "ha", "overlay to rehearse: ha or single-node")
	fl.StringVar(&f.kill, "kill", "node-b", "node whose host is killed")
	fl.StringArrayVar(&f.gpus, "gpus", []string{"node-a=1"}, "nvidia.com/gpu a node advertises, NODE=COUNT (repeatable)")
	fl.StringArrayVar(&f.accels, "accelerator", nil, "NODE=nvidia|amd|npu[:COUNT]: the node is set up as agops cluster init sets up an accelerator node (label, taint, resource; repeatable)")
	fl.DurationVar(&f.ready, "ready-timeout", 3*time.Minute, "how long to wait for the workloads before the kill")
	fl.DurationVar(&f.recover, "recover-timeout", 3*time.Minute, "how long to watch after the kill")
	fl.StringVar(&f.nodes, "nodes", "simulated", "simulated (kwok: scheduling and failover, no containers) or real (containerd and a kubelet per node; Linux, root)")
	fl.StringVar(&f.format, "format", "text", "text or json")
	fl.BoolVar(&f.stand, "stand-ins", false, "run agops's stand-in instead of every image (real nodes): Ready by the real probes, every port listening, every peer port dialed; prints the measured reachability matrix beside agops check's")
	fl.StringVar(&f.helper, "helper-binary", "", "static agops binary packed as the helper image on real nodes (default: this agops)")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "rehearse on your own cluster instead of a test bed (needs --stand-ins): throw-away namespaces, deleted afterwards; nothing is killed. Your cluster must be able to pull --helper-image (see agops image push)")
	fl.StringVar(&f.enforcer, "enforcer", reach.EnforcerKubeRouter, "with --kubeconfig: whose reading of NetworkPolicies the prediction follows: kube-router (k3s) or api")
	return cmd
}

func (f *rehearseFlags) plan(g *globals, s streams) (rehearse.Plan, error) {
	if f.overlay != "ha" && f.overlay != "single-node" {
		return rehearse.Plan{}, usageError{fmt.Errorf("--overlay must be ha or single-node, not %q", f.overlay)}
	}
	if f.nodes != "real" && f.nodes != "simulated" {
		return rehearse.Plan{}, usageError{fmt.Errorf("--nodes must be real or simulated, not %q", f.nodes)}
	}
	if f.format != "text" && f.format != "json" {
		return rehearse.Plan{}, usageError{fmt.Errorf("--format must be text or json, not %q", f.format)}
	}
	if f.kubeconfig != "" {
		if !f.stand {
			return rehearse.Plan{}, usageError{errors.New("--kubeconfig needs --stand-ins: agops does not start your images, nor kill your hosts")}
		}
		if f.enforcer != reach.EnforcerAPI && f.enforcer != reach.EnforcerKubeRouter {
			return rehearse.Plan{}, usageError{fmt.Errorf("--enforcer %q: want %s or %s", f.enforcer, reach.EnforcerAPI, reach.EnforcerKubeRouter)}
		}
		mo, err := f.load.options(s)
		if err != nil {
			return rehearse.Plan{}, err
		}
		p := rehearse.Plan{Migrate: mo, Overlay: f.overlay, StandIns: true}
		p.Options = rehearse.Options{Ready: f.ready, Logger: progressLogger(g, s.err)}
		if !g.quiet {
			p.Progress = func(e rehearse.Event) { fmt.Fprintf(s.err, "agops: %s\n", e.What) }
		}
		return p, nil
	}
	if f.nodes == "real" {
		if err := testbed.RealNodesSupported(); err != nil {
			return rehearse.Plan{}, fmt.Errorf("--nodes real: %w", err)
		}
	}
	nodes, err := nodeSpecs(f.gpus)
	if err != nil {
		return rehearse.Plan{}, err
	}
	if err := acceleratorNodes(nodes, f.accels, f.load.plan.NPUResource); err != nil {
		return rehearse.Plan{}, err
	}
	found := false
	for _, n := range nodes {
		found = found || n.Name == f.kill
	}
	if !found {
		return rehearse.Plan{}, usageError{fmt.Errorf("--kill %s: the test bed's nodes are node-a, node-b and node-c", f.kill)}
	}
	log := progressLogger(g, s.err)
	mo, err := f.load.options(s)
	if err != nil {
		return rehearse.Plan{}, err
	}
	p := rehearse.Plan{Migrate: mo, Overlay: f.overlay, RealNodes: f.nodes == "real", HelperBinary: f.helper, StandIns: f.stand}
	if p.StandIns && !p.RealNodes {
		return rehearse.Plan{}, usageError{errors.New("--stand-ins needs --nodes real: simulated nodes run no containers")}
	}
	if p.RealNodes && p.HelperBinary == "" {
		if p.HelperBinary, err = os.Executable(); err != nil {
			return rehearse.Plan{}, fmt.Errorf("finding this agops for the helper image: %w", err)
		}
	}
	p.Testbed = []testbed.Option{testbed.WithNodes(nodes), testbed.WithLogger(log)}
	p.Options = rehearse.Options{Kill: f.kill, Ready: f.ready, Recover: f.recover, Logger: log}
	if !g.quiet {
		p.Progress = func(e rehearse.Event) { fmt.Fprintf(s.err, "agops: %+5.0fs %s\n", e.At.Seconds(), e.What) }
	}
	return p, nil
}

// nodeSpecs gives the three test-bed nodes the GPUs asked for with NODE=COUNT.
func nodeSpecs(gpus []string) ([]testbed.NodeSpec, error) {
	nodes := append([]testbed.NodeSpec(nil), testbed.DefaultNodes...)
	for _, spec := range gpus {
		name, count, ok := strings.Cut(spec, "=")
		n, err := strconv.Atoi(count)
		if !ok || err != nil || n < 0 {
			return nil, usageError{fmt.Errorf("--gpus %q: want NODE=COUNT", spec)}
		}
		i := -1
		for j := range nodes {
			if nodes[j].Name == name {
				i = j
			}
		}
		if i < 0 {
			return nil, usageError{fmt.Errorf("--gpus %q: no node %s (node-a, node-b, node-c)", spec, name)}
		}
		nodes[i].GPUs = n
	}
	return nodes, nil
}

// acceleratorNodes sets up nodes as agops cluster init sets up accelerator nodes: the accelerator label, the
// <resource>=present:NoSchedule taint, and COUNT (default 1) of the resource advertised.
func acceleratorNodes(nodes []testbed.NodeSpec, specs []string, npu string) error {
	for _, spec := range specs {
		node, kindCount, _ := strings.Cut(spec, "=")
		kindName, count, hasCount := strings.Cut(kindCount, ":")
		n, err := strconv.Atoi(count)
		if !hasCount {
			n, err = 1, nil
		}
		_, kind, kerr := cluster.ParseAccelerator(node + "=" + kindName)
		i := slices.IndexFunc(nodes, func(x testbed.NodeSpec) bool { return x.Name == node })
		switch {
		case kerr != nil:
			return usageError{fmt.Errorf("--accelerator %q: %w", spec, kerr)}
		case err != nil || n < 1:
			return usageError{fmt.Errorf("--accelerator %q: want NODE=KIND[:COUNT] with COUNT >= 1", spec)}
		case i < 0:
			return usageError{fmt.Errorf("--accelerator %q: no node %s (node-a, node-b, node-c)", spec, node)}
		}
		res := cluster.Spec{NPUResource: npu}.Resource(kind)
		nd := &nodes[i]
		if nd.Extended == nil {
			nd.Extended = map[string]int{}
		}
		nd.Extended[res] += n
		nd.Labels = map[string]string{cluster.AcceleratorLabel: string(kind)}
		nd.Taints = append(nd.Taints, corev1.Taint{Key: res, Value: cluster.TaintValue, Effect: corev1.TaintEffectNoSchedule})
	}
	return nil
}
