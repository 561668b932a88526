package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/agops/agops/internal/e2e/e2etest"
	"github.com/agops/agops/internal/kube"
	"github.com/agops/agops/internal/testbed"
)

// migrateInline migrates an inline Compose project and returns its ha overlay's objects.
func migrateInline(t *testing.T, name, compose string) []*unstructured.Unstructured {
	t.Helper()
	p, dir := e2etest.InlineProject(t, name, compose)
	objs, err := kube.Load(e2etest.MigrateTo(t, p, dir), "ha")
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
	if err := e2etest.CreateExternalClaims(ctx, c, objs); err != nil {
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
	root := e2etest.RepoRoot(t)
	c := testbed.StartForTest(t, e2etest.LabNodes(), testbed.WithStorageClasses("fast"))
	dir := t.TempDir()
	ctx := context.Background()
	for _, p := range e2etest.Projects(t, root) {
		out := e2etest.MigrateTo(t, p, dir)
		for _, overlay := range []string{"single-node", "ha"} {
			r, err := applyAndWait(ctx, t, c, out, overlay)
			t.Logf("%s (%s): %d/%d objects accepted, %d/%d workloads ready", p.Name, overlay, r.accepted, r.objects, r.ready, r.workloads)
			if err != nil {
				t.Errorf("%s (%s): %v", p.Name, overlay, err)
			}
			if r.accepted != r.objects || r.ready != r.workloads {
				t.Errorf("%s (%s): accepted %d/%d, ready %d/%d; not ready: %s", p.Name, overlay, r.accepted, r.objects, r.ready, r.workloads, strings.Join(r.notReady, "; "))
			}
		}
	}
}

// TestCorpusAcceptedAndReady runs the same path over ../shared/corpus/awesome-compose when it is there.
func TestCorpusAcceptedAndReady(t *testing.T) {
	root := e2etest.RepoRoot(t)
	corpus := filepath.Join(filepath.Dir(root), "shared", "corpus", "awesome-compose")
	entries, err := os.ReadDir(corpus)
	if err != nil {
		t.Skipf("no corpus at %s: %v", corpus, err)
	}
	c := testbed.StartForTest(t, e2etest.LabNodes(), testbed.WithStorageClasses("fast"))
	dir := t.TempDir()
	ctx := context.Background()
	var total applied
	var lines []string
	for _, e := range entries {
		file := e2etest.ComposeFile(filepath.Join(corpus, e.Name()))
		if !e.IsDir() || file == "" {
			continue
		}
		out := e2etest.MigrateTo(t, e2etest.Project{Name: e.Name(), File: file}, dir)
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
