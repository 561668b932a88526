package plan

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/agops/agops/internal/model"
)

// Names of the namespace-wide policies.
const (
	policyDefaultDeny = "agops-default-deny"
	policyAllowDNS    = "agops-allow-dns"
)

// ruleNetwork isolates the tiers. Every tier namespace denies all ingress and egress by default and allows DNS;
// each workload then accepts, on its declared container ports only, the services it shared a Compose network with,
// may open connections to them, reaches outside the cluster only when one of its networks was not internal, and
// accepts outside traffic only on the ports it published, and there only from what forwards it (publishedPeers). A peer in another tier keeps reaching it by its Compose
// name through an ExternalName Service in the peer's namespace.
//
// Rules name networks, not peers: every pod carries a label per Compose network it is on, a workload admits the
// project's pods with the label of a network it shares, and may open any port of them — their own ingress rules
// admit only their declared ports. So a policy has one rule per network, however many services share it.
func (pl *planner) ruleNetwork() {
	primaries := pl.primaryServices()
	nets := map[string]map[string]bool{}
	members := map[string][]string{} // Compose network -> primary services on it
	for _, n := range primaries {
		nets[n] = pl.networksOf(n)
		for net := range nets[n] {
			members[net] = append(members[net], n)
		}
	}
	label := pl.networkLabels(members)
	for _, ns := range pl.namespaces() {
		pl.policies = append(pl.policies,
			model.NetworkPolicy{Namespace: ns.Name, Name: policyDefaultDeny, PolicyIngress: true, PolicyEgress: true,
				Why: "deny all traffic of every pod in the namespace unless another policy allows it"},
			model.NetworkPolicy{Namespace: ns.Name, Name: policyAllowDNS, PolicyEgress: true,
				Why: "every pod may ask the cluster DNS",
				Egress: []model.TrafficRule{{
					Peers: []model.Peer{{Namespace: "kube-system", Labels: map[string]string{"k8s-app": "kube-dns"}}},
					Ports: []model.PolicyPort{{Port: 53, Protocol: model.UDP}, {Port: 53, Protocol: model.TCP}},
				}}})
	}
	apiAccess, published := false, false
	groups := map[string]*peerGroup{}
	for _, b := range primaries {
		w := pl.work[b]
		pol := model.NetworkPolicy{Namespace: pl.nsOf(b), Name: w.Name, Workload: w.Name, PolicyIngress: true, PolicyEgress: true}
		// The networks this pod shares with some other service.
		var shared []string
		for _, net := range sortedKeys(nets[b]) {
			if len(members[net]) < 2 {
				continue
			}
			shared = append(shared, net)
			w.Networks = append(w.Networks, label[net])
		}
		peers := pl.peersOn(groups, shared, members)
		var netPeers []model.Peer
		for _, net := range shared {
			netPeers = append(netPeers, model.Peer{Network: label[net]})
		}
		var accepts, reaches []string
		ports := pl.policyPorts(b)
		if len(ports) > 0 && len(netPeers) > 0 {
			pol.Ingress = append(pol.Ingress, model.TrafficRule{Peers: netPeers, Ports: ports})
			accepts = append(accepts, fmt.Sprintf("%s from %s", describePolicyPorts(ports), pl.describePeers(b, peers)))
		}
		if w.External != nil {
			var pub []model.PolicyPort
			for _, p := range w.External.Ports {
				pub = appendPolicyPort(pub, model.PolicyPort{Port: p.TargetPort, Protocol: p.Protocol})
			}
			pol.Ingress = append(pol.Ingress, model.TrafficRule{Peers: pl.publishedPeers(pl.nsOf(b), w.External), Ports: pub})
			accepts = append(accepts, describePolicyPorts(pub)+" from "+pl.describePublishedSources())
			published = true
		}
		if len(netPeers) > 0 {
			pol.Egress = append(pol.Egress, model.TrafficRule{Peers: netPeers})
			reaches = append(reaches, pl.describePeers(b, peers)+" (on their declared ports)")
		}
		outside := pl.outsideVia(b, nets[b])
		if outside != "" {
			pol.Egress = append(pol.Egress, pl.outsideRules()...)
			reaches = append(reaches, "outside the cluster ("+outside+")")
		}
		if w.APIAccess {
			apiAccess = true
			pol.Egress = append(pol.Egress, pl.apiServerRules()...)
		}
		pol.Why = "Compose networks " + strings.Join(sortedKeys(nets[b]), ", ")
		if len(nets[b]) == 0 {
			pol.Why = "no Compose network"
		}
		pl.policies = append(pl.policies, pol)
		pl.recordNetwork(b, w, nets[b], accepts, reaches, outside, len(pol.Ingress) > 0 && len(ports) > 0 && len(netPeers) > 0)
	}
	pl.crossTierLinks(primaries, nets)
	if published {
		pl.recordPublished()
	}
	if apiAccess {
		pl.record("", "depends_on", model.Approximated,
			"pods whose init containers wait may reach the Kubernetes API: TCP 6443 on private addresses outside the cluster's ranges (the API server's address is not known in advance)",
			"")
	}
	for _, name := range sortedKeys(pl.p.Networks) {
		n := pl.p.Networks[name]
		switch {
		case bool(n.External):
			pl.record("", "networks."+name, model.NeedsInput, "external Docker network: its other members are not part of the project, so no policy admits traffic with them",
				"add a NetworkPolicy for the peers outside the project")
		case n.Internal:
			pl.record("", "networks."+name, model.Mapped, "internal network: its members may reach each other on their declared ports, and it gives no way out of the cluster", "")
		default:
			pl.record("", "networks."+name, model.Mapped, "its members may reach each other on their declared ports and reach outside the cluster", "")
		}
		if n.Ipam.Driver != "" || len(n.Ipam.Config) > 0 {
			pl.record("", "networks."+name+".ipam", model.Dropped, "pod addresses come from the cluster network", "")
		}
	}
}

// networkLabels gives every Compose network a distinct label name (a DNS label) for the pods on it.
func (pl *planner) networkLabels(members map[string][]string) map[string]string {
	out := map[string]string{}
	for _, net := range sortedKeys(members) {
		out[net] = pl.unique("network-label", dns1035(net))
	}
	return out
}

// crossTierLinks gives each Service a name in every other tier namespace holding a service that shares a network
// with it, so that peers keep calling it by its Compose name.
func (pl *planner) crossTierLinks(primaries []string, nets map[string]map[string]bool) {
	nsNets := map[string]map[string]bool{} // namespace -> networks its services are on
	for _, n := range primaries {
		ns := pl.nsOf(n)
		if nsNets[ns] == nil {
			nsNets[ns] = map[string]bool{}
		}
		for net := range nets[n] {
			nsNets[ns][net] = true
		}
	}
	for _, c := range primaries {
		var names, in []string
		for _, ns := range sortedKeys(nsNets) {
			if ns == pl.nsOf(c) || !shares(nets[c], nsNets[ns]) {
				continue
			}
			for _, s := range pl.work[c].Services {
				if s.Type == model.ClusterIP {
					pl.links = append(pl.links, model.Link{Namespace: ns, Name: s.Name, TargetNamespace: pl.nsOf(c), TargetName: s.Name,
						Host: s.Name + "." + pl.nsOf(c) + ".svc." + pl.opts.ClusterDomain})
					names = appendUnique(names, s.Name)
				}
			}
			in = append(in, ns)
		}
		if len(names) > 0 {
			pl.record(c, "tier", model.Mapped, fmt.Sprintf("peers in %s keep calling it %s: an ExternalName Service there points at %s.%s.svc.%s",
				strings.Join(in, ", "), strings.Join(names, ", "), names[0], pl.nsOf(c), pl.opts.ClusterDomain), "")
		}
	}
}

// peerGroup is what a decision says about the services on a set of networks: the first of them by name and how
// many there are. Services on the same networks share one, so that naming peers stays linear in the services.
type peerGroup struct {
	first []string // service keys, sorted by name: one more than describePeers shows, in case one is the caller
	size  int
}

// peersOn returns the group of the services on the shared networks (sorted), computing it once per set of networks.
func (pl *planner) peersOn(groups map[string]*peerGroup, shared []string, members map[string][]string) *peerGroup {
	key := strings.Join(shared, "\x00")
	if g, ok := groups[key]; ok {
		return g
	}
	union := map[string]bool{}
	var all []string
	for _, net := range shared {
		for _, m := range members[net] {
			if !union[m] {
				union[m] = true
				all = append(all, m)
			}
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if a, b := pl.names[all[i]], pl.names[all[j]]; a != b {
			return a < b
		}
		return all[i] < all[j]
	})
	g := &peerGroup{first: all[:min(len(all), shownPeers+1)], size: len(all)}
	groups[key] = g
	return g
}

// shownPeers is how many peers a decision names before it counts the rest.
const shownPeers = 6

// describePeers names a few of self's peers (the group without self) and counts the rest, so that a decision stays
// one readable line.
func (pl *planner) describePeers(self string, g *peerGroup) string {
	names := make([]string, 0, shownPeers)
	for _, m := range g.first {
		if m != self && len(names) < shownPeers {
			names = append(names, pl.names[m])
		}
	}
	if count := g.size - 1; count > shownPeers { // self is in the group: it is on its own networks
		return fmt.Sprintf("%s and %d more", strings.Join(names, ", "), count-shownPeers)
	}
	return strings.Join(names, ", ")
}

// recordNetwork writes one decision per service that summarises its traffic.
func (pl *planner) recordNetwork(n string, w *model.Workload, nets map[string]bool, accepts, reaches []string, outside string, approx bool) {
	if w.Pod.HostNetwork {
		pl.security(n, "networks", model.Approximated, "host network: NetworkPolicies do not apply to pods on the host network; this service is not isolated", "drop network_mode: host if the service does not need it")
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "NetworkPolicy %s/%s", pl.nsOf(n), w.Name)
	if len(accepts) > 0 {
		fmt.Fprintf(&b, "; accepts %s", strings.Join(accepts, "; "))
	} else {
		b.WriteString("; accepts no connections")
	}
	if len(reaches) > 0 {
		fmt.Fprintf(&b, "; may open %s", strings.Join(reaches, ", "))
	} else {
		b.WriteString("; opens no connections")
	}
	if outside == "" && len(nets) > 0 {
		b.WriteString("; no egress outside the cluster (internal networks only)")
	}
	o := model.Mapped
	if approx {
		o = model.Approximated
		b.WriteString(" (Compose let peers open any port; only declared ports are allowed)")
	}
	pl.record(n, "networks", o, b.String(), "")
}

// networksOf lists the Compose networks of a pod: its own and those of services that join it.
func (pl *planner) networksOf(n string) map[string]bool {
	out := map[string]bool{}
	for _, m := range pl.order {
		if m != n && pl.owner[m] != n {
			continue
		}
		s := pl.svcs[m]
		if s.NetworkMode != "" && !strings.HasPrefix(s.NetworkMode, "service:") {
			continue
		}
		if len(s.Networks) == 0 && s.NetworkMode == "" {
			out["default"] = true
		}
		for name := range s.Networks {
			out[name] = true
		}
	}
	return out
}

func shares(a, b map[string]bool) bool {
	for n := range a {
		if b[n] {
			return true
		}
	}
	return false
}

// outsideVia names why a pod may reach outside the cluster: a network that is not internal, or a network mode
// outside the project's networks. Empty means it may not.
func (pl *planner) outsideVia(n string, nets map[string]bool) string {
	for _, name := range sortedKeys(nets) {
		cfg, declared := pl.p.Networks[name]
		if !declared || !cfg.Internal {
			return "network " + name
		}
	}
	switch mode := pl.svcs[n].NetworkMode; {
	case mode == "none":
		return ""
	case mode != "" && !strings.HasPrefix(mode, "service:"):
		return "network_mode " + mode
	}
	return ""
}

// outsideRules are the egress rules to addresses outside the cluster: --egress-allow, or anything; the cluster's
// own ranges are carved out of either, since network plugins match pod addresses by ipBlock.
func (pl *planner) outsideRules() []model.TrafficRule {
	if len(pl.opts.EgressAllow) == 0 {
		var except []string
		for _, c := range []string{pl.opts.PodCIDR, pl.opts.ServiceCIDR} {
			if c != "" {
				except = append(except, c)
			}
		}
		return []model.TrafficRule{{Peers: []model.Peer{{CIDR: "0.0.0.0/0", Except: except}}}}
	}
	var out []model.TrafficRule
	for _, a := range pl.opts.EgressAllow {
		cidr, port, _ := ParseEgressAllow(a)
		r := model.TrafficRule{Peers: []model.Peer{{CIDR: cidr, Except: pl.clusterRangesIn(cidr)}}}
		if port != 0 {
			r.Ports = []model.PolicyPort{{Port: port, Protocol: model.TCP}}
		}
		out = append(out, r)
	}
	return out
}

// apiServerRules let `agops wait` reach the Kubernetes API. Network plugins judge a connection to the kubernetes
// Service after it is translated to the API server's own address, port 6443 on a k3s server node; that address is not
// known in advance, so any private address but the cluster's own ranges is allowed on that port.
func (pl *planner) apiServerRules() []model.TrafficRule {
	var peers []model.Peer
	for _, private := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} {
		_, pn, _ := net.ParseCIDR(private)
		peer := model.Peer{CIDR: private}
		for _, c := range []string{pl.opts.PodCIDR, pl.opts.ServiceCIDR} {
			if _, cn, err := net.ParseCIDR(c); err == nil && pn.Contains(cn.IP) {
				peer.Except = append(peer.Except, c)
			}
		}
		peers = append(peers, peer)
	}
	return []model.TrafficRule{{Peers: peers, Ports: []model.PolicyPort{{Port: 6443, Protocol: model.TCP}}}}
}

// ParseEgressAllow reads an --egress-allow value: CIDR or CIDR:PORT.
func ParseEgressAllow(s string) (cidr string, port int32, err error) {
	cidr = s
	// An IPv6 CIDR has colons too, but its last one is followed by the prefix length.
	if i := strings.LastIndex(s, ":"); i >= 0 && !strings.Contains(s[i+1:], "/") {
		if _, _, err := net.ParseCIDR(s[:i]); err == nil {
			p, err := strconv.Atoi(s[i+1:])
			if err != nil || p < 1 || p > 65535 {
				return "", 0, fmt.Errorf("--egress-allow %s: port must be 1-65535", s)
			}
			cidr, port = s[:i], int32(p)
		}
	}
	if _, _, err := net.ParseCIDR(cidr); err != nil {
		return "", 0, fmt.Errorf("--egress-allow %s: want CIDR or CIDR:PORT, like 203.0.113.0/24:443", s)
	}
	return cidr, port, nil
}

// policyPorts are the container ports of a pod.
func (pl *planner) policyPorts(n string) []model.PolicyPort {
	var out []model.PolicyPort
	for _, p := range pl.ports[n] {
		out = appendPolicyPort(out, model.PolicyPort{Port: p.port, Protocol: p.proto})
	}
	return out
}

func appendPolicyPort(ps []model.PolicyPort, p model.PolicyPort) []model.PolicyPort {
	for _, have := range ps {
		if have == p {
			return ps
		}
	}
	return append(ps, p)
}

func describePolicyPorts(ps []model.PolicyPort) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
	}
	return strings.Join(s, ", ")
}

// splitDirections keeps each direction of a policy that has rules in a policy of its own, named NAME-ingress and
// NAME-egress. k3s's enforcer, kube-router, runs every policy that selects a pod on that pod's traffic in both
// directions: a policy with both types lets its egress rules admit traffic into the pods it selects from the pods it
// selects (one replica to another), and its ingress rules traffic out of them, which the API's semantics do not.
// One direction per policy means the same thing on every enforcer, so what agops check predicts holds on k3s too.
// Policies that only isolate (no rules) stay whole.
func splitDirections(ps []model.NetworkPolicy) []model.NetworkPolicy {
	out := make([]model.NetworkPolicy, 0, len(ps))
	for _, p := range ps {
		if !p.PolicyIngress || !p.PolicyEgress || len(p.Ingress)+len(p.Egress) == 0 {
			out = append(out, p)
			continue
		}
		in, eg := p, p
		in.Name, in.PolicyEgress, in.Egress = p.Name+"-ingress", false, nil
		eg.Name, eg.PolicyIngress, eg.Ingress = p.Name+"-egress", false, nil
		if p.Why != "" {
			in.Why, eg.Why = p.Why+" (ingress)", p.Why+" (egress)"
		}
		out = append(out, in, eg)
	}
	return out
}
