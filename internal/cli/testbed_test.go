package cli

import (
	"bytes"
	"testing"
)

// TestTestbedUpPassesGPUs guards against up and serve sharing one flag value: up must pass its GPUs on.
func TestTestbedUpPassesGPUs(t *testing.T) {
	t.Parallel()
	root := newRoot(streams{out: &bytes.Buffer{}, err: &bytes.Buffer{}})
	up, _, err := root.Find([]string{"testbed", "up"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := up.Flags().GetStringArray("gpus")
	if err != nil || len(got) != 1 || got[0] != "node-a=1" {
		t.Errorf("testbed up --gpus default = %q, %v; want [node-a=1]", got, err)
	}
	if _, err := nodeSpecs([]string{"node-z=1"}); err == nil {
		t.Error("nodeSpecs accepted an unknown node")
	}
	nodes, err := nodeSpecs([]string{"node-b=2"})
	if err != nil || nodes[1].GPUs != 2 || nodes[0].GPUs != 0 {
		t.Errorf("nodeSpecs(node-b=2) = %+v, %v", nodes, err)
	}
}
