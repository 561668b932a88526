package reach

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
)

// Reason explains a verdict of Allowed: the source's egress side and the destination's ingress side.
type Reason struct {
	Egress  Verdict
	Ingress Verdict
}

// Verdict is one side of a connection.
type Verdict struct {
	// Policies are the policies of this direction that select the pod ("namespace/name"); none means the pod is
	// not isolated in this direction.
	Policies []string
	// Rules are the rules that admit the connection ("namespace/name ingress[0]").
	Rules []string
}

// Isolated reports whether some policy of this direction selects the pod.
func (v Verdict) Isolated() bool { return len(v.Policies) > 0 }

// Allowed reports whether this side lets the connection through.
func (v Verdict) Allowed() bool { return !v.Isolated() || len(v.Rules) > 0 }

func (v Verdict) describe(d direction) string {
	switch {
	case !v.Isolated():
		return d.String() + ": not isolated"
	case len(v.Rules) > 0:
		return d.String() + ": allowed by " + strings.Join(v.Rules, ", ")
	default:
		return fmt.Sprintf("%s: denied, isolated by %s and no rule admits it", d, strings.Join(v.Policies, ", "))
	}
}

// String reads like "egress: not isolated; ingress: allowed by app/api-from-web ingress[0]".
func (r Reason) String() string {
	return r.Egress.describe(egress) + "; " + r.Ingress.describe(ingress)
}

// Allowed reports whether src may open a connection to dst on port/protocol (protocol defaults to TCP), and why.
// src and dst usually come from Peers, but any Peer works: its namespace, labels and declared ports are what
// count, and an External peer stands for the cluster's external address.
func (c *Cluster) Allowed(src, dst Peer, port int32, protocol string) (bool, Reason) {
	protocol = strings.ToUpper(protocol)
	if protocol == "" {
		protocol = "TCP"
	}
	r := Reason{
		Egress:  c.verdict(egress, src, dst, dst, port, protocol),
		Ingress: c.verdict(ingress, dst, src, dst, port, protocol),
	}
	return r.Egress.Allowed() && r.Ingress.Allowed(), r
}

// verdict evaluates the policies of direction d that select pod against the connection's other end (whose port
// names matter when it is the destination, dst).
func (c *Cluster) verdict(d direction, pod, other, dst Peer, port int32, protocol string) Verdict {
	var v Verdict
	for _, p := range c.selecting(d, pod) {
		v.Policies = append(v.Policies, p.id())
		for i, r := range p.rules[d] {
			if c.admitsPeer(p, r, other) && r.admitsPort(dst, port, protocol) {
				v.Rules = append(v.Rules, fmt.Sprintf("%s %s[%d]", p.id(), d, i))
			}
		}
		if !c.crossesOver(p, other) {
			continue
		}
		for i, r := range p.rules[d.opposite()] {
			if c.admitsPeer(p, r, pod) && r.admitsPort(dst, port, protocol) {
				v.Rules = append(v.Rules, fmt.Sprintf("%s %s[%d] (kube-router: the policy selects both ends)", p.id(), d.opposite(), i))
			}
		}
	}
	return v
}

// crossesOver reports whether, under kube-router, policy p (which selects one end of a connection) also applies its
// rules of the other direction on this side: p isolates both directions and selects the other end too. kube-router
// runs every policy that selects a pod on all of the pod's traffic, so an egress rule of p admits traffic into a
// pod p selects from another pod p selects, and an ingress rule traffic out of it.
func (c *Cluster) crossesOver(p *policy, other Peer) bool {
	return c.kubeRouter && p.types[ingress] && p.types[egress] && c.selects(p, other)
}

func labelsOf(p Peer) labels.Set { return labels.Set(p.Labels) }

// selecting lists the policies of direction d that select the pod; the outside world is never selected.
func (c *Cluster) selecting(d direction, pod Peer) []*policy {
	if pod.External {
		return nil
	}
	var out []*policy
	set := labels.Set(pod.Labels)
	for _, p := range c.policies {
		if p.types[d] && p.namespace == pod.Namespace && p.pods.Matches(set) {
			out = append(out, p)
		}
	}
	return out
}

// admitsPeer reports whether a rule of policy p admits the peer (ports aside).
func (c *Cluster) admitsPeer(p *policy, r *rule, peer Peer) bool {
	if r.peers == nil {
		return true
	}
	for _, s := range r.peers {
		if c.peerMatches(p, s, peer) {
			return true
		}
	}
	return false
}

func (c *Cluster) peerMatches(p *policy, s peerSel, peer Peer) bool {
	switch {
	case s.ipBlock && peer.External:
		return s.external
	case s.ipBlock:
		return s.podAddrs
	case peer.External:
		return false
	}
	if s.namespaces == nil {
		if peer.Namespace != p.namespace {
			return false
		}
	} else if !s.namespaces.Matches(c.namespaceLabels(peer.Namespace)) {
		return false
	}
	return s.pods == nil || s.pods.Matches(labels.Set(peer.Labels))
}

// admitsPort reports whether the rule's ports admit port/protocol on dst; named ports are dst's port names.
func (r *rule) admitsPort(dst Peer, port int32, protocol string) bool {
	if r.ports == nil {
		return true
	}
	for _, s := range r.ports {
		if s.protocol != protocol {
			continue
		}
		switch {
		case s.name != "":
			if dst.hasPort(port, protocol, s.name) {
				return true
			}
		case s.lo == 0 || (s.lo <= port && port <= s.hi):
			return true
		}
	}
	return false
}
