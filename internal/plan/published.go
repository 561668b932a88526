package plan

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"github.com/agops/agops/internal/model"
)

// What k3s's ServiceLB (its servicelb controller) puts on the pods that serve a LoadBalancer Service: they run in
// kube-system (k3s --servicelb-namespace) and carry the Service's name and namespace as labels. With the Service's
// default externalTrafficPolicy (Cluster) a ServiceLB pod forwards to the Service's cluster IP and masquerades, so
// the workload's pod sees the ServiceLB pod's own address as the source.
const (
	ServiceLBNamespace      = "kube-system"
	ServiceLBNameLabel      = "svccontroller.k3s.cattle.io/svcname"
	ServiceLBNamespaceLabel = "svccontroller.k3s.cattle.io/svcnamespace"
)

// publishedPeers are the sources a workload admits on its published ports: k3s ServiceLB's pods for its
// LoadBalancer Service, the pods of --lb-pods, and the address ranges of --node-cidr and --lb-source with the
// cluster's own ranges carved out. Never 0.0.0.0/0 alone: to a network plugin that matches pod addresses by
// ipBlock (kube-router, k3s's own, and Calico do) that admits every pod of the cluster.
func (pl *planner) publishedPeers(ns string, ext *model.Service) []model.Peer {
	peers := []model.Peer{{Namespace: ServiceLBNamespace, Labels: map[string]string{
		ServiceLBNameLabel: ext.Name, ServiceLBNamespaceLabel: ns}}}
	for _, s := range pl.opts.LBPods {
		podNS, labels, _ := ParseLBPods(s)
		peers = append(peers, model.Peer{Namespace: podNS, Labels: labels})
	}
	for _, c := range append(append([]string(nil), pl.opts.NodeCIDRs...), pl.opts.LBSources...) {
		peers = append(peers, model.Peer{CIDR: c, Except: pl.clusterRangesIn(c)})
	}
	return peers
}

// clusterRangesIn lists the pod and Service CIDRs that lie inside cidr (strictly), to be excepted from it.
func (pl *planner) clusterRangesIn(cidr string) []string {
	outer, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil
	}
	var out []string
	for _, c := range []string{pl.opts.PodCIDR, pl.opts.ServiceCIDR} {
		inner, err := netip.ParsePrefix(c)
		if err == nil && inner.Bits() > outer.Bits() && outer.Masked().Contains(inner.Addr()) {
			out = append(out, inner.Masked().String())
		}
	}
	return out
}

// describePublishedSources names what a published port admits, for the workload's networks decision.
func (pl *planner) describePublishedSources() string {
	parts := []string{"the load balancer (k3s ServiceLB's pods"}
	for _, s := range pl.opts.LBPods {
		parts = append(parts, "pods "+s)
	}
	for _, c := range pl.opts.NodeCIDRs {
		parts = append(parts, "nodes "+c)
	}
	for _, c := range pl.opts.LBSources {
		parts = append(parts, c)
	}
	return strings.Join(parts, ", ") + ")"
}

// recordPublished explains, once per project that publishes ports, what the published ports admit and what to set
// for another load balancer; a source range that reaches into the pod CIDR is a security decision.
func (pl *planner) recordPublished() {
	reason := "published ports admit only what forwards outside traffic: k3s ServiceLB's pods of the service's " +
		"LoadBalancer (" + ServiceLBNamespace + ", " + ServiceLBNameLabel + "=<Service>)"
	if len(pl.opts.LBPods) > 0 {
		reason += ", pods " + strings.Join(pl.opts.LBPods, ", ")
	}
	if cidrs := append(append([]string(nil), pl.opts.NodeCIDRs...), pl.opts.LBSources...); len(cidrs) > 0 {
		reason += ", " + strings.Join(cidrs, ", ") + " less the pod and Service CIDRs"
	}
	reason += "; other pods reach a published container port only across a shared Compose network"
	pl.record("", "ports", model.Mapped, reason,
		"for another load balancer: --lb-source CIDR (its addresses, or its clients' if it keeps them), "+
			"--node-cidr CIDR (NodePort traffic), --lb-pods NAMESPACE:KEY=VALUE (a proxy in pods, such as an ingress controller)")
	for _, c := range append(append([]string(nil), pl.opts.NodeCIDRs...), pl.opts.LBSources...) {
		if pl.insidePodCIDR(c) {
			pl.security("", "ports", model.Approximated, fmt.Sprintf("source range %s lies inside the pod CIDR %s: "+
				"pods whose addresses fall in it may open published container ports", c, pl.opts.PodCIDR),
				"name the forwarding pods with --lb-pods instead")
		}
	}
}

func (pl *planner) insidePodCIDR(cidr string) bool {
	c, err1 := netip.ParsePrefix(cidr)
	pod, err2 := netip.ParsePrefix(pl.opts.PodCIDR)
	return err1 == nil && err2 == nil && c.Bits() >= pod.Bits() && pod.Masked().Contains(c.Addr())
}

// ParseLBPods reads a --lb-pods value: NAMESPACE (every pod of it) or NAMESPACE:KEY=VALUE[,KEY=VALUE...].
func ParseLBPods(s string) (namespace string, labels map[string]string, err error) {
	ns, sel, hasSel := strings.Cut(s, ":")
	if !dnsLabelRE.MatchString(ns) {
		return "", nil, fmt.Errorf("--lb-pods %s: namespace %q is not a DNS label", s, ns)
	}
	if !hasSel {
		return ns, nil, nil
	}
	labels = map[string]string{}
	for _, kv := range strings.Split(sel, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return "", nil, fmt.Errorf("--lb-pods %s: want NAMESPACE or NAMESPACE:KEY=VALUE[,KEY=VALUE...]", s)
		}
		if !validLabelKey(k) || !validLabelValue(v) {
			return "", nil, fmt.Errorf("--lb-pods %s: %q is not a valid label", s, kv)
		}
		labels[k] = v
	}
	return ns, labels, nil
}

// CheckPublishedOptions validates --lb-pods, --lb-source and --node-cidr, reporting every bad value at once.
func CheckPublishedOptions(o Options) error {
	var errs []error
	for _, s := range o.LBPods {
		if _, _, err := ParseLBPods(s); err != nil {
			errs = append(errs, err)
		}
	}
	for _, f := range []struct {
		flag  string
		cidrs []string
	}{{"--node-cidr", o.NodeCIDRs}, {"--lb-source", o.LBSources}} {
		for _, c := range f.cidrs {
			if p, err := netip.ParsePrefix(c); err != nil || p.Masked() != p {
				errs = append(errs, fmt.Errorf("%s %s: want a CIDR with no host bits, like 192.168.1.0/24", f.flag, c))
			}
		}
	}
	return errors.Join(errs...)
}

// Label syntax as the API server checks it: a DNS-1123 label for a namespace, an optionally prefixed name for a
// label key, and a name or nothing for a value.
var (
	dnsLabelRE   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	labelNameRE  = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

func validLabelKey(k string) bool {
	prefix, name, hasPrefix := strings.Cut(k, "/")
	if !hasPrefix {
		return labelNameRE.MatchString(k)
	}
	return len(prefix) <= 253 && dnsSubdomain.MatchString(prefix) && labelNameRE.MatchString(name)
}

func validLabelValue(v string) bool { return v == "" || labelNameRE.MatchString(v) }
