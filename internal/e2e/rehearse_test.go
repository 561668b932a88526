package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agops/agops/internal/rehearse"
	"github.com/agops/agops/internal/testbed"
)

// rehearsalProject has one service of each kind of fate when a host dies.
const rehearsalProject = `name: fates
services:
  web:
    image: nginx:1.27
    deploy: {replicas: 3}
  solo:
    image: ghcr.io/example/solo:1.0
    expose: ["8080"]
    x-agops: {replicas: 1}
  db:
    image: postgres:17
    volumes: [pgdata:/var/lib/postgresql/data]
  llm:
    image: ollama/ollama:0.6.2
    x-agops: {replicas: 2}
    deploy:
      resources:
        reservations:
          devices: [{driver: nvidia, count: 1, capabilities: [gpu]}]
volumes:
  pgdata: {}
`

// TestRehearseHostFailure kills the host of the single-replica service and checks each verdict: the spread
// service never drops to zero and is back at full strength within 90 s; the single replica has downtime and
// restarts elsewhere; the second GPU pod on a one-GPU cluster stays Pending, and the report says why.
func TestRehearseHostFailure(t *testing.T) {
	objs := migrateInline(t, "fates", rehearsalProject)
	c := testbed.StartForTest(t, testbed.WithNodes([]testbed.NodeSpec{{Name: "node-a", GPUs: 1}, {Name: "node-b"}, {Name: "node-c"}}))
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	rep, err := rehearse.Run(ctx, c, objs, rehearse.Options{KillHostOf: "solo", Ready: 2 * time.Minute, Recover: 4 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.Text())
	got := map[string]rehearse.Service{}
	for _, s := range rep.Services {
		got[s.Workload.Name] = s
	}
	web := got["web"]
	if web.During == 0 || web.After < web.Desired || web.Recovered > 90*time.Second {
		t.Errorf("web: during %d, after %d/%d, recovered in %s; want never 0 and full within 90s", web.During, web.After, web.Desired, web.Recovered)
	}
	if nodes := distinct(web.Nodes); nodes < 2 {
		t.Errorf("web ran on %d nodes before the kill, want at least 2: %v", nodes, web.Nodes)
	}
	solo := got["solo"]
	if !solo.Downtime || solo.After != 1 || !strings.Contains(solo.Verdict, "single replica") {
		t.Errorf("solo: %+v; want downtime, back to 1, a verdict naming the single replica", solo)
	}
	llm := got["llm"]
	if llm.Before != 1 || !strings.Contains(llm.Verdict, "nvidia.com/gpu") {
		t.Errorf("llm: before %d, verdict %q; want 1 ready and a verdict naming the missing nvidia.com/gpu", llm.Before, llm.Verdict)
	}
	if down := rep.Down(); !contains(down, "solo") || contains(down, "web") {
		t.Errorf("down = %v, want solo and not web", down)
	}
}

func distinct(xs []string) int {
	seen := map[string]bool{}
	for _, x := range xs {
		seen[x] = true
	}
	return len(seen)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
