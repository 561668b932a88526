package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agops/agops/internal/e2e/e2etest"
	"github.com/agops/agops/internal/kube"
	"github.com/agops/agops/internal/testbed"
)

// TestApplyPruneAndDryRun applies the ha example, then the single-node overlay with pruning: the disruption budgets
// only ha has are deleted, a Secret the user made by hand survives, and a server dry run changes nothing. A bad
// object is refused with its name and field.
func TestApplyPruneAndDryRun(t *testing.T) {
	root := e2etest.RepoRoot(t)
	c := testbed.StartForTest(t, e2etest.LabNodes())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out := e2etest.MigrateTo(t, e2etest.Project{Name: "example", File: filepath.Join(root, "examples", "ai-lab", "compose.yaml")}, t.TempDir())
	cfg := c.RESTConfig()
	if _, err := kube.Run(ctx, cfg, kube.RunOptions{Path: out, Overlay: "ha", ApplyOptions: kube.ApplyOptions{Prune: true}}); err != nil {
		t.Fatal(err)
	}
	client := c.Client()
	mine := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "postgres-password", Namespace: "ai-lab-data"}, StringData: map[string]string{"postgres_password": "x"}}
	if _, err := client.CoreV1().Secrets("ai-lab-data").Create(ctx, mine, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pdbs := func() int {
		l, err := client.PolicyV1().PodDisruptionBudgets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return len(l.Items)
	}
	if pdbs() == 0 {
		t.Fatal("the ha overlay created no PodDisruptionBudget")
	}
	dry, err := kube.Run(ctx, cfg, kube.RunOptions{Path: out, Overlay: "single-node", ApplyOptions: kube.ApplyOptions{Prune: true, DryRun: true}})
	if err != nil || len(dry.Pruned) == 0 || pdbs() == 0 {
		t.Fatalf("server dry run: pruned %v, err %v, %d budgets left; want budgets listed but kept", dry.Pruned, err, pdbs())
	}
	res, err := kube.Run(ctx, cfg, kube.RunOptions{Path: out, Overlay: "single-node", ApplyOptions: kube.ApplyOptions{Prune: true}})
	if err != nil {
		t.Fatal(err)
	}
	if n := pdbs(); n != 0 || len(res.Pruned) == 0 {
		t.Errorf("after the single-node apply with prune: %d budgets left, pruned %v", n, res.Pruned)
	}
	if _, err := client.CoreV1().Secrets("ai-lab-data").Get(ctx, "postgres-password", metav1.GetOptions{}); err != nil {
		t.Errorf("the hand-made Secret was pruned: %v", err)
	}
	bad, _ := kube.Decode([]byte("apiVersion: v1\nkind: Service\nmetadata: {name: bad, namespace: ai-lab-web, labels: {app.kubernetes.io/part-of: ai-lab}}\nspec:\n  ports: [{port: 70000}]\n"))
	a, err := kube.NewApplier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Apply(ctx, bad, kube.ApplyOptions{})
	if err == nil || !strings.Contains(err.Error(), "Service ai-lab-web/bad") || !strings.Contains(err.Error(), "spec.ports[0].port") {
		t.Errorf("applying a bad Service: err = %v, want one naming the object and spec.ports[0].port", err)
	}
}
