package reach

import (
	"fmt"
	"strings"
	"testing"
)

// benchManifest is 102 workloads in 3 namespaces with 51 policies: per namespace a default deny and DNS egress,
// then 15 policies each opening ingress and egress between groups of workloads, with named ports, ranges and an
// ipBlock to the outside.
func benchManifest() string {
	var b strings.Builder
	for n := range 3 {
		b.WriteString(namespace(fmt.Sprintf("ns-%d", n), fmt.Sprintf("tier=t%d", n)))
	}
	for i := range 102 {
		ports := fmt.Sprintf("http:%d/TCP,metrics:9090/TCP", 8000+i%10)
		if i%7 == 0 {
			ports = ""
		}
		b.WriteString(deployment(fmt.Sprintf("ns-%d", i%3), fmt.Sprintf("w-%d", i),
			fmt.Sprintf("app=w-%d,group=g%d,role=r%d", i, i%5, i%3), ports))
	}
	for n := range 3 {
		ns := fmt.Sprintf("ns-%d", n)
		fmt.Fprintf(&b, "---\n%s", strings.ReplaceAll(policyYAML("  podSelector: {}\n  policyTypes: [Ingress, Egress]\n"),
			"{name: p, namespace: back}", "{name: deny, namespace: "+ns+"}"))
		fmt.Fprintf(&b, "---\n%s", strings.ReplaceAll(policyYAML(`  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}]
    ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]
`), "{name: p, namespace: back}", "{name: dns, namespace: "+ns+"}"))
		for k := range 15 {
			spec := fmt.Sprintf(`  podSelector: {matchLabels: {group: g%d}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {tier: t%d}}
      podSelector: {matchExpressions: [{key: role, operator: In, values: [r%d, r%d]}]}
    - podSelector: {matchLabels: {group: g%d}}
    ports: [{port: http}, {port: 9000, endPort: 9100}]
  egress:
  - to:
    - namespaceSelector: {matchExpressions: [{key: tier, operator: NotIn, values: [t%d]}]}
      podSelector: {matchLabels: {group: g%d}}
    ports: [{port: http}, {port: metrics}]
  - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]
    ports: [{port: 443}]
`, k%5, (n+k)%3, k%3, (k+1)%3, (k+2)%5, k%3, (k+3)%5)
			fmt.Fprintf(&b, "---\n%s", strings.ReplaceAll(policyYAML(spec),
				"{name: p, namespace: back}", fmt.Sprintf("{name: p-%d, namespace: %s}", k, ns)))
		}
	}
	return b.String()
}

func BenchmarkMatrix(b *testing.B) {
	c := mustCluster(b, benchManifest(), Options{})
	if n := len(c.Peers()); n != 104 {
		b.Fatalf("%d peers, want 102 workloads, kube-dns and the outside world", n)
	}
	if n := len(c.policies); n != 51 {
		b.Fatalf("%d policies, want 51", n)
	}
	b.ReportAllocs()
	var edges int
	for b.Loop() {
		edges = len(c.Matrix().Edges)
	}
	b.ReportMetric(float64(edges), "edges")
}
