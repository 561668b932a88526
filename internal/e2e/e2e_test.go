package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/agops/agops/internal/kube"
	"github.com/agops/agops/internal/migrate"
	"github.com/agops/agops/internal/plan/plantest"
	"github.com/agops/agops/internal/testbed"
)

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

// project is one Compose project to carry through the whole path.
type project struct {
	name string
	file string
}

func projects(t *testing.T, root string) []project {
	ps := []project{{"example", filepath.Join(root, "examples", "ai-lab", "compose.yaml")}}
	golden, _ := filepath.Glob(filepath.Join(root, "internal", "migrate", "testdata", "golden", "*", "compose.yaml"))
	for _, g := range golden {
		ps = append(ps, project{"golden/" + filepath.Base(filepath.Dir(g)), g})
	}
	return ps
}

// migrateTo writes a project's output tree under dir.
func migrateTo(t *testing.T, p project, dir string) string {
	t.Helper()
	out, _, _ := migrateResult(t, p, dir)
	return out
}

// migrateResult writes a project's output tree under dir and returns it with the migration's result and options.
func migrateResult(t *testing.T, p project, dir string) (string, migrate.Result, migrate.Options) {
	t.Helper()
	out := filepath.Join(dir, strings.ReplaceAll(p.name, "/", "_"))
	o := migrate.Options{Plan: plantest.OptionsFile(t, filepath.Dir(p.file)), Format: migrate.FormatFiles, Out: out, Stdout: io.Discard}
	o.Compose.Files = []string{p.file}
	res, err := migrate.Run(context.Background(), o)
	if err != nil {
		t.Fatalf("%s: migrate: %v", p.name, err)
	}
	return out, res, o
}

// inlineProject writes compose into a fresh folder as compose.yaml and returns the project named name.
func inlineProject(t *testing.T, name, compose string) (project, string) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	return project{name, file}, dir
}

// migrateInline migrates an inline Compose project and returns its ha overlay's objects.
func migrateInline(t *testing.T, name, compose string) []*unstructured.Unstructured {
	t.Helper()
	p, dir := inlineProject(t, name, compose)
	objs, err := kube.Load(migrateTo(t, p, dir), "ha")
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// applied is the outcome of applying one overlay of one project.
type applied struct {
	objects, accepted int
	workloads, ready  int
	notReady          []string
}

// applyAndWait applies an overlay and waits for its workloads; it returns counts rather than failing, so that a
// corpus run can report figures.
func applyAndWait(ctx context.Context, t *testing.T, c *testbed.Cluster, out, overlay string) (applied, error) {
	objs, err := kube.Load(out, overlay)
	if err != nil {
		return applied{}, err
	}
	a, err := kube.NewApplier(c.RESTConfig())
	if err != nil {
		return applied{}, err
	}
	if err := createExternalClaims(ctx, c, objs); err != nil {
		return applied{}, err
	}
	res, applyErr := a.Apply(ctx, objs, kube.ApplyOptions{Prune: true})
	r := applied{objects: len(objs), accepted: len(res.Applied)}
	var workloads []*unstructured.Unstructured
	for _, u := range objs {
		switch u.GetKind() {
		case "Deployment", "StatefulSet", "DaemonSet", "Job":
			workloads = append(workloads, u)
		}
	}
	r.workloads = len(workloads)
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var last []kube.WorkloadState
	waitErr := a.Wait(wctx, workloads, func(s []kube.WorkloadState) { last = s })
	for _, s := range last {
		if s.Done {
			r.ready++
		} else {
			r.notReady = append(r.notReady, s.String())
		}
	}
	if waitErr == nil {
		r.ready = r.workloads
		r.notReady = nil
	}
	if applyErr != nil {
		return r, applyErr
	}
	return r, waitErr
}

// TestEveryProjectAcceptedAndReady carries the example and every golden project through migrate → apply → ready,
// for both overlays, on one three-node test bed (node-a has a GPU).
func TestEveryProjectAcceptedAndReady(t *testing.T) {
	root := repoRoot(t)
	c := testbed.StartForTest(t, labNodes(), testbed.WithStorageClasses("fast"))
	dir := t.TempDir()
	ctx := context.Background()
	for _, p := range projects(t, root) {
		out := migrateTo(t, p, dir)
		for _, overlay := range []string{"single-node", "ha"} {
			r, err := applyAndWait(ctx, t, c, out, overlay)
			t.Logf("%s (%s): %d/%d objects accepted, %d/%d workloads ready", p.name, overlay, r.accepted, r.objects, r.ready, r.workloads)
			if err != nil {
				t.Errorf("%s (%s): %v", p.name, overlay, err)
			}
			if r.accepted != r.objects || r.ready != r.workloads {
				t.Errorf("%s (%s): accepted %d/%d, ready %d/%d; not ready: %s", p.name, overlay, r.accepted, r.objects, r.ready, r.workloads, strings.Join(r.notReady, "; "))
			}
		}
	}
}

// TestCorpusAcceptedAndReady runs the same path over ../shared/corpus/awesome-compose when it is there.
func TestCorpusAcceptedAndReady(t *testing.T) {
	root := repoRoot(t)
	corpus := filepath.Join(filepath.Dir(root), "shared", "corpus", "awesome-compose")
	entries, err := os.ReadDir(corpus)
	if err != nil {
		t.Skipf("no corpus at %s: %v", corpus, err)
	}
	c := testbed.StartForTest(t, labNodes(), testbed.WithStorageClasses("fast"))
	dir := t.TempDir()
	ctx := context.Background()
	var total applied
	var lines []string
	for _, e := range entries {
		file := composeFile(filepath.Join(corpus, e.Name()))
		if !e.IsDir() || file == "" {
			continue
		}
		out := migrateTo(t, project{e.Name(), file}, dir)
		r, err := applyAndWait(ctx, t, c, out, "ha")
		total.objects += r.objects
		total.accepted += r.accepted
		total.workloads += r.workloads
		total.ready += r.ready
		lines = append(lines, fmt.Sprintf("%s: %d/%d accepted, %d/%d ready", e.Name(), r.accepted, r.objects, r.ready, r.workloads))
		if err != nil {
			t.Errorf("%s: %v", e.Name(), err)
		}
	}
	sort.Strings(lines)
	t.Logf("corpus: %d/%d objects accepted, %d/%d workloads ready\n  %s", total.accepted, total.objects, total.ready, total.workloads, strings.Join(lines, "\n  "))
	if total.accepted != total.objects || total.ready != total.workloads {
		t.Errorf("corpus: %d/%d objects accepted, %d/%d workloads ready", total.accepted, total.objects, total.ready, total.workloads)
	}
}

func composeFile(dir string) string {
	for _, name := range []string{"compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return filepath.Join(dir, name)
		}
	}
	return ""
}

// labNodes is a three-node lab with the accelerators the golden projects ask for: eight NVIDIA GPUs, two AMD GPUs
// and NPUs on node-a.
func labNodes() testbed.Option {
	return testbed.WithNodes([]testbed.NodeSpec{
		{Name: "node-a", GPUs: 8, Extended: map[string]int{"amd.com/gpu": 2, "agops.dev/npu": 1, "vendor.example/npu": 2}},
		{Name: "node-b"}, {Name: "node-c"},
	})
}

// createExternalClaims creates the claims pods mount that the objects do not include: Compose external volumes,
// which the user's cluster already has. The namespace is created first when needed.
func createExternalClaims(ctx context.Context, c *testbed.Cluster, objs []*unstructured.Unstructured) error {
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
