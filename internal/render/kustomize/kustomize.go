// Package kustomize lays rendered objects out as a kustomize tree: base/ with one file per workload, and
// overlays/single-node and overlays/ha whose kustomization.yaml files `kubectl kustomize` renders. The ha overlay
// is expressed as JSON patches computed from the difference between the base and the ha rendering, so that the
// overlay and `--format yaml --overlay ha` cannot drift apart.
package kustomize

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	err := Write(RenderingOf(base), RenderingOf(ha), func(name string, data []byte) error {
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

// Rendering is one variant's objects handed over one file at a time, so that a large project's objects need never
// exist all at once.
type Rendering struct {
	// Files are the files of the base the objects go in, each once; for the ha rendering, only those whose objects
	// may differ from the base's, in the order of the ha rendering.
	Files []string
	// Render returns the objects of Files[i], in order.
	Render func(i int) ([]k8s.Item, error)
}

// RenderingOf hands a whole rendering over file by file.
func RenderingOf(items []k8s.Item) Rendering {
	var r Rendering
	at := map[string]int{}
	var byFile [][]k8s.Item
	for _, it := range items {
		i, ok := at[it.File]
		if !ok {
			i = len(r.Files)
			at[it.File] = i
			r.Files = append(r.Files, it.File)
			byFile = append(byFile, nil)
		}
		byFile[i] = append(byFile[i], it)
	}
	r.Render = func(i int) ([]k8s.Item, error) { return byFile[i], nil }
	return r
}

// Write renders the files of base/ and the overlays into put, one file at a time and on every core, so that a large
// project's tree is never held whole: each file's objects are rendered, encoded and compared with their ha
// rendering, and dropped. An ha object is compared with the base object of the same file that has its kind,
// namespace and name; one without such an object goes into the ha overlay whole.
func Write(base, ha Rendering, put Sink) error {
	order := make([]int, len(base.Files)) // indexes in base.Files, namespaces first, then what guards them...
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool {
		a, b := base.Files[order[i]], base.Files[order[j]]
		return fileRank(a) < fileRank(b) || fileRank(a) == fileRank(b) && a < b
	})
	haAt := map[string]int{} // file → index in ha.Files
	for k, f := range ha.Files {
		haAt[f] = k
	}
	changes := make([]haChanges, len(ha.Files)) // by index in ha.Files; each written by the one worker of that file
	inBase := make([]bool, len(ha.Files))
	_, err := parallel(len(order), func(n int) (struct{}, error) {
		file := base.Files[order[n]]
		maps, err := writeBaseFile(base, order[n], put)
		if err != nil {
			return struct{}{}, err
		}
		if k, ok := haAt[file]; ok {
			inBase[k] = true
			changes[k], err = compareHA(ha, k, maps)
		}
		return struct{}{}, err
	})
	if err != nil {
		return err
	}
	for k := range ha.Files { // files that only the ha rendering has
		if !inBase[k] {
			if changes[k], err = compareHA(ha, k, nil); err != nil {
				return err
			}
		}
	}
	files := make([]string, len(order))
	for n, i := range order {
		files[n] = base.Files[i]
	}
	if err := putYAML(put, "base/kustomization.yaml", newKustomization(files)); err != nil {
		return err
	}
	if err := putYAML(put, "overlays/single-node/kustomization.yaml", newKustomization([]string{"../../base"})); err != nil {
		return err
	}
	return writeHA(put, changes)
}

// writeBaseFile renders, encodes and puts base.Files[i]. It returns the file's objects by ID, in their generic form
// for those with a pod template (which the ha rendering may change) and nil for the others.
func writeBaseFile(base Rendering, i int, put Sink) (map[string]map[string]any, error) {
	items, err := base.Render(i)
	if err != nil {
		return nil, err
	}
	docs := make([][]byte, len(items))
	maps := map[string]map[string]any{}
	for n, it := range items {
		m, err := k8s.ToMap(it.Object)
		if err != nil {
			return nil, err
		}
		if docs[n], err = k8s.EncodeMap(m); err != nil {
			return nil, err
		}
		if !hasPodTemplate(it.Object) {
			m = nil
		}
		maps[objectID(it.Object)] = m
	}
	return maps, put("base/"+base.Files[i], joinDocs(docs))
}

// haChanges are what the ha rendering of one file changes: patches of base objects, and objects of its own.
type haChanges struct {
	patches []Patch
	extra   [][]byte
}

// compareHA renders the ha objects of ha.Files[k] and compares them with the base file's (base, by ID). Only objects
// with a pod template (and the ha-only objects) can differ between the renderings; skipping the rest halves the
// work. The kustomize equivalence tests check that the overlay still equals the ha stream.
func compareHA(ha Rendering, k int, base map[string]map[string]any) (haChanges, error) {
	var c haChanges
	items, err := ha.Render(k)
	if err != nil {
		return c, err
	}
	for _, it := range items {
		m, inBase := base[objectID(it.Object)]
		switch {
		case !inBase:
			doc, err := k8s.Encode(it.Object)
			if err != nil {
				return c, err
			}
			c.extra = append(c.extra, doc)
		case m != nil:
			p, err := patchOf(m, it.Object)
			if err != nil {
				return c, err
			}
			if p.Patch != "" {
				c.patches = append(c.patches, p)
			}
		}
	}
	return c, nil
}

// patchOf returns the JSON patch turning the generic form of an object's base rendering into its ha rendering obj,
// encoded at once so that neither form is kept; an empty Patch when they are the same.
func patchOf(base map[string]any, obj k8s.Object) (Patch, error) {
	m, err := k8s.ToMap(obj)
	if err != nil {
		return Patch{}, err
	}
	var ops []Op
	diff("", base, m, &ops)
	if len(ops) == 0 {
		return Patch{}, nil
	}
	doc, err := encodeOps(ops)
	if err != nil {
		return Patch{}, err
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	return Patch{Patch: string(doc), Target: Target{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Name: obj.GetName()}}, nil
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

// writeHA writes the ha overlay: a JSON patch for each object whose ha rendering differs, and the objects only the ha
// rendering has, in the order of the ha rendering.
// StreamOf writes n groups of objects (render(i), rendered as they are encoded, on every core) to w as one
// multi-document YAML stream, in order, as Stream would write them all. Nothing is written unless every group
// renders and encodes.
func StreamOf(w io.Writer, n int, render func(i int) ([]k8s.Item, error)) error {
	groups, err := parallel(n, func(i int) ([]byte, error) {
		items, err := render(i)
		if err != nil {
			return nil, err
		}
		docs := make([][]byte, len(items))
		for j, it := range items {
			if docs[j], err = k8s.Encode(it.Object); err != nil {
				return nil, err
			}
		}
		return joinDocs(docs), nil
	})
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	first := true
	for _, g := range groups {
		if len(g) == 0 {
			continue
		}
		if !first {
			bw.WriteString("---\n")
		}
		first = false
		bw.Write(g)
	}
	return bw.Flush()
}

func writeHA(put Sink, changes []haChanges) error {
	k := newKustomization([]string{"../../base"})
	var extra [][]byte
	for _, c := range changes {
		k.Patches = append(k.Patches, c.patches...)
		extra = append(extra, c.extra...)
	}
	if len(extra) > 0 {
		if err := put("overlays/ha/disruption-budgets.yaml", joinDocs(extra)); err != nil {
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
