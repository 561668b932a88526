package airgap

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/agops/agops/internal/compose"
	"github.com/agops/agops/internal/kube"
	"github.com/agops/agops/internal/migrate"
	"github.com/agops/agops/internal/plan"
)

const workloads = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  template:
    spec:
      initContainers: [{name: wait, image: ghcr.io/agops/agops:v0.1.0}]
      containers: [{name: api, image: ghcr.io/example/api:1}, {name: side, image: redis:7}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec: {template: {spec: {containers: [{name: db, image: postgres:17.2}]}}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: llm}
spec:
  template:
    spec:
      initContainers: [{name: pull-weights, image: ghcr.io/agops/agops:v0.1.0, args: [model, pull, ai/smollm2, --dir, /models]}]
      containers: [{name: llm, image: "ghcr.io/ggml-org/llama.cpp:server-b6770", args: [--model, /models/model.gguf]}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: plugin}
spec: {template: {spec: {containers: [{name: p, image: nvcr.io/nvidia/k8s-device-plugin:v0.17.0}]}}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: pull}
spec: {template: {spec: {containers: [{name: pull, image: ollama/ollama:0.6.2}]}}}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: backup}
spec: {jobTemplate: {spec: {template: {spec: {containers: [{name: b, image: postgres:17.2}]}}}}}
---
apiVersion: v1
kind: Pod
metadata: {name: debug}
spec:
  containers: [{name: d, image: busybox:1.37}]
  ephemeralContainers: [{name: e, image: nicolaka/netshoot:v0.13}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: not-a-workload}
data: {image: ignored:1}
`

func TestImages(t *testing.T) {
	t.Parallel()
	objs, err := kube.Decode([]byte(workloads))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ai/smollm2", "busybox:1.37", "ghcr.io/agops/agops:v0.1.0", "ghcr.io/example/api:1", "ghcr.io/ggml-org/llama.cpp:server-b6770", "nicolaka/netshoot:v0.13",
		"nvcr.io/nvidia/k8s-device-plugin:v0.17.0", "ollama/ollama:0.6.2", "postgres:17.2", "redis:7",
	}
	if got := Images(objs); !slices.Equal(got, want) {
		t.Errorf("Images = %v\nwant     %v", got, want)
	}
	if got := Images(nil); len(got) != 0 {
		t.Errorf("Images(nil) = %v", got)
	}
	if got := Images([]*unstructured.Unstructured{{Object: map[string]any{"kind": "Deployment", "spec": "broken"}}}); len(got) != 0 {
		t.Errorf("Images of a malformed Deployment = %v", got)
	}
}

// exampleOptions migrates the shipped example with default options.
func exampleOptions(t *testing.T) *migrate.Options {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return &migrate.Options{
		Compose: compose.Options{Files: []string{filepath.Join(root, "examples", "ai-lab", "compose.yaml")}},
		Plan:    plan.DefaultOptions(),
	}
}

// The example's list has its services, the agops helper image and Temporal; an output folder of the same
// migration lists the same images.
func TestListExample(t *testing.T) {
	t.Parallel()
	o := exampleOptions(t)
	got, err := List(context.Background(), Source{Compose: o, Extra: []string{"nvcr.io/nvidia/k8s-device-plugin:v0.17.0"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		plan.DefaultOptions().HelperImage, plan.TemporalImage, "postgres:17.2", "redis:7.4-alpine", "qdrant/qdrant:v1.13.4",
		"ollama/ollama:0.6.2", "ghcr.io/example/ai-lab-api:1.4.2", "ghcr.io/example/mcp-tools:0.9.0",
		"nvcr.io/nvidia/k8s-device-plugin:v0.17.0",
	} {
		if !slices.Contains(got, w) {
			t.Errorf("the example's images lack %s: %v", w, got)
		}
	}
	if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Errorf("List is not sorted and deduplicated: %v", got)
	}
	out := filepath.Join(t.TempDir(), "out")
	fo := *o
	fo.Out, fo.Format = out, migrate.FormatFiles
	if _, err := migrate.Run(context.Background(), fo); err != nil {
		t.Fatal(err)
	}
	fromFolder, err := List(context.Background(), Source{Folder: out, Extra: []string{"nvcr.io/nvidia/k8s-device-plugin:v0.17.0"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fromFolder, got) {
		t.Errorf("from the output folder: %v\nfrom Compose:          %v", fromFolder, got)
	}
}

func TestListErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte("services: {a: {image: [}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		src  Source
	}{
		{"invalid-both", Source{Folder: dir, Compose: exampleOptions(t)}},
		{"invalid-folder", Source{Folder: filepath.Join(dir, "missing")}},
		{"invalid-compose", Source{Compose: &migrate.Options{Compose: compose.Options{Files: []string{filepath.Join(dir, "compose.yaml")}}, Plan: plan.DefaultOptions()}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got, err := List(context.Background(), tc.src); err == nil {
				t.Errorf("List = %v, want an error", got)
			}
		})
	}
}
