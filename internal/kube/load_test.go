package kube

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/agops/agops/internal/migrate"
	"github.com/agops/agops/internal/plan"
)

// migrateExample writes the shipped example's output tree and returns its folder.
func migrateExample(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	o := migrate.Options{Plan: plan.DefaultOptions(), Format: migrate.FormatFiles, Out: out, Stdout: io.Discard}
	o.Compose.Files = []string{filepath.Join("..", "..", "examples", "ai-lab", "compose.yaml")}
	if _, err := migrate.Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoadOverlays(t *testing.T) {
	t.Parallel()
	out := migrateExample(t)
	count := func(objs []*unstructured.Unstructured, kind string) int {
		n := 0
		for _, u := range objs {
			if u.GetKind() == kind {
				n++
			}
		}
		return n
	}
	ha, err := Load(out, "ha")
	if err != nil {
		t.Fatal(err)
	}
	single, err := Load(out, "single-node")
	if err != nil {
		t.Fatal(err)
	}
	if count(ha, "PodDisruptionBudget") == 0 || count(single, "PodDisruptionBudget") != 0 {
		t.Errorf("PodDisruptionBudgets: ha %d, single-node %d; want some in ha only", count(ha, "PodDisruptionBudget"), count(single, "PodDisruptionBudget"))
	}
	if count(ha, "Namespace") != 3 || count(ha, "Deployment") != count(single, "Deployment") {
		t.Errorf("ha has %d namespaces and %d deployments, single-node %d deployments", count(ha, "Namespace"), count(ha, "Deployment"), count(single, "Deployment"))
	}
	for _, u := range ha {
		if u.GetKind() == "Deployment" && u.GetName() == "api" {
			if r, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas"); r != 2 {
				t.Errorf("ha api replicas = %d, want 2", r)
			}
		}
	}
	if _, err := Load(out, "nope"); err == nil || !strings.Contains(err.Error(), "overlays/nope") {
		t.Errorf("Load of a missing overlay: err = %v, want one naming overlays/nope", err)
	}
}

func TestLoadFileAndDecodeErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n"), 0o644)
	objs, err := Load(good, "ha")
	if err != nil || len(objs) != 2 {
		t.Fatalf("Load(file) = %d objects, %v; want 2", len(objs), err)
	}
	for _, tt := range []struct{ name, body, want string }{
		{"invalid-no-kind", "apiVersion: v1\nmetadata: {name: a}\n", "Kind' is missing"},
		{"invalid-yaml", "apiVersion: v1\nkind: [\n", "document 1"},
	} {
		if _, err := Decode([]byte(tt.body)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing"), "ha"); err == nil {
		t.Error("Load of a missing path succeeded")
	}
}

func TestSortAppliesDependenciesFirst(t *testing.T) {
	t.Parallel()
	mk := func(kind, ns, name string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{}}
		u.SetAPIVersion("v1")
		u.SetKind(kind)
		u.SetNamespace(ns)
		u.SetName(name)
		return u
	}
	objs := []*unstructured.Unstructured{
		mk("PodDisruptionBudget", "a", "x"), mk("Deployment", "a", "x"), mk("Widget", "a", "w"), mk("Service", "a", "x"),
		mk("ConfigMap", "a", "x"), mk("ServiceAccount", "a", "x"), mk("RuntimeClass", "", "nvidia"), mk("Namespace", "", "a"),
	}
	Sort(objs)
	var got []string
	for _, u := range objs {
		got = append(got, u.GetKind())
	}
	want := "Namespace RuntimeClass ServiceAccount ConfigMap Service Deployment PodDisruptionBudget Widget"
	if strings.Join(got, " ") != want {
		t.Errorf("order = %s, want %s", strings.Join(got, " "), want)
	}
}

func TestRollout(t *testing.T) {
	t.Parallel()
	obj := func(kind string, spec, status map[string]any) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": kind, "metadata": map[string]any{"name": "x", "generation": int64(2)}, "spec": spec, "status": status}}
		return u
	}
	tests := []struct {
		name         string
		u            *unstructured.Unstructured
		done, failed bool
	}{
		{"valid-deployment-ready", obj("Deployment", map[string]any{"replicas": int64(2)}, map[string]any{"observedGeneration": int64(2), "replicas": int64(2), "updatedReplicas": int64(2), "availableReplicas": int64(2)}), true, false},
		{"valid-deployment-old-generation", obj("Deployment", map[string]any{"replicas": int64(2)}, map[string]any{"observedGeneration": int64(1), "replicas": int64(2), "updatedReplicas": int64(2), "availableReplicas": int64(2)}), false, false},
		{"valid-deployment-surplus-old-pods", obj("Deployment", map[string]any{"replicas": int64(2)}, map[string]any{"observedGeneration": int64(2), "replicas": int64(3), "updatedReplicas": int64(2), "availableReplicas": int64(3)}), false, false},
		{"valid-statefulset-ready", obj("StatefulSet", map[string]any{"replicas": int64(1)}, map[string]any{"observedGeneration": int64(2), "readyReplicas": int64(1), "currentRevision": "a", "updateRevision": "a"}), true, false},
		{"valid-statefulset-not-ready", obj("StatefulSet", map[string]any{"replicas": int64(1)}, map[string]any{"observedGeneration": int64(2), "readyReplicas": int64(0)}), false, false},
		{"valid-daemonset-ready", obj("DaemonSet", nil, map[string]any{"observedGeneration": int64(2), "desiredNumberScheduled": int64(3), "numberReady": int64(3), "updatedNumberScheduled": int64(3)}), true, false},
		{"valid-job-complete", obj("Job", nil, map[string]any{"conditions": []any{map[string]any{"type": "Complete", "status": "True"}}}), true, false},
		{"valid-job-failed", obj("Job", nil, map[string]any{"conditions": []any{map[string]any{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}}}), false, true},
		{"valid-job-running", obj("Job", nil, map[string]any{}), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := Rollout(tt.u)
			if s.Done != tt.done || s.Failed != tt.failed {
				t.Errorf("Rollout = %+v, want done %v failed %v", s, tt.done, tt.failed)
			}
		})
	}
}
