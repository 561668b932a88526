package check

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/agops/agops/internal/check/reach"
	"github.com/agops/agops/internal/kube"
	"github.com/agops/agops/internal/migrate"
	"github.com/agops/agops/internal/plan"
)

// TestExampleIsolation migrates the shipped example and evaluates its NetworkPolicies: the promises of the tiers,
// one by one, and then the whole matrix against examples/ai-lab/reachability.txt, which is checked in and reviewed
// (refresh with go test ./internal/check -run ExampleIsolation -update).
func TestExampleIsolation(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	out := filepath.Join(t.TempDir(), "out")
	o := migrate.Options{Plan: plan.DefaultOptions(), Format: migrate.FormatFiles, Out: out, Stdout: io.Discard}
	o.Compose.Files = []string{filepath.Join(root, "examples", "ai-lab", "compose.yaml")}
	if _, err := migrate.Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	objs, err := kube.Load(out, "ha")
	if err != nil {
		t.Fatal(err)
	}
	c, err := reach.New(objs, reach.Options{})
	if err != nil {
		t.Fatal(err)
	}
	peers := map[string]reach.Peer{}
	for _, p := range c.Peers() {
		peers[p.String()] = p
	}
	get := func(name string) reach.Peer {
		p, ok := peers[name]
		if !ok {
			t.Fatalf("no peer %s in %v", name, peers)
		}
		return p
	}
	for _, tc := range []struct {
		from, to string
		port     int32
		want     bool
	}{
		{"ai-lab-web/web", "ai-lab-ai-lab/api", 8000, true},                // the web tier reaches the API ...
		{"ai-lab-web/web", "ai-lab-ai-lab/temporal-ui", 8080, false},       // ... and nothing else of the lab
		{"ai-lab-web/web", "ai-lab-data/postgres", 5432, false},            // ... nor the data tier
		{"ai-lab-ai-lab/agent-worker", "ai-lab-data/postgres", 5432, true}, // agents on the data network reach it
		{"ai-lab-ai-lab/ollama", "ai-lab-data/postgres", 5432, false},      // the model server was never on it
		{"ai-lab-ai-lab/model-pull", "ai-lab-data/redis", 6379, false},
		{"ai-lab-ai-lab/agent-worker", "ai-lab-data/postgres", 22, false},  // only declared ports
		{"external", "kube-system/svclb-web-public", 3000, true},           // only the edge is reachable from outside,
		{"kube-system/svclb-web-public", "ai-lab-web/web", 80, true},       // through k3s's ServiceLB,
		{"external", "ai-lab-web/web", 80, false},                          // not directly,
		{"ai-lab-ai-lab/agent-worker", "ai-lab-web/web", 80, false},        // and no pod of another tier opens the
		{"ai-lab-ai-lab/ollama", "ai-lab-web/web", 80, false},              // published container port unless it
		{"ai-lab-data/postgres", "ai-lab-web/web", 80, false},              // shared a Compose network with web
		{"kube-system/svclb-web-public", "ai-lab-ai-lab/api", 8000, false}, // the load balancer reaches only web
		{"external", "ai-lab-ai-lab/api", 8000, false},
		{"external", "ai-lab-ai-lab/temporal-ui", 8080, false}, // published on loopback only
		{"external", "ai-lab-data/postgres", 5432, false},
		{"ai-lab-ai-lab/ollama", "external", 443, true},  // the model server pulls models
		{"ai-lab-data/postgres", "external", 443, false}, // internal: true
		{"ai-lab-ai-lab/qdrant", "external", 443, false}, // only on the internal network
		{"ai-lab-ai-lab/agent-worker", "external", 443, true},
		{"ai-lab-ai-lab/agent-worker", "ai-lab-ai-lab/mcp-tools", 8811, false},    // tools only through the gateway:
		{"ai-lab-ai-lab/agent-worker", "ai-lab-ai-lab/agops-gateway", 8080, true}, // agents reach the gateway,
		{"ai-lab-ai-lab/agops-gateway", "ai-lab-ai-lab/mcp-tools", 8811, true},    // which reaches the tools
		{"ai-lab-ai-lab/agops-gateway", "ai-lab-data/postgres", 5432, false},
		{"ai-lab-ai-lab/agent-worker", "ai-lab-ai-lab/temporal", 7233, true}, // workers reach Temporal's frontend,
		{"ai-lab-data/postgres", "ai-lab-ai-lab/temporal", 7233, false},      // only the ai-lab tier does
		{"ai-lab-data/redis", "ai-lab-ai-lab/temporal", 7233, false},
		{"ai-lab-web/web", "ai-lab-ai-lab/temporal", 7233, false},
	} {
		got, why := c.Allowed(get(tc.from), get(tc.to), tc.port, "TCP")
		if got != tc.want {
			t.Errorf("%s -> %s:%d allowed %v, want %v (%s)", tc.from, tc.to, tc.port, got, tc.want, why)
		}
	}
	// No path to the tool server but through the gateway.
	tools := get("ai-lab-ai-lab/mcp-tools")
	for _, p := range c.Peers() {
		if ok, _ := c.Allowed(p, tools, 8811, "TCP"); ok && p.String() != "ai-lab-ai-lab/agops-gateway" {
			t.Errorf("%s reaches the tool server directly", p)
		}
	}
	agreesWithCyclonus(t, objs, c, 500)
	var b bytes.Buffer
	if err := c.Matrix().Text(&b); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "examples", "ai-lab", "reachability.txt")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(want, b.Bytes()) {
		t.Errorf("%s differs from the example's matrix (run with -update and review the diff):\n%s", path, firstDiff(want, b.Bytes()))
	}
}

// agreesWithCyclonus compares every connection between the example's peers, on every declared port and a few
// undeclared ones, with an independent evaluator (cyclonus's matcher). Pods get addresses in the pod CIDR, so
// cyclonus matches ipBlocks against them as kube-router does.
func agreesWithCyclonus(t *testing.T, objs []*unstructured.Unstructured, c *reach.Cluster, atLeast int) {
	t.Helper()
	var policies []*networkingv1.NetworkPolicy
	nsLabels := map[string]map[string]string{}
	for _, u := range objs {
		switch u.GetKind() {
		case "NetworkPolicy":
			var np networkingv1.NetworkPolicy
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &np); err != nil {
				t.Fatal(err)
			}
			policies = append(policies, &np)
		case "Namespace":
			l := map[string]string{"kubernetes.io/metadata.name": u.GetName()}
			for k, v := range u.GetLabels() {
				l[k] = v
			}
			nsLabels[u.GetName()] = l
		}
	}
	cy := matcher.BuildNetworkPolicies(false, policies)
	peers := c.Peers()
	traffic := func(i int, p reach.Peer) *matcher.TrafficPeer {
		if p.External {
			return &matcher.TrafficPeer{IP: reach.DefaultExternalIP}
		}
		ns := nsLabels[p.Namespace]
		if ns == nil {
			ns = map[string]string{"kubernetes.io/metadata.name": p.Namespace}
		}
		return &matcher.TrafficPeer{IP: fmt.Sprintf("10.42.%d.%d", i/200, i%200+2), Internal: &matcher.InternalPeer{PodLabels: p.Labels, NamespaceLabels: ns, Namespace: p.Namespace}}
	}
	compared, allowed := 0, 0
	for i, src := range peers {
		for j, dst := range peers {
			if src.External && dst.External {
				continue
			}
			ports := []reach.Port{{Port: 22, Protocol: "TCP"}, {Port: 443, Protocol: "TCP"}, {Port: 53, Protocol: "UDP"}}
			ports = append(ports, dst.Ports...)
			for _, port := range ports {
				got, why := c.Allowed(src, dst, port.Port, port.Protocol)
				tr := &matcher.Traffic{Source: traffic(i, src), Destination: traffic(j, dst), ResolvedPort: int(port.Port),
					ResolvedPortName: port.Name, Protocol: corev1.Protocol(port.Protocol)}
				if want := cy.IsTrafficAllowed(tr).IsAllowed(); got != want {
					t.Errorf("%s -> %s %d/%s: reach says %v (%s), cyclonus %v", src, dst, port.Port, port.Protocol, got, why, want)
				}
				compared++
				if got {
					allowed++
				}
			}
		}
	}
	t.Logf("the matrix agrees with cyclonus on %d connections (%d allowed)", compared, allowed)
	if compared < atLeast || allowed == 0 || allowed == compared {
		t.Errorf("compared %d connections, %d allowed: too few or too one-sided", compared, allowed)
	}
}
