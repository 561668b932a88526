//go:build linux

package testbed

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/agops/agops/internal/fsutil"
)

// The network of a cluster with real nodes. Each node lives in its own network namespace, joined to a bridge in the
// host's namespace by a veth pair; the API server listens on the bridge's address so that kubelets and pods reach it.
// Clusters that run at the same time (test packages run in parallel) each take a free index k, held by a file lock for
// the cluster's life, and with it the names and the subnet of their network:
//
//	bridge       agtb<k>            10.250.<k>.1/24 (the API server's address)
//	node i       netns agtb<k>-<i>  eth0 10.250.<k>.<10+i>, host side of its veth agtb<k>v<i>
//	pods of i    10.42.<i>.0/24     (routed between the nodes' namespaces; invisible to the host)
//	Services     10.43.0.0/16       (kube-proxy's rules, in every node's namespace)
//
// The pod and Service ranges are k3s's defaults, which agops migrate and check assume.
//
// Nothing else of the host changes: no route, no sysctl, no firewall rule outside the nodes' namespaces. Stop deletes
// the namespaces and the bridge (the veths go with them).

const maxLabNets = 64

type labNet struct {
	index  int
	unlock func()
}

// reserveLabNet takes the first free index for the cluster whose folder is dir, and removes what a holder of the
// index that died without stopping may have left: its containers and cgroups, its mounts and folder, its network.
func reserveLabNet(ctx context.Context, dir string) (*labNet, error) {
	locks := filepath.Join(os.TempDir(), "agops-testbed-net")
	if err := os.MkdirAll(locks, 0o755); err != nil {
		return nil, err
	}
	for k := range maxLabNets {
		unlock, ok, err := fsutil.TryLock(filepath.Join(locks, strconv.Itoa(k)+".lock"))
		if err != nil {
			return nil, fmt.Errorf("reserving a test network: %w", err)
		}
		if !ok {
			continue
		}
		n := &labNet{index: k, unlock: unlock}
		owner := filepath.Join(locks, strconv.Itoa(k)+".dir")
		if old, err := os.ReadFile(owner); err == nil {
			n.removeLeftovers(ctx, string(old))
		}
		if err := os.WriteFile(owner, []byte(dir), 0o644); err != nil {
			unlock()
			return nil, err
		}
		return n, nil
	}
	return nil, fmt.Errorf("all %d test networks are in use", maxLabNets)
}

func (n *labNet) bridge() string        { return fmt.Sprintf("agtb%d", n.index) }
func (n *labNet) hostIP() string        { return fmt.Sprintf("10.250.%d.1", n.index) }
func (n *labNet) subnet() string        { return fmt.Sprintf("10.250.%d.0/24", n.index) }
func (n *labNet) nodeIP(i int) string   { return fmt.Sprintf("10.250.%d.%d", n.index, 10+i) }
func (n *labNet) netns(i int) string    { return fmt.Sprintf("agtb%d-%d", n.index, i) }
func (n *labNet) hostVeth(i int) string { return fmt.Sprintf("agtb%dv%d", n.index, i) }
func nodePodCIDR(i int) string          { return fmt.Sprintf("10.42.%d.0/24", i) }

// netnsPath is the file that names node i's namespace, as nsenter takes it.
func (n *labNet) netnsPath(i int) string { return filepath.Join("/run/netns", n.netns(i)) }

// removeLeftovers ends what the last holder of index k left when it died without stopping (a test binary killed by
// its timeout, say): the processes in its nodes' cgroups (the kubelets and containerds died with it, but not their
// containers), the cgroups, the mounts under its folder, the folder, the namespaces, veths and bridge.
func (n *labNet) removeLeftovers(ctx context.Context, oldDir string) {
	for _, h := range cgroupHierarchies() {
		entries, _ := os.ReadDir(h)
		for _, e := range entries {
			if e.IsDir() && strings.HasPrefix(e.Name(), fmt.Sprintf("agtb%d-", n.index)) {
				_ = killCgroup(e.Name())
				_ = removeCgroup(e.Name())
			}
		}
	}
	if filepath.IsAbs(oldDir) && strings.HasPrefix(filepath.Base(oldDir), "agops-testbed-") {
		_ = unmountUnder(oldDir)
		_ = os.RemoveAll(oldDir)
	}
	out, _ := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	prefix := fmt.Sprintf("agtb%d-", n.index)
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			_ = ip(ctx, "netns", "delete", f[0])
		}
	}
	out, _ = exec.CommandContext(ctx, "ip", "-o", "link", "show").Output()
	for _, line := range strings.Split(string(out), "\n") {
		// "7: agtb0v2@if2: <BROADCAST,...": the veths and the bridge of index k.
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if name == n.bridge() || strings.HasPrefix(name, n.bridge()+"v") {
			_ = ip(ctx, "link", "delete", name)
		}
	}
}

// up creates the bridge and one namespace per node, with routes between the nodes' pod subnets.
func (n *labNet) up(ctx context.Context, nodes int) error {
	steps := [][]string{
		{"link", "add", n.bridge(), "type", "bridge"},
		{"addr", "add", n.hostIP() + "/24", "dev", n.bridge()},
		{"link", "set", n.bridge(), "up"},
	}
	for i := range nodes {
		steps = append(steps,
			[]string{"netns", "add", n.netns(i)},
			[]string{"link", "add", n.hostVeth(i), "type", "veth", "peer", "name", "eth0", "netns", n.netns(i)},
			[]string{"link", "set", n.hostVeth(i), "master", n.bridge(), "up"},
			[]string{"-n", n.netns(i), "link", "set", "lo", "up"},
			[]string{"-n", n.netns(i), "addr", "add", n.nodeIP(i) + "/24", "dev", "eth0"},
			[]string{"-n", n.netns(i), "link", "set", "eth0", "up"},
			// The host's bridge stands where a default gateway would be.
			[]string{"-n", n.netns(i), "route", "add", "default", "via", n.hostIP()},
		)
		for j := range nodes {
			if j != i {
				steps = append(steps, []string{"-n", n.netns(i), "route", "add", nodePodCIDR(j), "via", n.nodeIP(j)})
			}
		}
	}
	for _, s := range steps {
		if err := ip(ctx, s...); err != nil {
			return err
		}
	}
	for i := range nodes {
		// Pods reach the API server (on the host's bridge) as their node: the host has no route back to pods.
		// Traffic between pods keeps its addresses, so NetworkPolicies see the real peers.
		if err := n.exec(ctx, i, "iptables", "-t", "nat", "-A", "POSTROUTING", "-s", podCIDR, "-d", n.subnet(),
			"-j", "MASQUERADE"); err != nil {
			return err
		}
		for _, kv := range []string{"net.ipv4.ip_forward=1", "net.bridge.bridge-nf-call-iptables=1"} {
			if err := n.exec(ctx, i, "sysctl", "-q", "-w", kv); err != nil {
				return err
			}
		}
	}
	return nil
}

// cut takes node i off the network: its veth goes down on the host's side, as a host whose power failed.
func (n *labNet) cut(ctx context.Context, i int) error {
	return ip(ctx, "link", "set", n.hostVeth(i), "down")
}

// down deletes the namespaces and the bridge, and releases the index.
func (n *labNet) down(ctx context.Context, nodes int) error {
	var errs []string
	for i := range nodes {
		// The veth goes explicitly: a killed node's namespace may outlive its name for minutes, held by the sockets
		// of its dead processes whose last packets cannot leave (its link was cut).
		if err := ip(ctx, "link", "delete", n.hostVeth(i)); err != nil && !strings.Contains(err.Error(), "Cannot find") {
			errs = append(errs, err.Error())
		}
		if err := ip(ctx, "netns", "delete", n.netns(i)); err != nil && !strings.Contains(err.Error(), "No such file") {
			errs = append(errs, err.Error())
		}
	}
	if err := ip(ctx, "link", "delete", n.bridge()); err != nil && !strings.Contains(err.Error(), "Cannot find") {
		errs = append(errs, err.Error())
	}
	n.unlock()
	if len(errs) > 0 {
		return fmt.Errorf("removing the test network: %s", strings.Join(errs, "; "))
	}
	return nil
}

// exec runs a command inside node i's namespace.
func (n *labNet) exec(ctx context.Context, i int, name string, args ...string) error {
	return run(ctx, "nsenter", append([]string{"--net=" + n.netnsPath(i), "--", name}, args...)...)
}

// inNetns is the command line that runs bin with args in node i's namespace (and only its network namespace:
// kubelet and containerd must share the host's mounts).
func (n *labNet) inNetns(i int, bin string, args []string) (string, []string) {
	return "nsenter", append([]string{"--net=" + n.netnsPath(i), "--", bin}, args...)
}

func ip(ctx context.Context, args ...string) error { return run(ctx, "ip", args...) }

func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
