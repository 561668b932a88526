package reach

import (
	"fmt"
	"strings"
	"testing"

	"github.com/agops/agops/internal/kube"
)

// decode builds a cluster from a YAML stream.
func decode(t testing.TB, yaml string, o Options) (*Cluster, error) {
	t.Helper()
	objs, err := kube.Decode([]byte(yaml))
	if err != nil {
		t.Fatalf("decoding the test manifest: %v", err)
	}
	return New(objs, o)
}

// mustCluster is decode for input that must be valid.
func mustCluster(t testing.TB, yaml string, o Options) *Cluster {
	t.Helper()
	c, err := decode(t, yaml, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// peerByID finds a peer by its String form.
func peerByID(t testing.TB, c *Cluster, id string) Peer {
	t.Helper()
	for _, p := range c.Peers() {
		if p.String() == id {
			return p
		}
	}
	t.Fatalf("no peer %q", id)
	return Peer{}
}

// deployment is a Deployment manifest; labels and ports are "k=v,k=v" and "name:port/PROTO,..." (name optional).
func deployment(ns, name, lbls, ports string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: %s, namespace: %s}\n", name, ns)
	b.WriteString("spec:\n  selector: {}\n  template:\n    metadata:\n      labels: {")
	for i, kv := range split(lbls) {
		k, v, _ := strings.Cut(kv, "=")
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q: %q", k, v)
	}
	b.WriteString("}\n    spec:\n      containers:\n      - name: main\n        image: x\n        ports:")
	if len(split(ports)) == 0 {
		b.WriteString(" []")
	}
	b.WriteString("\n")
	for _, p := range split(ports) {
		name, rest, ok := strings.Cut(p, ":")
		if !ok {
			name, rest = "", p
		}
		num, proto, _ := strings.Cut(rest, "/")
		fmt.Fprintf(&b, "        - {containerPort: %s, protocol: %s", num, proto)
		if name != "" {
			fmt.Fprintf(&b, ", name: %s", name)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func namespace(name, lbls string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels: {", name)
	for i, kv := range split(lbls) {
		k, v, _ := strings.Cut(kv, "=")
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q: %q", k, v)
	}
	b.WriteString("}\n")
	return b.String()
}
