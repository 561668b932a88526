// Package kube talks to a cluster: it loads rendered manifests (a kustomize tree or a YAML stream), applies them
// with server-side apply in dependency order, prunes what an earlier apply created and no longer renders, and
// waits for workloads to become ready.
package kube

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Load reads the objects to apply from path: an agops output folder (the given overlay is built), a folder with a
// kustomization.yaml, or a YAML file with one or more documents.
func Load(path, overlay string) ([]*unstructured.Unstructured, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading manifests: %w", err)
	}
	if !st.IsDir() {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return Decode(data)
	}
	dir := path
	if overlay != "" {
		if od := filepath.Join(path, "overlays", overlay); isKustomization(od) {
			dir = od
		} else if !isKustomization(path) {
			return nil, fmt.Errorf("%s has neither overlays/%s nor a kustomization.yaml", path, overlay)
		}
	}
	if !isKustomization(dir) {
		return nil, fmt.Errorf("%s has no kustomization.yaml", dir)
	}
	return build(dir)
}

func isKustomization(dir string) bool {
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return true
		}
	}
	return false
}

// build renders a kustomization with kustomize's own library, as `kubectl kustomize` does.
func build(dir string) ([]*unstructured.Unstructured, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("building %s: %w", dir, err)
	}
	data, err := rm.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("building %s: %w", dir, err)
	}
	return Decode(data)
}

// Decode splits a YAML stream into objects; empty documents are skipped, a document without kind is an error.
func Decode(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for i := 1; ; i++ {
		var raw runtime.RawExtension
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(bytes.TrimSpace(raw.Raw)) == 0 || string(bytes.TrimSpace(raw.Raw)) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw.Raw); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if u.GetKind() == "" || u.GetAPIVersion() == "" {
			return nil, fmt.Errorf("document %d: no apiVersion or kind", i)
		}
		out = append(out, u)
	}
	return out, nil
}

// kindOrder ranks kinds so that what others depend on is applied first.
var kindOrder = map[string]int{
	"Namespace": 0, "CustomResourceDefinition": 1, "StorageClass": 2, "RuntimeClass": 2, "PriorityClass": 2,
	"ClusterRole": 3, "ClusterRoleBinding": 4, "ServiceAccount": 5, "Role": 6, "RoleBinding": 7,
	"ResourceQuota": 8, "LimitRange": 8, "NetworkPolicy": 8, "ConfigMap": 9, "Secret": 9,
	"PersistentVolumeClaim": 10, "Service": 11,
	"Deployment": 12, "StatefulSet": 12, "DaemonSet": 12, "Job": 13, "CronJob": 13, "PodDisruptionBudget": 14,
}

// Sort orders objects for applying: by kind rank, then namespace, kind and name; unknown kinds go last.
func Sort(objs []*unstructured.Unstructured) {
	rank := func(u *unstructured.Unstructured) int {
		if r, ok := kindOrder[u.GetKind()]; ok {
			return r
		}
		return 100
	}
	sort.SliceStable(objs, func(i, j int) bool {
		a, b := objs[i], objs[j]
		if rank(a) != rank(b) {
			return rank(a) < rank(b)
		}
		if a.GetNamespace() != b.GetNamespace() {
			return a.GetNamespace() < b.GetNamespace()
		}
		if a.GetKind() != b.GetKind() {
			return a.GetKind() < b.GetKind()
		}
		return a.GetName() < b.GetName()
	})
}
