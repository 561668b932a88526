package reach

import (
	"fmt"
	"math/rand/v2"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// scenario is a random cluster: namespaces, pods with labels and named ports, and policies.
type scenario struct {
	namespaces []*corev1.Namespace
	pods       []*corev1.Pod
	policies   []*networkingv1.NetworkPolicy
	external   string
}

// gen draws scenarios from a seeded source. Label values are never empty: cyclonus matches matchLabels {k: ""}
// against a pod without k, Kubernetes does not, and the policies here are about everything else.
type gen struct{ r *rand.Rand }

var (
	podKeys   = []string{"app", "role", "tier"}
	podValues = []string{"a", "b", "c"}
	nsKeys    = []string{"env", "team"}
	nsValues  = []string{"prod", "dev"}
	nsNames   = []string{"ns-a", "ns-b", "ns-c"}
	portPool  = []Port{
		{80, "TCP", "http"}, {443, "TCP", "https"}, {8080, "TCP", "http"}, {8080, "TCP", ""}, {53, "UDP", "dns"},
		{53, "TCP", "dns-tcp"}, {5432, "TCP", "pg"}, {9000, "TCP", "metrics"}, {9000, "UDP", ""},
		{132, "SCTP", "sctp"}, {1005, "UDP", "game"},
	}
	portNames   = []string{"http", "https", "dns", "dns-tcp", "pg", "metrics", "sctp", "game", "nope"}
	portNumbers = []int32{53, 80, 443, 1000, 1005, 5432, 8080, 9000, 132}
	trafficPort = []int32{53, 80, 132, 443, 999, 1000, 1005, 1010, 5010, 5432, 8080, 9000, 30000}
	ipBlocks    = []struct {
		cidr    string
		excepts []string
	}{
		{"0.0.0.0/0", []string{"203.0.113.0/24", "198.51.100.0/25", "8.0.0.0/8", "10.0.0.0/8"}},
		{"203.0.113.0/24", []string{"203.0.113.0/28", "203.0.113.8/29", "203.0.113.10/32", "203.0.113.128/25"}},
		{"198.51.100.0/24", []string{"198.51.100.0/25", "198.51.100.7/32"}},
		{"8.8.0.0/16", []string{"8.8.8.0/24"}},
		{"203.0.113.10/32", nil},
		{"10.0.0.0/8", []string{"10.42.0.0/16"}},
		{"10.42.0.0/15", []string{"10.43.0.0/16", "10.42.0.0/16"}}, // the pod CIDR, with or without it excepted
	}
	externals = []string{"203.0.113.10", "203.0.113.200", "198.51.100.7", "198.51.100.200", "8.8.8.8", "8.8.4.4", "192.0.2.1"}
	protos    = []corev1.Protocol{"TCP", "UDP", "SCTP"}
)

func newGen(seed uint64) *gen { return &gen{r: rand.New(rand.NewPCG(seed, 0x5eed))} }

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

func pick[T any](g *gen, xs []T) T { return xs[g.r.IntN(len(xs))] }

func (g *gen) scenario() *scenario {
	s := &scenario{external: pick(g, externals)}
	for _, name := range nsNames {
		ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}}
		ns.Name, ns.Labels = name, g.labels(nsKeys, nsValues, 0.6)
		s.namespaces = append(s.namespaces, ns)
	}
	for i := range 3 + g.r.IntN(5) {
		pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}}
		pod.Name, pod.Namespace, pod.Labels = fmt.Sprintf("pod-%d", i), pick(g, nsNames), g.labels(podKeys, podValues, 0.75)
		pod.Spec.Containers = []corev1.Container{{Name: "main", Image: "x", Ports: g.ports()}}
		s.pods = append(s.pods, pod)
	}
	for i := range 1 + g.r.IntN(4) {
		s.policies = append(s.policies, g.policy(fmt.Sprintf("np-%d", i)))
	}
	return s
}

func (g *gen) labels(keys, values []string, p float64) map[string]string {
	m := map[string]string{}
	for _, k := range keys {
		if g.chance(p) {
			m[k] = pick(g, values)
		}
	}
	return m
}

// ports picks container ports with unique names and unique number/protocol pairs, as a pod must have them.
func (g *gen) ports() []corev1.ContainerPort {
	var out []corev1.ContainerPort
	names, pairs := map[string]bool{}, map[string]bool{}
	for _, p := range portPool {
		pair := fmt.Sprint(p.Port, p.Protocol)
		if !g.chance(0.35) || pairs[pair] || (p.Name != "" && names[p.Name]) {
			continue
		}
		names[p.Name], pairs[pair] = true, true
		out = append(out, corev1.ContainerPort{Name: p.Name, ContainerPort: p.Port, Protocol: corev1.Protocol(p.Protocol)})
	}
	return out
}

func (g *gen) selector(keys, values []string) *metav1.LabelSelector {
	s := &metav1.LabelSelector{}
	if g.chance(0.25) {
		return s
	}
	if g.chance(0.5) {
		s.MatchLabels = map[string]string{pick(g, keys): pick(g, values)}
	}
	for range g.r.IntN(3) {
		req := metav1.LabelSelectorRequirement{Key: pick(g, keys)}
		switch g.r.IntN(4) {
		case 0:
			req.Operator, req.Values = metav1.LabelSelectorOpIn, g.values(values)
		case 1:
			req.Operator, req.Values = metav1.LabelSelectorOpNotIn, g.values(values)
		case 2:
			req.Operator = metav1.LabelSelectorOpExists
		default:
			req.Operator = metav1.LabelSelectorOpDoesNotExist
		}
		s.MatchExpressions = append(s.MatchExpressions, req)
	}
	return s
}

func (g *gen) values(values []string) []string {
	out := []string{pick(g, values)}
	if g.chance(0.4) {
		out = append(out, pick(g, values))
	}
	return out
}

func (g *gen) policy(name string) *networkingv1.NetworkPolicy {
	np := &networkingv1.NetworkPolicy{TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"}}
	np.Name, np.Namespace = name, pick(g, nsNames)
	np.Spec.PodSelector = *g.selector(podKeys, podValues)
	np.Spec.PolicyTypes = pick(g, [][]networkingv1.PolicyType{nil, {"Ingress"}, {"Egress"}, {"Ingress", "Egress"}, {"Egress", "Ingress"}})
	for range g.r.IntN(3) {
		np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{From: g.peers(), Ports: g.policyPorts()})
	}
	for range g.r.IntN(3) {
		np.Spec.Egress = append(np.Spec.Egress, networkingv1.NetworkPolicyEgressRule{To: g.peers(), Ports: g.policyPorts()})
	}
	return np
}

func (g *gen) peers() []networkingv1.NetworkPolicyPeer {
	var out []networkingv1.NetworkPolicyPeer
	for range g.r.IntN(3) {
		var p networkingv1.NetworkPolicyPeer
		switch g.r.IntN(4) {
		case 0:
			p.PodSelector = g.selector(podKeys, podValues)
		case 1:
			p.NamespaceSelector = g.nsSelector()
		case 2:
			p.PodSelector, p.NamespaceSelector = g.selector(podKeys, podValues), g.nsSelector()
		default:
			b := pick(g, ipBlocks)
			p.IPBlock = &networkingv1.IPBlock{CIDR: b.cidr}
			for _, e := range b.excepts {
				if g.chance(0.4) {
					p.IPBlock.Except = append(p.IPBlock.Except, e)
				}
			}
		}
		out = append(out, p)
	}
	return out
}

func (g *gen) nsSelector() *metav1.LabelSelector {
	if g.chance(0.3) {
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: nsNameLabel, Operator: metav1.LabelSelectorOpIn, Values: g.values(nsNames)}}}
	}
	return g.selector(nsKeys, nsValues)
}

func (g *gen) policyPorts() []networkingv1.NetworkPolicyPort {
	var out []networkingv1.NetworkPolicyPort
	for range g.r.IntN(3) {
		var p networkingv1.NetworkPolicyPort
		if g.chance(0.6) {
			proto := pick(g, protos)
			p.Protocol = &proto
		}
		switch g.r.IntN(4) {
		case 0:
			port := intstr.FromInt32(pick(g, portNumbers))
			p.Port = &port
		case 1:
			port := intstr.FromString(pick(g, portNames))
			p.Port = &port
		case 2:
			lo := pick(g, []int32{50, 80, 1000, 5000})
			port, end := intstr.FromInt32(lo), lo+pick(g, []int32{0, 10, 5000})
			p.Port, p.EndPort = &port, &end
		}
		out = append(out, p)
	}
	return out
}

// objects is the scenario as New reads it.
func (s *scenario) objects(t testing.TB) []*unstructured.Unstructured {
	var objs []runtime.Object
	for _, ns := range s.namespaces {
		objs = append(objs, ns)
	}
	for _, p := range s.pods {
		objs = append(objs, p)
	}
	for _, np := range s.policies {
		objs = append(objs, np)
	}
	var out []*unstructured.Unstructured
	for _, o := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out
}

func (s *scenario) cluster(t testing.TB) *Cluster {
	t.Helper()
	return s.clusterFor(t, EnforcerAPI)
}

func (s *scenario) clusterFor(t testing.TB, enforcer string) *Cluster {
	t.Helper()
	c, err := New(s.objects(t), Options{ExternalIP: s.external, Enforcer: enforcer})
	if err != nil {
		t.Fatalf("New on a generated scenario: %v", err)
	}
	return c
}
