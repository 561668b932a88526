package reach

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// TestAgreesWithCyclonus compares Allowed with an independent evaluator, cyclonus's matcher, on random clusters,
// policies and connections: pod to pod, pod to the outside world and the outside world to pods.
//
// Pods get addresses in the pod CIDR (10.42.0.0/16), so cyclonus matches ipBlocks against them as kube-router does.
// Every generated ipBlock holds either the whole pod CIDR or none of it once its excepts are removed: for a block
// that holds part of it the matrix admits every pod (the package's documented choice, pods' addresses not being
// known in advance), cyclonus only those whose address falls in it.
func TestAgreesWithCyclonus(t *testing.T) {
	t.Parallel()
	const scenarios = 400
	var compared, fromOutside, toOutside, excluded, excludedDiffer, allowed int
	failures := 0
	for seed := range uint64(scenarios) {
		g := newGen(seed)
		s := g.scenario()
		c := s.cluster(t)
		cy := matcher.BuildNetworkPolicies(false, defaulted(s.policies))
		for range 25 {
			src, dst := g.endpoint(s), g.endpoint(s)
			if src == nil && dst == nil {
				continue
			}
			port, proto := pick(g, trafficPort), pick(g, protos)
			got, why := c.Allowed(s.peer(t, c, src), s.peer(t, c, dst), port, string(proto))
			res := cy.IsTrafficAllowed(s.traffic(src, dst, port, proto))
			if notInMeetsMissingKey(s, src, dst) {
				// cyclonus lets NotIn fail on a missing key. Kubernetes matches it: "tier notin (frontend,backend)"
				// selects "all resources with no labels with the tier key" (kubernetes.io/docs/concepts/overview/
				// working-with-objects/labels/#set-based-requirement), and labels.Requirement.Matches returns true
				// for NotIn when the key is absent. Such connections are judged by the unit tests instead.
				excluded++
				if got != res.IsAllowed() {
					excludedDiffer++
				}
				continue
			}
			compared++
			if src == nil {
				fromOutside++
			}
			if dst == nil {
				toOutside++
			}
			if got {
				allowed++
			}
			if got != res.IsAllowed() && failures < 3 {
				failures++
				t.Errorf("seed %d: Allowed says %v, cyclonus %v\n%s", seed, got, res.IsAllowed(), s.explain(src, dst, port, proto, why, res))
			}
		}
	}
	t.Logf("compared %d connections (%d from and %d to the outside world, %d allowed); excluded %d for NotIn on a "+
		"missing key, %d of which cyclonus judged differently", compared, fromOutside, toOutside, allowed, excluded, excludedDiffer)
	if compared < 1000 || fromOutside < 200 || toOutside < 200 || allowed < compared/5 || compared-allowed < compared/5 {
		t.Errorf("the random cases are too one-sided to mean much: %d compared, %d from and %d to the outside, %d allowed",
			compared, fromOutside, toOutside, allowed)
	}
}

// defaulted copies the policies with the API server's policyTypes defaulting, which cyclonus needs.
func defaulted(nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
	var out []*networkingv1.NetworkPolicy
	for _, np := range nps {
		np = np.DeepCopy()
		if len(np.Spec.PolicyTypes) == 0 {
			np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
			if len(np.Spec.Egress) > 0 {
				np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
			}
		}
		out = append(out, np)
	}
	return out
}

// endpoint picks a pod, or nil for the outside world (one time in four).
func (g *gen) endpoint(s *scenario) *corev1.Pod {
	if g.chance(0.25) {
		return nil
	}
	return pick(g, s.pods)
}

// peer is the Cluster's peer for a pod (nil: the outside world).
func (s *scenario) peer(t testing.TB, c *Cluster, pod *corev1.Pod) Peer {
	if pod == nil {
		return peerByID(t, c, "external")
	}
	return peerByID(t, c, pod.Namespace+"/"+pod.Name)
}

func (s *scenario) nsLabels(ns string) map[string]string {
	for _, n := range s.namespaces {
		if n.Name == ns {
			m := map[string]string{nsNameLabel: ns}
			for k, v := range n.Labels {
				m[k] = v
			}
			return m
		}
	}
	return map[string]string{nsNameLabel: ns}
}

// traffic is the connection as cyclonus sees it: the port name is the destination's name for port/protocol.
func (s *scenario) traffic(src, dst *corev1.Pod, port int32, proto corev1.Protocol) *matcher.Traffic {
	tr := &matcher.Traffic{Source: s.trafficPeer(src), Destination: s.trafficPeer(dst), ResolvedPort: int(port), Protocol: proto}
	if dst != nil {
		for _, p := range dst.Spec.Containers[0].Ports {
			if p.ContainerPort == port && p.Protocol == proto {
				tr.ResolvedPortName = p.Name
			}
		}
	}
	return tr
}

func (s *scenario) trafficPeer(pod *corev1.Pod) *matcher.TrafficPeer {
	if pod == nil {
		return &matcher.TrafficPeer{IP: s.external}
	}
	i := slices.Index(s.pods, pod)
	return &matcher.TrafficPeer{IP: fmt.Sprintf("10.42.0.%d", i+1), Internal: &matcher.InternalPeer{
		PodLabels: pod.Labels, NamespaceLabels: s.nsLabels(pod.Namespace), Namespace: pod.Namespace}}
}

// notInMeetsMissingKey reports whether some NotIn requirement of the scenario's policies names a key that the
// labels of the connection's pods or of their namespaces lack.
func notInMeetsMissingKey(s *scenario, ends ...*corev1.Pod) bool {
	var podSets, nsSets []map[string]string
	for _, p := range ends {
		if p != nil {
			podSets, nsSets = append(podSets, p.Labels), append(nsSets, s.nsLabels(p.Namespace))
		}
	}
	missing := func(sel *metav1.LabelSelector, sets []map[string]string) bool {
		if sel == nil {
			return false
		}
		for _, req := range sel.MatchExpressions {
			for _, set := range sets {
				if _, ok := set[req.Key]; req.Operator == metav1.LabelSelectorOpNotIn && !ok {
					return true
				}
			}
		}
		return false
	}
	for _, np := range s.policies {
		if missing(&np.Spec.PodSelector, podSets) {
			return true
		}
		var peers []networkingv1.NetworkPolicyPeer
		for _, r := range np.Spec.Ingress {
			peers = append(peers, r.From...)
		}
		for _, r := range np.Spec.Egress {
			peers = append(peers, r.To...)
		}
		for _, p := range peers {
			if missing(p.PodSelector, podSets) || missing(p.NamespaceSelector, nsSets) {
				return true
			}
		}
	}
	return false
}

// explain prints a disagreement: the connection, both verdicts, and only the policies either side found relevant.
func (s *scenario) explain(src, dst *corev1.Pod, port int32, proto corev1.Protocol, why Reason, res *matcher.AllowedResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "connection %s -> %s on %d/%s\n", name(src), name(dst), port, proto)
	b.WriteString(s.traffic(src, dst, port, proto).Table())
	fmt.Fprintf(&b, "ours: %s\ncyclonus:\n%s", why, res.Table())
	relevant := map[string]bool{}
	for _, id := range append(why.Egress.Policies, why.Ingress.Policies...) {
		relevant[id] = true
	}
	for _, dr := range []*matcher.DirectionResult{res.Ingress, res.Egress} {
		for _, tg := range append(dr.AllowingTargets, dr.DenyingTargets...) {
			for _, np := range tg.SourceRules {
				relevant[np.Namespace+"/"+np.Name] = true
			}
		}
	}
	for _, np := range s.policies {
		if relevant[np.Namespace+"/"+np.Name] {
			y, _ := yaml.Marshal(np)
			fmt.Fprintf(&b, "---\n%s", y)
		}
	}
	return b.String()
}

func name(p *corev1.Pod) string {
	if p == nil {
		return "external"
	}
	return fmt.Sprintf("%s/%s %v", p.Namespace, p.Name, p.Labels)
}
