package check

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/agops/agops/internal/check/reach"
	"github.com/agops/agops/internal/kube"
	"github.com/agops/agops/internal/migrate"
	"github.com/agops/agops/internal/plan"
)

// labCompose is the red team's project: web publishes 3000 on the frontend network, agent-worker is on the backend
// network only. Compose gave the two no path.
const labCompose = `name: lab
services:
  web:
    image: example/web:1
    ports: ["3000:3000"]
    networks: [frontend]
  agent-worker:
    image: example/agent:1
    networks: [backend]
networks:
  frontend: {}
  backend: {}
`

// bystanders are pods the migration did not write: a compromised pod in a namespace without policies, and an
// ingress controller.
const bystanders = `apiVersion: apps/v1
kind: Deployment
metadata: {name: intruder, namespace: elsewhere}
spec:
  selector: {matchLabels: {app: intruder}}
  template:
    metadata: {labels: {app: intruder}}
    spec: {containers: [{name: main, image: x}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: controller, namespace: ingress-nginx}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: ingress-nginx}}
  template:
    metadata: {labels: {app.kubernetes.io/name: ingress-nginx}}
    spec: {containers: [{name: main, image: x, ports: [{containerPort: 443}]}]}
`

// TestPublishedPortIsolation migrates the red team's project and evaluates its policies, with cyclonus as a second
// opinion: no pod of the cluster but the load balancer's opens web:3000 — not agent-worker, not even with its
// egress opened to every address, not a pod of a namespace without policies — while outside clients reach it
// through k3s's ServiceLB, and the other load balancers' sources admit what their flags say.
func TestPublishedPortIsolation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		set     func(*plan.Options)
		direct  bool // the outside world opens web:3000 without the load balancer
		ingress bool // the ingress controller opens web:3000
	}{
		{"valid-k3s-servicelb", func(*plan.Options) {}, false, false},
		{"valid-agent-egress-to-any-address", func(o *plan.Options) { o.EgressAllow = []string{"0.0.0.0/0"} }, false, false},
		{"valid-lb-keeping-client-addresses", func(o *plan.Options) { o.LBSources = []string{"0.0.0.0/0"} }, true, false},
		{"valid-ingress-controller", func(o *plan.Options) {
			o.LBPods = []string{"ingress-nginx:app.kubernetes.io/name=ingress-nginx"}
		}, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := plan.DefaultOptions()
			tc.set(&o)
			objs := migrateLab(t, o)
			c, err := reach.New(objs, reach.Options{})
			if err != nil {
				t.Fatal(err)
			}
			peers := map[string]reach.Peer{}
			for _, p := range c.Peers() {
				peers[p.String()] = p
			}
			for _, ck := range []struct {
				from, to string
				port     int32
				want     bool
			}{
				{"lab-ai-lab/agent-worker", "lab-web/web", 3000, false},
				{"elsewhere/intruder", "lab-web/web", 3000, false},
				{"kube-system/svclb-web-public", "lab-web/web", 3000, true},
				{"external", "kube-system/svclb-web-public", 3000, true},
				{"external", "lab-web/web", 3000, tc.direct},
				{"ingress-nginx/controller", "lab-web/web", 3000, tc.ingress},
				{"elsewhere/intruder", "ingress-nginx/controller", 443, true}, // the bystanders themselves are open
			} {
				from, ok1 := peers[ck.from]
				to, ok2 := peers[ck.to]
				if !ok1 || !ok2 {
					t.Fatalf("no peer %s or %s among %v", ck.from, ck.to, peers)
				}
				if got, why := c.Allowed(from, to, ck.port, "TCP"); got != ck.want {
					t.Errorf("%s -> %s:%d allowed %v, want %v (%s)", ck.from, ck.to, ck.port, got, ck.want, why)
				}
			}
			agreesWithCyclonus(t, objs, c, 100)
		})
	}
}

// migrateLab migrates labCompose with the options and returns the ha overlay's objects plus the bystanders.
func migrateLab(t *testing.T, po plan.Options) []*unstructured.Unstructured {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte(labCompose), 0o644); err != nil {
		t.Fatal(err)
	}
	o := migrate.Options{Plan: po, Format: migrate.FormatFiles, Out: filepath.Join(dir, "out"), Stdout: io.Discard}
	o.Compose.Files = []string{file}
	if _, err := migrate.Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	objs, err := kube.Load(o.Out, "ha")
	if err != nil {
		t.Fatal(err)
	}
	extra, err := kube.Decode([]byte(bystanders))
	if err != nil {
		t.Fatal(err)
	}
	return append(objs, extra...)
}
