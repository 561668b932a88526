package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agops/agops/internal/e2e/e2etest"
	"github.com/agops/agops/internal/kubeclient"
	"github.com/agops/agops/internal/testbed"
)

// TestDrainHonoursDisruptionBudgets drains, through the eviction API as kubectl drain does, two nodes that hold
// replicas of one budgeted service of the ha example — the careless maintenance a budget exists for. While every node
// is cordoned, no replacement can start, so the API server must refuse the evictions that would break a budget; once
// the third node takes pods again, the drain completes. No service with a PodDisruptionBudget may ever have fewer
// ready pods than its budget allows. (The simulated nodes start a replacement in well under a second, so without
// the cordon the budget would be restored before a second eviction arrives.)
func TestDrainHonoursDisruptionBudgets(t *testing.T) {
	root := e2etest.RepoRoot(t)
	c := testbed.StartForTest(t, e2etest.LabNodes())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out := e2etest.MigrateTo(t, e2etest.Project{Name: "example", File: filepath.Join(root, "examples", "ai-lab", "compose.yaml")}, t.TempDir())
	if _, err := applyAndWait(ctx, t, c, out, "ha"); err != nil {
		t.Fatal(err)
	}
	client := c.Client()
	pdbs, err := client.PolicyV1().PodDisruptionBudgets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil || len(pdbs.Items) == 0 {
		t.Fatalf("PodDisruptionBudgets: %d, %v; the ha example should have some", len(pdbs.Items), err)
	}
	target := pdbs.Items[0]
	nodes, err := nodesOf(ctx, client, target)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) < 2 {
		t.Fatalf("%s runs on %v; the ha overlay should spread it over two nodes", target.Name, nodes)
	}
	nodes = nodes[:2] // two of the nodes that hold it (a service with 3 replicas holds all three): the third takes them back

	cordon := func(node string, off bool) {
		patch := fmt.Sprintf(`{"spec":{"unschedulable":%v}}`, off)
		if _, err := client.CoreV1().Nodes().Patch(ctx, node, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"node-a", "node-b", "node-c"} {
		cordon(n, true)
	}
	refused := map[string]int{}
	// Phase 1: every node cordoned. Evict until nothing more moves; the budgets must hold the rest back.
	for i := 0; i < 5; i++ {
		drainStep(ctx, t, client, nodes, pdbs.Items, refused)
		time.Sleep(time.Second)
	}
	if refused[target.Name] == 0 {
		t.Errorf("no eviction of %s was refused while no replacement could start", target.Name)
	}
	t.Logf("with every node cordoned, evictions refused to keep budgets: %v", refused)
	// Phase 2: the third node takes pods again; the drain must complete without breaking a budget.
	for _, n := range []string{"node-a", "node-b", "node-c"} {
		if !slices.Contains(nodes, n) {
			cordon(n, false)
		}
	}
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		if drainStep(ctx, t, client, nodes, pdbs.Items, refused) == 0 {
			t.Logf("%v drained; evictions refused in all: %v", nodes, refused)
			return
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("%v not drained within 5 minutes", nodes)
}

// drainStep checks every budget, then evicts every live pod of the nodes at once, as parallel drains would. It
// returns how many live pods it found.
func drainStep(ctx context.Context, t *testing.T, client kubeclient.Interface, nodes []string, pdbs []policyv1.PodDisruptionBudget, refused map[string]int) int {
	t.Helper()
	for _, pdb := range pdbs {
		if err := checkBudget(ctx, client, pdb); err != nil {
			t.Error(err)
		}
	}
	var live []corev1.Pod
	for _, node := range nodes {
		pods, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded {
				live = append(live, p)
			}
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range live {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}}
			err := client.PolicyV1().Evictions(p.Namespace).Evict(ctx, ev)
			mu.Lock()
			defer mu.Unlock()
			if apierrors.IsTooManyRequests(err) {
				refused[p.Labels["app.kubernetes.io/name"]]++
			} else if err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("evicting %s/%s: %v", p.Namespace, p.Name, err)
			}
		}()
	}
	wg.Wait()
	return len(live)
}

// nodesOf lists the distinct nodes running a budget's pods.
func nodesOf(ctx context.Context, client kubeclient.Interface, pdb policyv1.PodDisruptionBudget) ([]string, error) {
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		return nil, err
	}
	pods, err := client.CoreV1().Pods(pdb.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var nodes []string
	for _, p := range pods.Items {
		if n := p.Spec.NodeName; n != "" && !seen[n] {
			seen[n] = true
			nodes = append(nodes, n)
		}
	}
	sort.Strings(nodes)
	return nodes, nil
}

// checkBudget fails when fewer pods of a budget are ready than its maxUnavailable allows.
func checkBudget(ctx context.Context, client kubeclient.Interface, pdb policyv1.PodDisruptionBudget) error {
	cur, err := client.PolicyV1().PodDisruptionBudgets(pdb.Namespace).Get(ctx, pdb.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if cur.Status.ExpectedPods > 0 && cur.Status.CurrentHealthy < cur.Status.ExpectedPods-int32(cur.Spec.MaxUnavailable.IntValue()) {
		return fmt.Errorf("%s: %d healthy of %d expected, below its budget (maxUnavailable %s)", pdb.Name, cur.Status.CurrentHealthy, cur.Status.ExpectedPods, cur.Spec.MaxUnavailable.String())
	}
	return nil
}
