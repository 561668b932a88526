package cli

import (
	"strings"
	"testing"

	"github.com/agops/agops/internal/testbed"
)

func TestAcceleratorNodes(t *testing.T) {
	t.Parallel()
	nodes := append([]testbed.NodeSpec(nil), testbed.DefaultNodes...)
	if err := acceleratorNodes(nodes, []string{"node-a=nvidia:2", "node-b=npu"}, "vendor.example/npu"); err != nil {
		t.Fatal(err)
	}
	a, b := nodes[0], nodes[1]
	if a.Extended["nvidia.com/gpu"] != 2 || a.Labels["agops.dev/accelerator"] != "nvidia" || len(a.Taints) != 1 ||
		a.Taints[0].Key != "nvidia.com/gpu" || a.Taints[0].Value != "present" {
		t.Errorf("node-a %+v", a)
	}
	if b.Extended["vendor.example/npu"] != 1 || b.Taints[0].Key != "vendor.example/npu" {
		t.Errorf("node-b %+v", b)
	}
	for _, bad := range []string{"node-x=nvidia", "node-a=tpu", "node-a=nvidia:0", "node-a=nvidia:x", "node-a"} {
		err := acceleratorNodes(append([]testbed.NodeSpec(nil), testbed.DefaultNodes...), []string{bad}, "")
		if err == nil || !strings.Contains(err.Error(), "--accelerator") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
