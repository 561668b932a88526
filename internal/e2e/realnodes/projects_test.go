package realnodes

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/agops/agops/internal/e2e/e2etest"
	"github.com/agops/agops/internal/image"
	"github.com/agops/agops/internal/kube"
	"github.com/agops/agops/internal/migrate"
	"github.com/agops/agops/internal/plan"
	"github.com/agops/agops/internal/plan/plantest"
	"github.com/agops/agops/internal/rehearse"
	"github.com/agops/agops/internal/testbed"
)

// TestProjectsOnRealNodes runs every golden project, ha overlay, with stand-ins, on one cluster of three real nodes,
// five at a time, and beside the last five one of them again as on a user's cluster: every workload is Ready by its
// real probes (Jobs complete), and the stand-ins' measured matrix equals agops check's, pair for pair — every
// connection a project's configuration uses succeeds by name through DNS and kube-proxy, and every one its policies
// forbid is refused by kube-router.
func TestProjectsOnRealNodes(t *testing.T) {
	onShared(t)
	// The example has its own rehearsal on real nodes (TestRehearseExampleOnRealNodes).
	ps := e2etest.Projects(t, e2etest.RepoRoot(t))[1:]
	// AGOPS_GOLDEN_REAL=models,names runs only those golden projects (while working on them), without the rehearsal
	// on "your cluster" that follows.
	if v := os.Getenv("AGOPS_GOLDEN_REAL"); v != "" {
		only := strings.Split(v, ",")
		ps = slices.DeleteFunc(ps, func(p e2etest.Project) bool { return !slices.Contains(only, strings.TrimPrefix(p.Name, "golden/")) })
		if len(ps) == 0 {
			t.Fatalf("AGOPS_GOLDEN_REAL=%s names no golden project", v)
		}
		runOnRealNodes(t, ps, 5, nil)
		return
	}
	tiers := filepath.Join(e2etest.RepoRoot(t), "internal", "migrate", "testdata", "golden", "tiers", "compose.yaml")
	o := migrate.Options{Plan: plantest.OptionsFile(t, filepath.Dir(tiers)), Stdout: io.Discard}
	o.Compose.Files = []string{tiers}
	runOnRealNodes(t, ps, 5, func(c *testbed.Cluster) { rehearseOnYourCluster(t, c, o) })
}

// rehearseOnYourCluster is `agops rehearse --kubeconfig --stand-ins` on a project (a golden one with three tiers and
// the gateway, under its throw-away name beside the same project's namespaces), with the test bed standing in for
// the user's cluster: every workload Ready, the matrix agrees, and nothing of the rehearsal is left afterwards. It
// runs beside other work on the cluster, off the test's goroutine, so it reports with t.Errorf.
func rehearseOnYourCluster(t *testing.T, c *testbed.Cluster, o migrate.Options) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	rep, err := rehearse.OnYourCluster(ctx, c.RESTConfig(), rehearse.Plan{Migrate: o, Overlay: "ha", StandIns: true,
		Options: rehearse.Options{Ready: 8 * time.Minute}}, rehearse.TestbedNetwork)
	if err != nil {
		t.Errorf("your cluster: %v", err)
		return
	}
	t.Log("\n" + rep.Text())
	for _, s := range rep.Services {
		if s.Before < s.Desired {
			t.Errorf("your cluster: %s %s: %d of %d ready", s.Workload.Kind, s.Workload.Name, s.Before, s.Desired)
		}
	}
	if m := rep.Reachability; m == nil || m.Pairs == 0 || m.Agree != m.Pairs {
		t.Errorf("your cluster: matrix %+v, want every pair agreeing", m)
	}
	nss, err := c.Client().CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Errorf("your cluster: %v", err)
		return
	}
	for _, ns := range nss.Items {
		if strings.HasPrefix(ns.Name, rehearse.RehearsalPrefix) {
			t.Errorf("namespace %s is left after the rehearsal", ns.Name)
		}
	}
}

// TestCorpusOnRealNodes does the same for ../shared/corpus/awesome-compose, five projects at a time. It is an
// acceptance run, not part of the test command: set AGOPS_CORPUS_REAL=1 (or to a comma-separated list of the
// corpus's project folders, to run those).
func TestCorpusOnRealNodes(t *testing.T) {
	if os.Getenv("AGOPS_CORPUS_REAL") == "" {
		t.Skip("acceptance run: set AGOPS_CORPUS_REAL=1")
	}
	onShared(t)
	corpus := filepath.Join(filepath.Dir(e2etest.RepoRoot(t)), "shared", "corpus", "awesome-compose")
	entries, err := os.ReadDir(corpus)
	if err != nil {
		t.Skipf("no corpus at %s: %v", corpus, err)
	}
	only := map[string]bool{}
	if v := os.Getenv("AGOPS_CORPUS_REAL"); v != "1" {
		for _, name := range strings.Split(v, ",") {
			only[name] = true
		}
	}
	var ps []e2etest.Project
	for _, e := range entries {
		if len(only) > 0 && !only[e.Name()] {
			continue
		}
		if file := e2etest.ComposeFile(filepath.Join(corpus, e.Name())); e.IsDir() && file != "" {
			ps = append(ps, e2etest.Project{Name: "corpus/" + e.Name(), File: file})
		}
	}
	runOnRealNodes(t, ps, 5, nil)
}

// onRealNodes is one project applied with stand-ins.
type onRealNodes struct {
	p        e2etest.Project
	objs     []*unstructured.Unstructured
	standIns *rehearse.StandIns
}

// runOnRealNodes migrates the projects, applies them with stand-ins batch projects at a time (all at once when
// batch is 0), waits for their workloads, measures each project's matrix, and deletes the batch's namespaces before
// the next. It fails on any workload not ready and any pair where the measurement and agops check disagree, is
// flaky or was not measured, and logs the figures. alongside, if not nil, runs on the same cluster beside the last
// batch: both are mostly waiting, for probes and for matrices to settle.
func runOnRealNodes(t *testing.T, ps []e2etest.Project, batch int, alongside func(*testbed.Cluster)) {
	root := e2etest.RepoRoot(t)
	c := shared.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	img, err := image.Build(bin.StaticAgops(t, root))
	if err != nil {
		t.Fatal(err)
	}
	a, err := kube.NewApplier(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	if batch <= 0 {
		batch = len(ps)
	}
	dir := t.TempDir()
	loaded := map[string]bool{}
	var workloads, ready, pairs, agree int
	var lines []string
	for start := 0; start < len(ps); start += batch {
		began := time.Now()
		var run []onRealNodes
		for _, p := range ps[start:min(start+batch, len(ps))] {
			out, res, o := e2etest.MigrateResult(t, p, dir)
			objs, err := kube.Load(out, "ha")
			if err != nil {
				t.Fatalf("%s: %v", p.Name, err)
			}
			helper := o.Plan.HelperImage
			if helper == "" {
				helper = plan.DefaultOptions().HelperImage
			}
			if !loaded[helper] {
				if err := c.LoadImage(ctx, helper, img); err != nil {
					t.Fatal(err)
				}
				loaded[helper] = true
			}
			objs, s, err := rehearse.PrepareStandIns(objs, res.Model, helper, rehearse.TestbedNetwork)
			if err != nil {
				t.Fatalf("%s: stand-ins: %v", p.Name, err)
			}
			if err := e2etest.CreateExternalClaims(ctx, c, objs); err != nil {
				t.Fatalf("%s: %v", p.Name, err)
			}
			if _, err := a.Apply(ctx, objs, kube.ApplyOptions{}); err != nil {
				t.Fatalf("%s: apply: %v", p.Name, err)
			}
			if _, err := rehearse.CreatePlaceholderSecrets(ctx, c.Client(), objs); err != nil {
				t.Fatalf("%s: %v", p.Name, err)
			}
			run = append(run, onRealNodes{p, objs, s})
		}
		// The projects of a batch are waited for and measured at once: each measurement is mostly waiting for
		// its matrix to settle.
		results := make([]string, len(run))
		var mu sync.Mutex
		var wg sync.WaitGroup
		if alongside != nil && start+batch >= len(ps) {
			wg.Go(func() { alongside(c) })
		}
		for i, r := range run {
			wg.Go(func() {
				n, ok, notReady := waitReady(ctx, a, r.objs)
				mu.Lock()
				workloads, ready = workloads+n, ready+ok
				mu.Unlock()
				if ok < n {
					t.Errorf("%s: %d of %d workloads ready; not ready: %s", r.p.Name, ok, n, strings.Join(notReady, "; "))
					results[i] = fmt.Sprintf("%s: %d/%d ready", r.p.Name, ok, n)
					return
				}
				m, err := rehearse.MeasureStandIns(ctx, c, r.objs, r.standIns, rehearse.Options{})
				if err != nil {
					t.Errorf("%s: measuring: %v", r.p.Name, err)
					results[i] = fmt.Sprintf("%s: %d/%d ready; not measured", r.p.Name, ok, n)
					return
				}
				mu.Lock()
				pairs, agree = pairs+m.Pairs, agree+m.Agree
				mu.Unlock()
				results[i] = fmt.Sprintf("%s: %d/%d ready; %d pairs, %d agree, %d disagree, %d flaky, %d unmeasured",
					r.p.Name, ok, n, m.Pairs, m.Agree, len(m.Disagreements), len(m.Flaky), m.Unmeasured)
				if m.Agree != m.Pairs {
					t.Errorf("%s: %d of %d pairs agree with agops check; disagree %q; flaky %q; %d unmeasured",
						r.p.Name, m.Agree, m.Pairs, m.Disagreements, m.Flaky, m.Unmeasured)
				}
			})
		}
		wg.Wait()
		lines = append(lines, results...)
		t.Logf("batch of %d projects: %s", len(run), time.Since(began).Round(time.Second))
		if start+batch < len(ps) {
			deleteNamespaces(ctx, t, c, run)
		}
	}
	t.Logf("%d projects: %d/%d workloads ready, %d/%d pairs agree\n  %s", len(ps), ready, workloads, agree, pairs,
		strings.Join(lines, "\n  "))
}

// waitReady waits for the workloads of objs (Jobs complete) and returns how many there are, how many got ready and
// which did not.
func waitReady(ctx context.Context, a *kube.Applier, objs []*unstructured.Unstructured) (n, ready int, notReady []string) {
	wctx, cancel := context.WithTimeout(ctx, 8*time.Minute)
	defer cancel()
	var last []kube.WorkloadState
	err := a.Wait(wctx, objs, func(s []kube.WorkloadState) { last = s })
	for _, u := range objs {
		switch u.GetKind() {
		case "Deployment", "StatefulSet", "DaemonSet", "Job":
			n++
		}
	}
	if err == nil {
		return n, n, nil
	}
	for _, s := range last {
		if s.Done {
			ready++
		} else {
			notReady = append(notReady, s.String())
		}
	}
	return n, ready, append(notReady, err.Error())
}

// deleteNamespaces deletes the namespaces of a batch's objects and waits until they are gone.
func deleteNamespaces(ctx context.Context, t *testing.T, c *testbed.Cluster, run []onRealNodes) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range run {
		for _, u := range r.objs {
			if ns := u.GetNamespace(); ns != "" && !seen[ns] {
				seen[ns] = true
				if err := c.Client().CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
					t.Errorf("deleting namespace %s: %v", ns, err)
				}
			}
		}
	}
	deadline := time.Now().Add(5 * time.Minute)
	for ns := range seen {
		for {
			if _, err := c.Client().CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("namespace %s still there after 5 minutes", ns)
				return
			}
			time.Sleep(time.Second)
		}
	}
}
