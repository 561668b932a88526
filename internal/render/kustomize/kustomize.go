// Package kustomize lays rendered objects out as a kustomize tree: base/ with one file per workload, and
// overlays/single-node and overlays/ha whose kustomization.yaml files `kubectl kustomize` renders. The ha overlay
// is expressed as JSON patches computed from the difference between the base and the ha rendering, so that the
// overlay and `--format yaml --overlay ha` cannot drift apart.
package kustomize

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"sigs.k8s.io/yaml"

	"github.com/agops/agops/internal/render/k8s"
)

// Kustomization is the subset of kustomize's kustomization.yaml that agops writes.
type Kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources,omitempty"`
	Patches    []Patch  `json:"patches,omitempty"`
}

// Patch is one JSON patch, inline, and the object it applies to.
type Patch struct {
	Target Target `json:"target"`
	Patch  string `json:"patch"`
}

// Target selects one object.
type Target struct {
	Group   string `json:"group,omitempty"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
	Name    string `json:"name"`
}

// Op is one JSON patch (RFC 6902) operation.
type Op struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// MarshalJSON leaves the value out of remove operations only, so false, 0 and empty values survive.
func (o Op) MarshalJSON() ([]byte, error) {
	if o.Op == "remove" {
		return json.Marshal(struct {
			Op   string `json:"op"`
			Path string `json:"path"`
		}{o.Op, o.Path})
	}
	type plain Op
	return json.Marshal(plain(o))
}

// Tree builds the files of base/ and the overlays, keyed by slash-separated path.
func Tree(base, ha []k8s.Item) (map[string][]byte, error) {
	files := map[string][]byte{}
	var mu sync.Mutex
	err := Write(base, ha, func(name string, data []byte) error {
		mu.Lock()
		defer mu.Unlock()
		files[name] = data
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}

// Sink receives the files of a tree as they are ready, each once; it is called from several goroutines at once.
type Sink func(name string, data []byte) error

// Write renders the files of base/ and the overlays into put, one file at a time and on every core, so that a large
// project's tree is never held whole: each workload's objects are encoded, and compared with their ha rendering,
// one by one.
func Write(base, ha []k8s.Item, put Sink) error {
	order, byFile := baseFiles(base)
	lastInBase := map[string]int{} // object ID → index in base (the last, should two share an ID)
	for i, it := range base {
		lastInBase[objectID(it.Object)] = i
	}
	// Only objects with a pod template (and the ha-only objects) can differ between the renderings; skipping the
	// rest halves the work. The kustomize equivalence tests check that the overlay still equals the ha stream.
	haOf := map[int][]int{} // index in base → indexes in ha of the same object, when the ha rendering may change it
	var extra []int         // indexes in ha of the objects only the ha rendering has
	for j, it := range ha {
		i, inBase := lastInBase[objectID(it.Object)]
		switch {
		case !inBase:
			extra = append(extra, j)
		case hasPodTemplate(it.Object):
			haOf[i] = append(haOf[i], j)
		}
	}
	patches := make([][]byte, len(ha)) // by index in ha; each written by the one worker encoding its base object
	_, err := parallel(len(order), func(f int) (struct{}, error) {
		idx := byFile[order[f]]
		docs := make([][]byte, len(idx))
		for n, i := range idx {
			m, err := k8s.ToMap(base[i].Object)
			if err != nil {
				return struct{}{}, err
			}
			if docs[n], err = k8s.EncodeMap(m); err != nil {
				return struct{}{}, err
			}
			for _, j := range haOf[i] {
				hm, err := k8s.ToMap(ha[j].Object)
				if err != nil {
					return struct{}{}, err
				}
				var ops []Op
				diff("", m, hm, &ops)
				if len(ops) > 0 { // encoded now, so that the ha rendering's map is not kept
					if patches[j], err = encodeOps(ops); err != nil {
						return struct{}{}, err
					}
				}
			}
		}
		return struct{}{}, put("base/"+order[f], joinDocs(docs))
	})
	if err != nil {
		return err
	}
	if err := putYAML(put, "base/kustomization.yaml", newKustomization(order)); err != nil {
		return err
	}
	if err := putYAML(put, "overlays/single-node/kustomization.yaml", newKustomization([]string{"../../base"})); err != nil {
		return err
	}
	return writeHA(put, ha, patches, extra)
}

// baseFiles groups the objects of base by file (indexes in base), and orders the files.
func baseFiles(items []k8s.Item) ([]string, map[string][]int) {
	byFile := map[string][]int{}
	var order []string
	for i, it := range items {
		if _, ok := byFile[it.File]; !ok {
			order = append(order, it.File)
		}
		byFile[it.File] = append(byFile[it.File], i)
	}
	sort.SliceStable(order, func(i, j int) bool {
		return fileRank(order[i]) < fileRank(order[j]) || fileRank(order[i]) == fileRank(order[j]) && order[i] < order[j]
	})
	return order, byFile
}

func newKustomization(resources []string) Kustomization {
	return Kustomization{APIVersion: "kustomize.config.k8s.io/v1beta1", Kind: "Kustomization", Resources: resources}
}

// fileRank puts the namespaces first, then what guards them (RBAC, quotas, network policies), then shared objects,
// then workloads.
func fileRank(f string) int {
	switch f {
	case "namespace.yaml":
		return 0
	case "runtimeclasses.yaml", "rbac.yaml", "quotas.yaml", "networkpolicies.yaml", "admission.yaml":
		return 1
	case "storage.yaml", "configmaps.yaml", "secrets.yaml", "links.yaml":
		return 2
	}
	return 3
}

// JoinDocs joins YAML documents into one multi-document stream.
func joinDocs(docs [][]byte) []byte {
	var buf bytes.Buffer
	for i, d := range docs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(d)
	}
	return buf.Bytes()
}

// Stream renders items as one multi-document YAML stream, in the order given.
func Stream(items []k8s.Item) ([]byte, error) {
	var docs [][]byte
	for _, it := range items {
		b, err := k8s.Encode(it.Object)
		if err != nil {
			return nil, err
		}
		docs = append(docs, b)
	}
	return joinDocs(docs), nil
}

// writeHA writes the ha overlay: a JSON patch for each object whose ha rendering differs (patches, by index in ha),
// and the objects only the ha rendering has (extra, indexes in ha).
func writeHA(put Sink, ha []k8s.Item, patches [][]byte, extra []int) error {
	k := newKustomization([]string{"../../base"})
	for j, it := range ha {
		doc := patches[j]
		if doc == nil {
			continue
		}
		gvk := it.Object.GetObjectKind().GroupVersionKind()
		k.Patches = append(k.Patches, Patch{Patch: string(doc), Target: Target{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Name: it.Object.GetName()}})
	}
	if len(extra) > 0 {
		docs, err := parallel(len(extra), func(n int) ([]byte, error) { return k8s.Encode(ha[extra[n]].Object) })
		if err != nil {
			return err
		}
		if err := put("overlays/ha/disruption-budgets.yaml", joinDocs(docs)); err != nil {
			return err
		}
		k.Resources = append(k.Resources, "disruption-budgets.yaml")
	}
	return putYAML(put, "overlays/ha/kustomization.yaml", k)
}

// encodeOps writes a JSON patch as YAML, leaving the value out of remove operations only.
func encodeOps(ops []Op) ([]byte, error) {
	list := make([]map[string]any, len(ops))
	for i, o := range ops {
		list[i] = map[string]any{"op": o.Op, "path": o.Path}
		if o.Op != "remove" {
			list[i]["value"] = o.Value
		}
	}
	return k8s.EncodeYAML(list)
}

func hasPodTemplate(o k8s.Object) bool {
	switch o.GetObjectKind().GroupVersionKind().Kind {
	case "Deployment", "StatefulSet", "DaemonSet", "Job":
		return true
	}
	return false
}

// parallel computes f(0..n-1) on every core, keeping results in order.
func parallel[T any](n int, f func(int) (T, error)) ([]T, error) {
	out := make([]T, n)
	errs := make([]error, n)
	workers := min(runtime.GOMAXPROCS(0), max(n, 1))
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				out[i], errs[i] = f(i)
			}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func objectID(o k8s.Object) string {
	gvk := o.GetObjectKind().GroupVersionKind()
	return gvk.Group + "/" + gvk.Kind + "/" + o.GetNamespace() + "/" + o.GetName()
}

func putYAML(put Sink, name string, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", name, err)
	}
	return put(name, b)
}

// diff appends the operations turning a into b, recursing into maps and replacing lists whole.
func diff(at string, a, b map[string]any, ops *[]Op) {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		p := at + "/" + escape(k)
		av, inA := a[k]
		bv, inB := b[k]
		switch {
		case !inB:
			*ops = append(*ops, Op{Op: "remove", Path: p})
		case !inA:
			*ops = append(*ops, Op{Op: "add", Path: p, Value: bv})
		default:
			am, aIsMap := av.(map[string]any)
			bm, bIsMap := bv.(map[string]any)
			if aIsMap && bIsMap {
				diff(p, am, bm, ops)
			} else if !equalJSON(av, bv) {
				*ops = append(*ops, Op{Op: "replace", Path: p, Value: bv})
			}
		}
	}
}

func escape(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// Base is the folder of the base inside the output tree.
const Base = "base"

// OverlayDir returns the folder of an overlay.
func OverlayDir(name string) string { return path.Join("overlays", name) }
