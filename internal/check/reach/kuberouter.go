package reach

import (
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Crossing is a connection kube-router admits and the API's semantics do not: Edge holds only the extra ports, and
// Policies the policies ("namespace/name") whose rules of one direction kube-router applied the other way.
type Crossing struct {
	Edge     Edge
	Policies []string
}

// Crossings compares the API's reading of the objects' policies with kube-router's and returns the connections only
// kube-router admits, in matrix order. o.Enforcer is ignored.
func Crossings(objs []*unstructured.Unstructured, o Options) ([]Crossing, error) {
	o.Enforcer = EnforcerAPI
	api, err := New(objs, o)
	if err != nil {
		return nil, err
	}
	o.Enforcer = EnforcerKubeRouter
	kr, err := New(objs, o)
	if err != nil {
		return nil, err
	}
	allowed := map[[2]string][]string{}
	for _, e := range api.Matrix().Edges {
		allowed[[2]string{e.From, e.To}] = e.Ports
	}
	peers := map[string]Peer{}
	for _, p := range kr.peers {
		peers[p.String()] = p
	}
	var out []Crossing
	for _, e := range kr.Matrix().Edges {
		had := allowed[[2]string{e.From, e.To}]
		var extra []string
		for _, p := range e.Ports {
			if !slices.Contains(had, p) {
				extra = append(extra, p)
			}
		}
		if len(extra) == 0 {
			continue
		}
		src, dst := peers[e.From], peers[e.To]
		var pols []string
		for _, p := range kr.policies {
			if !p.types[ingress] || !p.types[egress] || !kr.selects(p, src) || !kr.selects(p, dst) {
				continue
			}
			if slices.ContainsFunc(p.rules[egress], func(r *rule) bool { return kr.admitsPeer(p, r, dst) }) ||
				slices.ContainsFunc(p.rules[ingress], func(r *rule) bool { return kr.admitsPeer(p, r, src) }) {
				pols = append(pols, p.id())
			}
		}
		out = append(out, Crossing{Edge: Edge{From: e.From, To: e.To, Ports: extra}, Policies: pols})
	}
	return out, nil
}

// selects reports whether the policy selects the peer's pods.
func (c *Cluster) selects(p *policy, peer Peer) bool {
	return !peer.External && peer.Namespace == p.namespace && p.pods.Matches(labelsOf(peer))
}
