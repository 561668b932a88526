package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheck runs agops check on the migrated example: text and JSON carry the findings and the reachability
// matrix, and --fail-on sets the exit code.
func TestCheck(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out")
	if r := run(t, "migrate", "-q", "-f", filepath.Join(repoRoot(t), "examples", "ai-lab", "compose.yaml"), "-o", out); r.code != 0 {
		t.Fatalf("migrate: %d %s", r.code, r.stderr)
	}
	r := run(t, "check", out)
	if r.code != 0 {
		t.Errorf("check --fail-on error (default) = %d; the example has no error findings:\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"reachability", "ai-lab-web/web", "ai-lab-ai-lab/api", "8000/TCP", "run-as-root"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text output lacks %q", want)
		}
	}
	r = run(t, "check", out, "--fail-on", "warning")
	if r.code != exitInput || !strings.Contains(r.stderr, "--fail-on warning") {
		t.Errorf("--fail-on warning: exit %d, stderr %q; the example has warnings", r.code, r.stderr)
	}
	r = run(t, "check", out, "--format", "json", "--fail-on", "none", "--overlay", "single-node")
	var doc struct {
		Findings []map[string]any           `json:"findings"`
		Sections map[string]json.RawMessage `json:"sections"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || r.code != 0 {
		t.Fatalf("json: exit %d, %v:\n%s", r.code, err, r.stdout)
	}
	if len(doc.Findings) == 0 || len(doc.Sections["reachability"]) == 0 {
		t.Errorf("json has %d findings and reachability %q", len(doc.Findings), doc.Sections["reachability"])
	}
	// A single YAML file works too, and a file with a privileged pod fails the default --fail-on error.
	file := filepath.Join(t.TempDir(), "pod.yaml")
	pod := "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\nspec:\n  containers:\n  - {name: c, image: busybox:1.37, securityContext: {privileged: true}}\n"
	if err := os.WriteFile(file, []byte(pod), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "check", file); r.code != exitInput || !strings.Contains(r.stdout, "privileged") {
		t.Errorf("privileged pod: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, bad := range [][]string{
		{"check", out, "--format", "xml"},
		{"check", out, "--fail-on", "fatal"},
		{"check"},
	} {
		if r := run(t, bad...); r.code != exitUsage {
			t.Errorf("%v: exit %d, want usage error %d (%s)", bad, r.code, exitUsage, r.stderr)
		}
	}
	if r := run(t, "check", filepath.Join(t.TempDir(), "missing")); r.code != exitInput {
		t.Errorf("missing path: exit %d", r.code)
	}
}

// TestMigrateTierFlags: --tier moves a service; malformed tier, egress and posture flags are usage errors.
func TestMigrateTierFlags(t *testing.T) {
	t.Parallel()
	file := project(t, "name: t\nservices:\n  app:\n    image: example/app:1\n")
	r := run(t, "migrate", "-f", file, "--format", "yaml", "--tier", "app=data", "--egress-allow", "203.0.113.0/24:443", "--posture", "restricted")
	if r.code != 0 || !strings.Contains(r.stdout, "namespace: t-data") || strings.Contains(r.stdout, "namespace: t-ai-lab") {
		t.Errorf("--tier app=data: exit %d, stderr %s", r.code, r.stderr)
	}
	for _, bad := range [][]string{
		{"--tier", "app"}, {"--tier", "app=dmz"}, {"--egress-allow", "example.com"}, {"--posture", "paranoid"}, {"--pod-cidr", "x"},
	} {
		args := append([]string{"migrate", "-f", file, "--format", "yaml"}, bad...)
		if r := run(t, args...); r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", bad, r.code, exitUsage, r.stderr)
		}
	}
}
