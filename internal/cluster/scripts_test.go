package cluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestScriptsParse runs bash -n on every generated script, and shellcheck when it is installed.
func TestScriptsParse(t *testing.T) {
	t.Parallel()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	shellcheck, _ := exec.LookPath("shellcheck")
	dir := t.TempDir()
	var scripts []string
	for name, f := range goldenCases() {
		tree, err := Generate(mustSpec(t, f), testToken)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range tree.Paths() {
			if !strings.HasSuffix(p, ".sh") {
				continue
			}
			path := filepath.Join(dir, name+"-"+strings.ReplaceAll(p, "/", "-"))
			if err := os.WriteFile(path, tree[p].Data, 0o755); err != nil {
				t.Fatal(err)
			}
			scripts = append(scripts, path)
			if !strings.Contains(string(tree[p].Data), "set -euo pipefail\n") {
				t.Errorf("%s/%s lacks set -euo pipefail", name, p)
			}
		}
	}
	if len(scripts) == 0 {
		t.Fatal("no scripts generated")
	}
	for _, s := range scripts {
		if out, err := exec.Command(bash, "-n", s).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", filepath.Base(s), err, out)
		}
		if shellcheck != "" {
			if out, err := exec.Command(shellcheck, s).CombinedOutput(); err != nil {
				t.Errorf("shellcheck %s: %v\n%s", filepath.Base(s), err, out)
			}
		}
	}
}

// TestPreflightRuns runs a preflight.sh on this machine: it must finish with one ok/FAIL line per check, whatever
// the machine (hostname and address will not match here).
func TestPreflightRuns(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "ip", "ss", "df", "awk"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	tree, _ := Generate(mustSpec(t, goldenCases()["k3s-3node-gpu"]), testToken)
	path := filepath.Join(t.TempDir(), "preflight.sh")
	if err := os.WriteFile(path, tree["gpu-1/preflight.sh"].Data, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("bash", path).CombinedOutput()
	if err == nil {
		t.Fatalf("preflight passed on a machine that is not gpu-1:\n%s", out)
	}
	lines := 0
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(l, "ok   ") || strings.HasPrefix(l, "FAIL ") {
			lines++
		}
	}
	if lines < 10 || !strings.Contains(string(out), "FAIL 192.168.10.11 is not an address of this machine") {
		t.Errorf("preflight output (%d check lines):\n%s", lines, out)
	}
}
