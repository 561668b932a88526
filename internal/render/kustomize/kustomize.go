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
	baseMaps, err := writeBase(files, base)
	if err != nil {
		return nil, err
	}
	if err := putYAML(files, "overlays/single-node/kustomization.yaml", newKustomization([]string{"../../base"})); err != nil {
		return nil, err
	}
	if err := writeHA(files, base, baseMaps, ha); err != nil {
		return nil, err
	}
	return files, nil
}

func newKustomization(resources []string) Kustomization {
	return Kustomization{APIVersion: "kustomize.config.k8s.io/v1beta1", Kind: "Kustomization", Resources: resources}
}

// encoded is an object as YAML, and as a generic map when the ha overlay may need to compare it.
type encoded struct {
	doc []byte
	m   map[string]any
}

// writeBase writes base/ and returns the generic form of the objects that the ha rendering may change (nil for
// the others, to keep memory low on large projects).
func writeBase(files map[string][]byte, items []k8s.Item) ([]map[string]any, error) {
	enc, err := parallel(len(items), func(i int) (encoded, error) {
		m, err := k8s.ToMap(items[i].Object)
		if err != nil {
			return encoded{}, err
		}
		doc, err := k8s.EncodeMap(m)
		if !hasPodTemplate(items[i].Object) {
			m = nil
		}
		return encoded{doc, m}, err
	})
	if err != nil {
		return nil, err
	}
	maps := make([]map[string]any, len(items))
	docs := make([][]byte, len(items))
	for i, e := range enc {
		maps[i], docs[i] = e.m, e.doc
	}
	byFile := map[string][][]byte{}
	var order []string
	for i, it := range items {
		if _, ok := byFile[it.File]; !ok {
			order = append(order, it.File)
		}
		byFile[it.File] = append(byFile[it.File], docs[i])
	}
	sort.SliceStable(order, func(i, j int) bool {
		return fileRank(order[i]) < fileRank(order[j]) || fileRank(order[i]) == fileRank(order[j]) && order[i] < order[j]
	})
	for _, f := range order {
		files["base/"+f] = joinDocs(byFile[f])
	}
	return maps, putYAML(files, "base/kustomization.yaml", newKustomization(order))
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

func writeHA(files map[string][]byte, base []k8s.Item, baseMaps []map[string]any, ha []k8s.Item) error {
	baseByID := map[string]map[string]any{}
	for i, it := range base {
		baseByID[objectID(it.Object)] = baseMaps[i]
	}
	// Only objects with a pod template (and the ha-only objects) can differ between the renderings; skipping the
	// rest halves the work. The kustomize equivalence tests check that the overlay still equals the ha stream.
	var differs []k8s.Item
	var at []int
	for i, it := range ha {
		if _, inBase := baseByID[objectID(it.Object)]; !inBase || hasPodTemplate(it.Object) {
			differs = append(differs, it)
			at = append(at, i)
		}
	}
	someMaps, err := toMaps(differs)
	if err != nil {
		return err
	}
	haMaps := make([]map[string]any, len(ha))
	for j, i := range at {
		haMaps[i] = someMaps[j]
	}
	k := newKustomization([]string{"../../base"})
	var extra [][]byte
	for i, it := range ha {
		if haMaps[i] == nil {
			continue
		}
		b, ok := baseByID[objectID(it.Object)]
		if !ok {
			doc, err := k8s.EncodeMap(haMaps[i])
			if err != nil {
				return err
			}
			extra = append(extra, doc)
			continue
		}
		var ops []Op
		diff("", b, haMaps[i], &ops)
		if len(ops) == 0 {
			continue
		}
		gvk := it.Object.GetObjectKind().GroupVersionKind()
		doc, err := encodeOps(ops)
		if err != nil {
			return err
		}
		k.Patches = append(k.Patches, Patch{Patch: string(doc), Target: Target{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Name: it.Object.GetName()}})
	}
	if len(extra) > 0 {
		files["overlays/ha/disruption-budgets.yaml"] = joinDocs(extra)
		k.Resources = append(k.Resources, "disruption-budgets.yaml")
	}
	return putYAML(files, "overlays/ha/kustomization.yaml", k)
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

func toMaps(items []k8s.Item) ([]map[string]any, error) {
	return parallel(len(items), func(i int) (map[string]any, error) { return k8s.ToMap(items[i].Object) })
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

func putYAML(files map[string][]byte, name string, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", name, err)
	}
	files[name] = b
	return nil
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
