package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/agops/agops/internal/testbed"
)

// TestDrainHonoursDisruptionBudgets drains a node of the ha example through the eviction API, as kubectl drain
// does, and checks that no service with a PodDisruptionBudget ever has fewer ready pods than the budget allows.
func TestDrainHonoursDisruptionBudgets(t *testing.T) {
	root := repoRoot(t)
	c := testbed.StartForTest(t, labNodes())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out := migrateTo(t, project{"example", filepath.Join(root, "examples", "ai-lab", "compose.yaml")}, t.TempDir())
	if _, err := applyAndWait(ctx, t, c, out, "ha"); err != nil {
		t.Fatal(err)
	}
	client := c.Client()
	pdbs, err := client.PolicyV1().PodDisruptionBudgets("ai-lab").List(ctx, metav1.ListOptions{})
	if err != nil || len(pdbs.Items) == 0 {
		t.Fatalf("PodDisruptionBudgets: %d, %v; the ha example should have some", len(pdbs.Items), err)
	}
	node := "node-b"
	if _, err := client.CoreV1().Nodes().Patch(ctx, node, "application/merge-patch+json", []byte(`{"spec":{"unschedulable":true}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Minute)
	refused := 0
	for time.Now().Before(deadline) {
		for _, pdb := range pdbs.Items {
			if err := checkBudget(ctx, client, pdb); err != nil {
				t.Error(err)
			}
		}
		pods, err := client.CoreV1().Pods("ai-lab").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
		if err != nil {
			t.Fatal(err)
		}
		live := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded {
				continue
			}
			live++
			ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}}
			if err := client.PolicyV1().Evictions(p.Namespace).Evict(ctx, ev); apierrors.IsTooManyRequests(err) {
				refused++
			} else if err != nil && !apierrors.IsNotFound(err) {
				t.Fatalf("evicting %s: %v", p.Name, err)
			}
		}
		if live == 0 {
			t.Logf("%s drained; the API server refused %d evictions that would have broken a budget", node, refused)
			return
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("%s not drained within 5 minutes", node)
}

// checkBudget fails when fewer pods of a budget are ready than its maxUnavailable allows.
func checkBudget(ctx context.Context, client kubernetes.Interface, pdb policyv1.PodDisruptionBudget) error {
	cur, err := client.PolicyV1().PodDisruptionBudgets(pdb.Namespace).Get(ctx, pdb.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if cur.Status.ExpectedPods > 0 && cur.Status.CurrentHealthy < cur.Status.ExpectedPods-int32(cur.Spec.MaxUnavailable.IntValue()) {
		return fmt.Errorf("%s: %d healthy of %d expected, below its budget (maxUnavailable %s)", pdb.Name, cur.Status.CurrentHealthy, cur.Status.ExpectedPods, cur.Spec.MaxUnavailable.String())
	}
	return nil
}
