package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agops/agops/internal/testbed"
)

func clusterInitArgs(out string, extra ...string) []string {
	args := []string{"cluster", "init", "--distro", "k3s", "--node", "gpu-1=192.168.10.11", "--node", "cpu-1=192.168.10.12",
		"--node", "cpu-2=192.168.10.13", "--vip", "192.168.10.10", "--accelerator", "gpu-1=nvidia", "-o", out}
	return append(args, extra...)
}

func TestClusterInit(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "cluster")
	r := run(t, clusterInitArgs(out)...)
	if r.code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "start with "+out+"/README.md") || r.stdout != "" {
		t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
	}
	for _, p := range []string{"README.md", "gpu-1/config.yaml", "cpu-2/install.sh", "cpu-1/preflight.sh", "manifests/kube-vip.yaml",
		"manifests/nvidia-device-plugin.yaml", "manifests/runtimeclasses.yaml", "secrets/token"} {
		if !exists(filepath.Join(out, p)) {
			t.Errorf("%s was not written", p)
		}
	}
	token, err := os.ReadFile(filepath.Join(out, "secrets", "token"))
	if err != nil || len(token) != 64 {
		t.Fatalf("token: %q, %v", token, err)
	}
	if strings.Contains(r.stdout+r.stderr, string(token)) {
		t.Error("the token was printed")
	}
	again := run(t, clusterInitArgs(out, "-v")...)
	if again.code != exitOK || strings.Contains(again.stdout+again.stderr, string(token)) {
		t.Errorf("re-run: exit %d, output %q", again.code, again.stdout+again.stderr)
	}
}

func TestClusterInitErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"invalid-two-servers", []string{"cluster", "init", "--distro", "k3s", "--node", "a=10.0.0.1", "--node", "b=10.0.0.2", "--vip", "10.0.0.100"},
			[]string{"agops: 2 servers cannot keep etcd's quorum"}},
		{"invalid-many", []string{"cluster", "init", "--distro", "k3s", "--node", "a=10.0.0.1", "--node", "a=10.0.0.2", "--node", "b=10.0.0.2", "--node", "c=10.0.9.3",
			"--vip", "10.0.0.1", "--accelerator", "z=amd", "--accelerator", "a=tpu"},
			[]string{"agops: 4 servers cannot keep etcd's quorum", `agops: node name "a" is given twice`, "agops: address 10.0.0.2 is given to both a and b", "agops: node c (10.0.9.3) is outside 10.0.0.0/24",
				"agops: --vip 10.0.0.1 is the address of node a", `agops: --accelerator z=amd: no node "z"`, `agops: --accelerator a=tpu: unknown kind "tpu"`}},
		{"invalid-vip-outside", []string{"cluster", "init", "--distro", "talos", "--node", "a=10.0.0.1", "--node", "b=10.0.0.2", "--node", "c=10.0.0.3", "--vip", "10.1.0.100"},
			[]string{"agops: --vip 10.1.0.100 is outside 10.0.0.0/24"}},
		{"invalid-no-output", []string{"cluster", "init", "--distro", "k3s"}, []string{"agops: -o DIR is required"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "cluster")
			args := c.args
			if c.name != "invalid-no-output" {
				args = append(args, "-o", out)
			}
			r := run(t, args...)
			if r.code != exitUsage {
				t.Errorf("exit %d, want %d", r.code, exitUsage)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if exists(out) {
				t.Error("output written despite the errors")
			}
		})
	}
}

// TestClusterCheck runs the verb against a test bed: exit 0 when healthy, 1 with a FAIL line when a node lacks its
// accelerator.
func TestClusterCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	c := testbed.StartForTest(t, testbed.WithNodes([]testbed.NodeSpec{{Name: "gpu-1", GPUs: 2}, {Name: "cpu-1"}, {Name: "cpu-2"}}))
	ok := run(t, "cluster", "check", "--kubeconfig", c.Kubeconfig())
	if ok.code != exitOK || !strings.Contains(ok.stdout, "ok   nodes: 3 of 3 Ready") {
		t.Errorf("healthy: exit %d\nstdout:\n%s\nstderr:\n%s", ok.code, ok.stdout, ok.stderr)
	}
	bad := run(t, "cluster", "check", "--kubeconfig", c.Kubeconfig(), "--accelerator", "cpu-1=nvidia", "--expect-nodes", "4")
	if bad.code != exitInput || !strings.Contains(bad.stdout, "FAIL accelerator cpu-1:") || !strings.Contains(bad.stdout, "FAIL nodes: 3 of 3 Ready, want 4") ||
		!strings.Contains(bad.stderr, "agops: 3 of 6 checks failed") {
		t.Errorf("unhealthy: exit %d\nstdout:\n%s\nstderr:\n%s", bad.code, bad.stdout, bad.stderr)
	}
	usage := run(t, "cluster", "check", "--kubeconfig", c.Kubeconfig(), "--accelerator", "cpu-1")
	if usage.code != exitUsage {
		t.Errorf("bad --accelerator: exit %d, want %d", usage.code, exitUsage)
	}
}
