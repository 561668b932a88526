//go:build linux

package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/agops/agops/internal/apt"
)

// realNode is one node that runs containers: containerd, a kubelet and kube-proxy in the node's network namespace,
// every process of it (pods included) in the node's cgroup.
type realNode struct {
	spec   NodeSpec
	index  int
	dir    string // its folder under the cluster's
	cgroup string // its cgroup's name, the kubelet's cgroupRoot

	containerd, kubelet, kubeProxy, kubeRouter *process
	dead                                       bool // killed by KillNode
}

func (r *realNode) socket() string { return filepath.Join(r.dir, "containerd.sock") }

// hostCommands are what real nodes run besides the built binaries, and the Debian packages that have them.
var hostCommands = map[string]string{
	"containerd": "containerd", "containerd-shim-runc-v2": "containerd", "ctr": "containerd", "runc": "runc",
	"iptables": "iptables", "ip6tables": "iptables", "ipset": "ipset", "conntrack": "conntrack",
	"ip": "iproute2", "nsenter": "util-linux", "sysctl": "procps",
}

// cniDir is where Debian's containernetworking-plugins puts the bridge, host-local, portmap and loopback plugins.
const cniDir = "/usr/lib/cni"

// RealNodesSupported tells whether this machine can run real nodes, and why not: Linux, root, and the cgroup file
// system. The Debian packages they need are installed by Start when missing.
func RealNodesSupported() error {
	if os.Geteuid() != 0 {
		return errors.New("real nodes need root (network namespaces, cgroups, containerd)")
	}
	if len(cgroupHierarchies()) == 0 {
		return fmt.Errorf("real nodes need cgroups under %s", cgroupFS)
	}
	return nil
}

// ensureHostPackages installs containerd, runc, the CNI plugins, iptables, ipset and conntrack when missing.
func ensureHostPackages(ctx context.Context) error {
	cmds := make([]string, 0, len(hostCommands))
	for c := range hostCommands {
		cmds = append(cmds, c)
	}
	pkgs := apt.Missing(cmds, hostCommands)
	if _, err := os.Stat(filepath.Join(cniDir, "bridge")); err != nil {
		pkgs = append(pkgs, "containernetworking-plugins")
	}
	if len(pkgs) == 0 {
		return nil
	}
	if err := apt.Install(ctx, pkgs...); err != nil {
		return fmt.Errorf("installing what real nodes need: %w", err)
	}
	return nil
}

// startRealNodes builds the network, then starts containerd, the kubelet and kube-proxy of each node, loads the
// pause image into every node and waits until all nodes are Ready.
func (c *Cluster) startRealNodes(ctx context.Context) error {
	if err := c.createNodes(ctx); err != nil {
		return err
	}
	pause, err := c.imageArchive("pause", c.nodeBins.Pause, sandboxImage, nil)
	if err != nil {
		return err
	}
	for i, spec := range c.nodes {
		r := &realNode{spec: spec, index: i, dir: filepath.Join(c.paths.root, "nodes", spec.Name),
			cgroup: fmt.Sprintf("agtb%d-%s", c.net.index, spec.Name)}
		c.mu.Lock()
		c.real[spec.Name] = r
		c.mu.Unlock()
		if err := c.startRuntime(ctx, r); err != nil {
			return fmt.Errorf("node %s: %w", spec.Name, err)
		}
		if err := c.importArchive(ctx, r, pause); err != nil {
			return fmt.Errorf("node %s: %w", spec.Name, err)
		}
		if err := c.startKubelet(r); err != nil {
			return fmt.Errorf("node %s: %w", spec.Name, err)
		}
		if err := c.startKubeProxy(r); err != nil {
			return fmt.Errorf("node %s: %w", spec.Name, err)
		}
	}
	if err := c.waitFor(ctx, "nodes", c.nodesReady); err != nil {
		return err
	}
	return c.advertiseExtended(ctx)
}

func (c *Cluster) startRuntime(ctx context.Context, r *realNode) error {
	for _, d := range []string{r.dir, filepath.Join(r.dir, "cni"), filepath.Join(r.dir, "kubelet")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if err := makeCgroup(r.cgroup); err != nil {
		return err
	}
	files := map[string]string{
		"containerd.toml":       containerdConfig(r.dir),
		"cni/10-agops.conflist": cniConfig(r.dir, nodePodCIDR(r.index)),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(r.dir, name), []byte(data), 0o600); err != nil {
			return err
		}
	}
	bin, args := c.net.inNetns(r.index, "containerd", []string{"--config", filepath.Join(r.dir, "containerd.toml")})
	p, err := c.run("containerd-"+r.spec.Name, bin, args)
	if err != nil {
		return err
	}
	r.containerd = p
	// Its shims, and with them every container, inherit the node's cgroup.
	if err := joinCgroup(r.cgroup, p.pid()); err != nil {
		return err
	}
	return c.waitFor(ctx, "containerd of "+r.spec.Name, func(ctx context.Context) (bool, error) {
		return exec.CommandContext(ctx, "ctr", "--address", r.socket(), "version").Run() == nil, nil
	})
}

func (c *Cluster) startKubelet(r *realNode) error {
	kc, err := c.nodeKubeconfig(r, "kubelet", c.nodeTokens["system:node:"+r.spec.Name])
	if err != nil {
		return err
	}
	resolv := filepath.Join(r.dir, "resolv.conf")
	// Pods whose dnsPolicy is Default, and CoreDNS's forward, see this: the node's network has no resolver.
	if err := os.WriteFile(resolv, []byte("nameserver "+c.net.hostIP()+"\noptions timeout:1 attempts:1\n"), 0o644); err != nil {
		return err
	}
	config := filepath.Join(r.dir, "kubelet.yaml")
	if err := os.WriteFile(config, []byte(kubeletConfig(r, c.net.nodeIP(r.index), resolv)), 0o600); err != nil {
		return err
	}
	bin, args := c.net.inNetns(r.index, c.nodeBins.Kubelet, []string{
		"--config=" + config,
		"--kubeconfig=" + kc,
		"--hostname-override=" + r.spec.Name,
		"--node-ip=" + c.net.nodeIP(r.index),
		"--root-dir=" + filepath.Join(r.dir, "kubelet"),
		"--v=1",
	})
	p, err := c.run("kubelet-"+r.spec.Name, bin, args)
	r.kubelet = p
	return err
}

func (c *Cluster) startKubeProxy(r *realNode) error {
	kc, err := c.nodeKubeconfig(r, "kube-proxy", c.nodeTokens["system:kube-proxy"])
	if err != nil {
		return err
	}
	config := filepath.Join(r.dir, "kube-proxy.yaml")
	if err := os.WriteFile(config, []byte(kubeProxyConfig(kc, r.spec.Name)), 0o600); err != nil {
		return err
	}
	bin, args := c.net.inNetns(r.index, c.nodeBins.KubeProxy, []string{"--config=" + config, "--v=1"})
	p, err := c.run("kube-proxy-"+r.spec.Name, bin, args)
	r.kubeProxy = p
	return err
}

// advertiseExtended puts each node's GPUs and other extended resources in its status, as a device plugin would;
// the kubelet keeps extended resources it does not manage.
func (c *Cluster) advertiseExtended(ctx context.Context) error {
	for _, spec := range c.nodes {
		res := map[string]string{}
		if spec.GPUs > 0 {
			res[string(GPUResource)] = strconv.Itoa(spec.GPUs)
		}
		for name, n := range spec.Extended {
			res[name] = strconv.Itoa(n)
		}
		if len(res) == 0 {
			continue
		}
		var ops []string
		for name, v := range res {
			key := strings.ReplaceAll(name, "/", "~1")
			ops = append(ops,
				fmt.Sprintf(`{"op":"add","path":"/status/capacity/%s","value":"%s"}`, key, v),
				fmt.Sprintf(`{"op":"add","path":"/status/allocatable/%s","value":"%s"}`, key, v))
		}
		patch := "[" + strings.Join(ops, ",") + "]"
		if _, err := c.client.CoreV1().Nodes().Patch(ctx, spec.Name, types.JSONPatchType, []byte(patch),
			metav1.PatchOptions{}, "status"); err != nil {
			return fmt.Errorf("advertising extended resources of %s: %w", spec.Name, err)
		}
	}
	return nil
}

// killRealNode is a host failure: the node's network is cut, then its kubelet, kube-proxy, containerd and every
// container die by SIGKILL. Its Node object stays, NotReady once the grace period passes.
func (c *Cluster) killRealNode(r *realNode) error {
	c.mu.Lock()
	r.dead = true
	procs := []*process{r.kubelet, r.kubeProxy, r.kubeRouter, r.containerd}
	for _, p := range procs {
		if p != nil {
			c.killed[p] = true
		}
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cutErr := c.net.cut(ctx, r.index)
	for _, p := range procs {
		if p != nil {
			p.kill()
		}
	}
	return errors.Join(cutErr, killCgroup(r.cgroup))
}

// stopRealNodes ends every node's processes (containers included), detaches their mounts and removes their
// cgroups. The network goes afterwards (labNet.down).
func (c *Cluster) stopRealNodes() error {
	c.mu.Lock()
	nodes := make([]*realNode, 0, len(c.real))
	for _, r := range c.real {
		nodes = append(nodes, r)
	}
	c.mu.Unlock()
	var errs []error
	for _, r := range nodes {
		for _, p := range []*process{r.kubelet, r.kubeProxy, r.kubeRouter} {
			if p != nil {
				_ = p.stop(c.stopGrace)
			}
		}
	}
	for _, r := range nodes {
		if r.containerd != nil {
			r.containerd.kill()
		}
		errs = append(errs, killCgroup(r.cgroup))
	}
	for _, r := range nodes {
		errs = append(errs, unmountUnder(r.dir), removeCgroup(r.cgroup))
	}
	return errors.Join(errs...)
}

// nodeUsers are the users that real nodes' processes authenticate as, besides the admin.
func nodeUsers(nodes []NodeSpec) []tokenUser {
	users := []tokenUser{{name: "system:kube-proxy"}}
	for _, n := range nodes {
		users = append(users, tokenUser{name: "system:node:" + n.Name, groups: "system:nodes"})
	}
	return users
}

// realNodeObject is the Node of a real node, created before its kubelet registers it, with its pod CIDR (no node IPAM
// controller runs), its labels and taints.
func realNodeObject(spec NodeSpec, i int) *corev1.Node {
	n := nodeObject(spec)
	delete(n.Annotations, nodeAnnotation)
	n.Labels["type"] = "real"
	n.Spec.PodCIDR, n.Spec.PodCIDRs = nodePodCIDR(i), []string{nodePodCIDR(i)}
	n.Status = corev1.NodeStatus{}
	return n
}

// prepareRealNodes checks the machine, installs missing packages and builds (or finds) the nodes' binaries.
func prepareRealNodes(ctx context.Context, o options, opts []Option) (NodeBinaries, error) {
	if err := RealNodesSupported(); err != nil {
		return NodeBinaries{}, err
	}
	if err := ensureHostPackages(ctx); err != nil {
		return NodeBinaries{}, err
	}
	if o.nodeBins != nil {
		return *o.nodeBins, nil
	}
	return InstallNodes(ctx, opts...)
}

// startNetwork reserves the cluster's test network and creates the bridge and the nodes' namespaces.
func (c *Cluster) startNetwork(ctx context.Context) error {
	n, err := reserveLabNet(ctx, c.paths.root)
	if err != nil {
		return err
	}
	c.net = n
	return n.up(ctx, len(c.nodes))
}

// startKubeRouter runs kube-router's network-policy controller alone (tools/kube-router/cmd/kube-router-netpol: no
// routing, no service proxy; kube-proxy and the routes between namespaces do that) in the node's namespace, as k3s
// runs it in its agent.
func (c *Cluster) startKubeRouter(r *realNode) error {
	kc, err := c.nodeKubeconfig(r, "kube-router", c.token) // the admin: a test-only component
	if err != nil {
		return err
	}
	// kube-router finds its Node by $NODE_NAME, then by the host name (which every namespace shares), and only then
	// by --hostname-override.
	bin, args := c.net.inNetns(r.index, "env", []string{"NODE_NAME=" + r.spec.Name, c.nodeBins.KubeRouter,
		"--kubeconfig=" + kc,
		"--hostname-override=" + r.spec.Name,
		"--service-cluster-ip-range=" + serviceCIDR,
		"--health-port=20244", "--metrics-port=0",
		"--v=1",
	})
	p, err := c.run("kube-router-"+r.spec.Name, bin, args)
	r.kubeRouter = p
	return err
}

// nodeKubeconfig writes the kubeconfig a process of node r uses, authenticated by token, and returns its path.
func (c *Cluster) nodeKubeconfig(r *realNode, process, token string) (string, error) {
	path := filepath.Join(r.dir, process+".kubeconfig")
	cfg := rest.CopyConfig(c.config)
	cfg.BearerToken = token
	return path, writeKubeconfig(path, cfg)
}
