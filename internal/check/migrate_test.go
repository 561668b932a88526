package check

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/agops/agops/internal/kube"
	"github.com/agops/agops/internal/migrate"
	"github.com/agops/agops/internal/plan"
)

// TestMigratedProjects checks the real output of agops migrate for the shipped example and the migrate golden
// projects, both overlays. Plan and render change often, so it asserts only what must hold whatever they render:
// the output reads without error, no ConfigMap carries a credential, and every finding names an object of the
// output with the rule's severity.
func TestMigratedProjects(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	projects := map[string]string{"example": filepath.Join(root, "examples", "ai-lab", "compose.yaml")}
	golden, _ := filepath.Glob(filepath.Join(root, "internal", "migrate", "testdata", "golden", "*", "compose.yaml"))
	for _, g := range golden {
		projects["golden-"+filepath.Base(filepath.Dir(g))] = g
	}
	for name, file := range projects {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "out")
			o := migrate.Options{Plan: plan.DefaultOptions(), Format: migrate.FormatFiles, Out: out, Stdout: io.Discard}
			o.Compose.Files = []string{file}
			if _, err := migrate.Run(context.Background(), o); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			for _, overlay := range []string{"ha", "single-node"} {
				checkMigrated(t, out, overlay)
			}
		})
	}
}

func checkMigrated(t *testing.T, out, overlay string) {
	t.Helper()
	objs, err := kube.Load(out, overlay)
	if err != nil {
		t.Fatalf("%s: %v", overlay, err)
	}
	fs, err := Run(objs)
	if err != nil {
		t.Fatalf("%s: %v", overlay, err)
	}
	present := map[Ref]bool{}
	for _, u := range objs {
		present[refOf(u)] = true
	}
	for _, f := range fs {
		if f.Rule == ruleSecretsInConfigMap {
			t.Errorf("%s: %s", overlay, f.Message)
		}
		if !present[f.Object] {
			t.Errorf("%s: %s names %s, which is not in the output", overlay, f.Rule, f.Object)
		}
		checkFindingShape(t, f)
	}
}

// repoRoot walks up to go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}
