package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestRehearseFlagsRefused checks the flag combinations rehearse refuses before it starts anything.
func TestRehearseFlagsRefused(t *testing.T) {
	t.Parallel()
	file := filepath.Join(repoRoot(t), "examples", "ai-lab", "compose.yaml")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--kubeconfig", "/nonexistent"}, "--kubeconfig needs --stand-ins"},
		{[]string{"--kubeconfig", "/nonexistent", "--stand-ins", "--enforcer", "calico"}, `--enforcer "calico"`},
		{[]string{"--stand-ins"}, "--stand-ins needs --nodes real"},
		{[]string{"--nodes", "virtual"}, "--nodes must be real or simulated"},
	} {
		r := run(t, append([]string{"rehearse", "-f", file}, tc.args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("rehearse %q: exit %d, stderr %q; want exit %d and %q", tc.args, r.code, r.stderr, exitUsage, tc.want)
		}
	}
}

// TestTestbedNodesRefused checks that up refuses an unknown kind of node before it starts a process.
func TestTestbedNodesRefused(t *testing.T) {
	t.Parallel()
	r := run(t, "testbed", "up", "--dir", t.TempDir(), "--nodes", "virtual")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--nodes must be real or simulated") {
		t.Errorf("testbed up --nodes virtual: exit %d, stderr %q", r.code, r.stderr)
	}
}
