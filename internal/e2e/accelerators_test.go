package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/agops/agops/internal/cluster"
	"github.com/agops/agops/internal/rehearse"
	"github.com/agops/agops/internal/testbed"
)

const acceleratedProject = `name: accel
services:
  web:
    image: nginx:1.27
    deploy: {replicas: 3}
  llm:
    image: ollama/ollama:0.6.2
    deploy:
      resources:
        reservations:
          devices: [{driver: nvidia, count: 1, capabilities: [gpu]}]
  npu:
    image: ghcr.io/example/npu-server:1.0
    devices: ["/dev/accel/accel0:/dev/accel/accel0"]
`

// acceleratorNode is a test-bed node set up as agops cluster init sets up an accelerator node: its label, its
// <resource>=present:NoSchedule taint, and the resource its device plugin would advertise.
func acceleratorNode(name string, kind cluster.Kind) testbed.NodeSpec {
	res := cluster.Spec{}.Resource(kind)
	return testbed.NodeSpec{Name: name, Extended: map[string]int{res: 1},
		Labels: map[string]string{cluster.AcceleratorLabel: string(kind)},
		Taints: []corev1.Taint{{Key: res, Value: cluster.TaintValue, Effect: corev1.TaintEffectNoSchedule}}}
}

// TestAcceleratorsMeetTheirNodes rehearses a project with a GPU and an NPU service on nodes configured the way agops
// cluster init configures them: each accelerated service lands on its accelerator's node (its toleration meets the
// node's taint, its request the advertised resource), ordinary pods stay off the accelerator nodes, and when the
// GPU node dies the GPU service has downtime that the report explains, while the NPU service is untouched.
func TestAcceleratorsMeetTheirNodes(t *testing.T) {
	objs := migrateInline(t, "accel", acceleratedProject)
	c := testbed.StartForTest(t, testbed.WithNodes([]testbed.NodeSpec{
		acceleratorNode("node-a", cluster.NVIDIA), acceleratorNode("node-b", cluster.NPU), {Name: "node-c"},
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	rep, err := rehearse.Run(ctx, c, objs, rehearse.Options{Kill: "node-a", Ready: 2 * time.Minute, Recover: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.Text())
	got := map[string]rehearse.Service{}
	for _, s := range rep.Services {
		got[s.Workload.Name] = s
	}
	for name, want := range map[string]string{"llm": "node-a", "npu": "node-b"} {
		if s := got[name]; len(s.Nodes) == 0 || slices.ContainsFunc(s.Nodes, func(n string) bool { return n != want }) {
			t.Errorf("%s ran on %v, want only %s", name, s.Nodes, want)
		}
	}
	if web := got["web"]; web.Before != 3 || slices.ContainsFunc(web.Nodes, func(n string) bool { return n != "node-c" }) {
		t.Errorf("web: %d ready on %v; want 3, all on node-c (the accelerator nodes are tainted)", web.Before, web.Nodes)
	}
	if llm := got["llm"]; !llm.Downtime || !strings.Contains(llm.Verdict, "nvidia.com/gpu") {
		t.Errorf("llm: %+v; want downtime and a verdict naming nvidia.com/gpu", llm)
	}
	if npu := got["npu"]; npu.Downtime || npu.After != npu.Desired {
		t.Errorf("npu: %+v; want untouched", npu)
	}
}
