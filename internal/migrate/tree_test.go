package migrate

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/agops/agops/internal/plan/plantest"
	"github.com/agops/agops/internal/render/k8s"
	"github.com/agops/agops/internal/render/kustomize"
)

// TestTreeRenderedByFile checks that the tree migrate writes, rendering each workload only when its file is
// written, holds the same bytes as kustomize.Tree over the whole base and ha renderings: for every golden feature,
// and for services named like the shared files, whose objects share those files.
func TestTreeRenderedByFile(t *testing.T) {
	features, err := filepath.Glob("testdata/golden/*/compose.yaml")
	if err != nil || len(features) == 0 {
		t.Fatalf("no golden features found: %v", err)
	}
	clash := filepath.Join(t.TempDir(), "compose.yaml")
	if err := os.WriteFile(clash, []byte(`services:
  namespace: {image: "nginx:1.27", deploy: {replicas: 2}}
  storage: {image: "postgres:17", volumes: ["data:/var/lib/postgresql/data"]}
  networkpolicies: {image: "example/api:1", depends_on: [storage]}
volumes:
  data: {}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range append(features, clash) {
		t.Run(filepath.Base(filepath.Dir(f)), func(t *testing.T) {
			t.Parallel()
			o := Options{Plan: plantest.OptionsFile(t, filepath.Dir(f)), Format: FormatFiles, Out: filepath.Join(t.TempDir(), "out")}
			o.Compose.Files = []string{f}
			res, err := Run(context.Background(), o)
			if err != nil {
				t.Fatalf("migrate: %v", err)
			}
			base, err := k8s.Render(res.Model, k8s.Options{Variant: k8s.Base})
			if err != nil {
				t.Fatal(err)
			}
			ha, err := k8s.Render(res.Model, k8s.Options{Variant: k8s.HA})
			if err != nil {
				t.Fatal(err)
			}
			want, err := kustomize.Tree(base, ha)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]byte{}
			err = filepath.WalkDir(o.Out, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(o.Out, p)
				if rel = filepath.ToSlash(rel); rel == "report.json" || rel == "report.md" {
					return nil
				}
				got[rel], err = os.ReadFile(p)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			for name, data := range want {
				if !bytes.Equal(got[name], data) {
					t.Errorf("%s differs:\n%s\nwant:\n%s", name, got[name], data)
				}
			}
			for name := range got {
				if _, ok := want[name]; !ok {
					t.Errorf("%s is not in the tree", name)
				}
			}
		})
	}
}
