// Package e2etest holds what the end-to-end test packages share: the projects they carry through the whole path
// (the example and every golden project), their migration into a folder, the lab's nodes, and a static agops for
// the helper image. internal/e2e runs them on simulated nodes, internal/e2e/realnodes on nodes that run containers;
// the two are separate packages so that `go test ./...` runs them side by side.
package e2etest

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/agops/agops/internal/migrate"
	"github.com/agops/agops/internal/plan/plantest"
	"github.com/agops/agops/internal/testbed"
)

// RepoRoot walks up to go.mod.
func RepoRoot(t testing.TB) string {
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

// Project is one Compose project to carry through the whole path.
type Project struct {
	Name string
	File string
}

// Projects is the shipped example, first, then every golden project.
func Projects(t testing.TB, root string) []Project {
	t.Helper()
	ps := []Project{{Name: "example", File: filepath.Join(root, "examples", "ai-lab", "compose.yaml")}}
	golden, err := filepath.Glob(filepath.Join(root, "internal", "migrate", "testdata", "golden", "*", "compose.yaml"))
	if err != nil || len(golden) == 0 {
		t.Fatalf("no golden projects under %s: %v", root, err)
	}
	for _, g := range golden {
		ps = append(ps, Project{Name: "golden/" + filepath.Base(filepath.Dir(g)), File: g})
	}
	return ps
}

// MigrateTo writes a project's output tree under dir.
func MigrateTo(t testing.TB, p Project, dir string) string {
	t.Helper()
	out, _, _ := MigrateResult(t, p, dir)
	return out
}

// MigrateResult writes a project's output tree under dir and returns it with the migration's result and options.
func MigrateResult(t testing.TB, p Project, dir string) (string, migrate.Result, migrate.Options) {
	t.Helper()
	out := filepath.Join(dir, strings.ReplaceAll(p.Name, "/", "_"))
	o := migrate.Options{Plan: plantest.OptionsFile(t, filepath.Dir(p.File)), Format: migrate.FormatFiles, Out: out, Stdout: io.Discard}
	o.Compose.Files = []string{p.File}
	res, err := migrate.Run(context.Background(), o)
	if err != nil {
		t.Fatalf("%s: migrate: %v", p.Name, err)
	}
	return out, res, o
}

// InlineProject writes compose into a fresh folder as compose.yaml and returns the project named name.
func InlineProject(t testing.TB, name, compose string) (Project, string) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	return Project{Name: name, File: file}, dir
}

// ComposeFile is the Compose file of a project folder, by the names Compose looks for, or "".
func ComposeFile(dir string) string {
	for _, name := range []string{"compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return filepath.Join(dir, name)
		}
	}
	return ""
}

// LabNodes is a three-node lab with the accelerators the golden projects ask for: eight NVIDIA GPUs, two AMD GPUs
// and NPUs on node-a.
func LabNodes() testbed.Option {
	return testbed.WithNodes([]testbed.NodeSpec{
		{Name: "node-a", GPUs: 8, Extended: map[string]int{"amd.com/gpu": 2, "agops.dev/npu": 1, "vendor.example/npu": 2}},
		{Name: "node-b"}, {Name: "node-c"},
	})
}

// CreateExternalClaims creates the claims pods mount that the objects do not include: Compose external volumes,
// which the user's cluster already has. The namespace is created first when needed.
func CreateExternalClaims(ctx context.Context, c *testbed.Cluster, objs []*unstructured.Unstructured) error {
	have := map[string]bool{}
	for _, u := range objs {
		if u.GetKind() == "PersistentVolumeClaim" {
			have[u.GetNamespace()+"/"+u.GetName()] = true
		}
	}
	for _, u := range objs {
		vols, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "volumes")
		for _, v := range vols {
			claim, _, _ := unstructured.NestedString(v.(map[string]any), "persistentVolumeClaim", "claimName")
			if claim == "" || have[u.GetNamespace()+"/"+claim] {
				continue
			}
			have[u.GetNamespace()+"/"+claim] = true
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: u.GetNamespace()}}
			if _, err := c.Client().CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return err
			}
			pvc := &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Name: claim, Namespace: u.GetNamespace()},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}
			if _, err := c.Client().CoreV1().PersistentVolumeClaims(u.GetNamespace()).Create(ctx, pvc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return err
			}
		}
	}
	return nil
}

// Bin is a folder for the binaries a test package builds once and shares. Its TestMain makes it with NewBin and
// removes it with Close.
type Bin struct {
	Dir string

	once   sync.Once
	agops  string
	errAgo error
}

// NewBin makes a fresh folder for a package's shared binaries.
func NewBin() (*Bin, error) {
	dir, err := os.MkdirTemp("", "agops-e2e-bin-")
	if err != nil {
		return nil, err
	}
	return &Bin{Dir: dir}, nil
}

// Close removes the folder.
func (b *Bin) Close() { _ = os.RemoveAll(b.Dir) }

// StaticAgops builds agops without cgo, as the helper image needs it, once for the package's tests.
func (b *Bin) StaticAgops(t testing.TB, root string) string {
	t.Helper()
	b.once.Do(func() {
		bin := filepath.Join(b.Dir, "agops")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/agops")
		cmd.Dir = root
		cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.errAgo = fmt.Errorf("building a static agops: %v\n%s", err, out)
			return
		}
		b.agops = bin
	})
	if b.errAgo != nil {
		t.Fatal(b.errAgo)
	}
	return b.agops
}
