package kustomize

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	"sigs.k8s.io/yaml"

	"github.com/agops/agops/internal/model"
	"github.com/agops/agops/internal/render/k8s"
)

// project is a small model: a stateless Deployment (2 replicas in ha) that waits, a StatefulSet, a DaemonSet and a
// Job.
func project() *model.Project {
	w := func(name string, kind model.WorkloadKind, ha int32) model.Workload {
		return model.Workload{
			Name: name, Service: name, Namespace: "shop", Kind: kind, Replicas: 1, HAReplicas: ha, ServiceAccount: name,
			Pod: model.Pod{RestartPolicy: "Always", Containers: []model.Container{{Name: name, Image: "example/" + name}}},
			Services: []model.Service{{Name: name, Type: model.ClusterIP,
				Ports: []model.ServicePort{{Name: "tcp-80", Port: 80, TargetPort: 80, Protocol: model.TCP}}}},
		}
	}
	job := w("migrate", model.Job, 1)
	job.Pod.RestartPolicy, job.Services = "Never", nil
	db := w("db", model.StatefulSet, 1)
	db.Pod.Volumes = []model.Volume{{Name: "data", Claim: "data"}}
	web := w("web", model.Deployment, 2)
	web.APIAccess, web.WaitsIn = true, []string{"shop"} // waits for db: a Role in rbac.yaml and a RoleBinding in web.yaml
	return &model.Project{
		Name: "shop", Instance: "shop", Namespaces: []model.Namespace{{Name: "shop", Tier: model.TierAILab}},
		Workloads:  []model.Workload{db, job, web, w("worker", model.DaemonSet, 1)},
		Claims:     []model.Claim{{Name: "data", Namespace: "shop", Volume: "data", Size: "1Gi", AccessMode: "ReadWriteOnce"}},
		ConfigMaps: []model.ConfigMap{{Name: "web-env", Namespace: "shop", Data: map[string]string{"A": "1"}}},
	}
}

func renderBoth(t *testing.T) (base, ha []k8s.Item) {
	t.Helper()
	base, err := k8s.Render(project(), k8s.Options{Variant: k8s.Base})
	if err != nil {
		t.Fatal(err)
	}
	ha, err = k8s.Render(project(), k8s.Options{Variant: k8s.HA})
	if err != nil {
		t.Fatal(err)
	}
	return base, ha
}

func TestTreeLayout(t *testing.T) {
	t.Parallel()
	base, ha := renderBoth(t)
	files, err := Tree(base, ha)
	if err != nil {
		t.Fatal(err)
	}

	var bk Kustomization
	unmarshal(t, files, "base/kustomization.yaml", &bk)
	wantBase := []string{"namespace.yaml", "rbac.yaml", "configmaps.yaml", "storage.yaml", "db.yaml", "migrate.yaml", "web.yaml", "worker.yaml"}
	if !slices.Equal(bk.Resources, wantBase) {
		t.Errorf("base resources = %q, want %q", bk.Resources, wantBase)
	}
	if bk.APIVersion != "kustomize.config.k8s.io/v1beta1" || bk.Kind != "Kustomization" || len(bk.Patches) != 0 {
		t.Errorf("base kustomization = %+v", bk)
	}
	for name := range files {
		if f, ok := strings.CutPrefix(name, "base/"); ok && f != "kustomization.yaml" && !slices.Contains(bk.Resources, f) {
			t.Errorf("%s is not listed in base/kustomization.yaml", name)
		}
	}
	for _, f := range bk.Resources {
		if _, ok := files["base/"+f]; !ok {
			t.Errorf("base/kustomization.yaml lists %s, which is not in the tree", f)
		}
	}

	var sk Kustomization
	unmarshal(t, files, "overlays/single-node/kustomization.yaml", &sk)
	if !slices.Equal(sk.Resources, []string{"../../base"}) || len(sk.Patches) != 0 {
		t.Errorf("single-node kustomization = %+v, want the base alone", sk)
	}

	var hk Kustomization
	unmarshal(t, files, "overlays/ha/kustomization.yaml", &hk)
	if !slices.Equal(hk.Resources, []string{"../../base", "disruption-budgets.yaml"}) {
		t.Errorf("ha resources = %q, want the base and disruption-budgets.yaml", hk.Resources)
	}
	var targets []string
	for _, p := range hk.Patches {
		targets = append(targets, p.Target.Kind+"/"+p.Target.Name)
		if strings.TrimSpace(p.Patch) == "" {
			t.Errorf("patch for %s is empty", p.Target.Name)
		}
		if p.Target.Group != "apps" || p.Target.Version != "v1" {
			t.Errorf("patch for %s targets group %q version %q, want apps v1", p.Target.Name, p.Target.Group, p.Target.Version)
		}
	}
	// web gets replicas, spreading and tolerations; db gets tolerations; nothing else differs.
	if want := []string{"StatefulSet/db", "Deployment/web"}; !slices.Equal(targets, want) {
		t.Errorf("ha patches target %q, want %q", targets, want)
	}
	for name := range files {
		if strings.HasPrefix(name, "overlays/ha/patches/") {
			t.Errorf("%s: patches are inline in the kustomization", name)
		}
	}
	pdbs := splitDocs(files["overlays/ha/disruption-budgets.yaml"])
	if len(pdbs) != 1 || !bytes.Contains(pdbs[0], []byte("kind: PodDisruptionBudget")) || !bytes.Contains(pdbs[0], []byte("name: web")) {
		t.Errorf("disruption-budgets.yaml = %s, want the PodDisruptionBudget of web", files["overlays/ha/disruption-budgets.yaml"])
	}
	if bytes.Contains(files["base/web.yaml"], []byte("PodDisruptionBudget")) {
		t.Errorf("base/web.yaml holds a PodDisruptionBudget")
	}
}

// TestTreePatchesGiveHA applies each ha patch to its base object and compares the result with the ha rendering.
func TestTreePatchesGiveHA(t *testing.T) {
	t.Parallel()
	base, ha := renderBoth(t)
	files, err := Tree(base, ha)
	if err != nil {
		t.Fatal(err)
	}
	var hk Kustomization
	unmarshal(t, files, "overlays/ha/kustomization.yaml", &hk)
	patched := map[string]bool{}
	for _, p := range hk.Patches {
		id := p.Target.Kind + "/" + p.Target.Name
		patched[id] = true
		b, h := findItem(t, base, id), findItem(t, ha, id)
		ops, err := yaml.YAMLToJSON([]byte(p.Patch))
		if err != nil {
			t.Fatal(err)
		}
		patch, err := jsonpatch.DecodePatch(ops)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		out, err := patch.Apply(toJSON(t, b))
		if err != nil {
			t.Fatalf("applying the patch to base %s: %v", id, err)
		}
		if !jsonEqual(t, out, json.RawMessage(toJSON(t, h))) {
			t.Errorf("base %s patched differs from ha:\n%s\nwant\n%s", id, out, toJSON(t, h))
		}
	}
	for _, it := range ha {
		id := it.Object.GetObjectKind().GroupVersionKind().Kind + "/" + it.Object.GetName()
		if patched[id] || id == "PodDisruptionBudget/web" {
			continue
		}
		if !jsonEqual(t, toJSON(t, findItem(t, base, id)), json.RawMessage(toJSON(t, it.Object))) {
			t.Errorf("%s differs between base and ha but has no patch", id)
		}
	}
}

func TestTreeIsStable(t *testing.T) {
	t.Parallel()
	base, ha := renderBoth(t)
	a, err := Tree(base, ha)
	if err != nil {
		t.Fatal(err)
	}
	base, ha = renderBoth(t)
	b, err := Tree(base, ha)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("two trees of the same project differ")
	}
}

func TestStream(t *testing.T) {
	t.Parallel()
	base, _ := renderBoth(t)
	tests := []struct {
		name  string
		items []k8s.Item
	}{
		{"valid-empty", nil},
		{"valid-one", base[:1]},
		{"valid-all", base},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Stream(tt.items)
			if err != nil {
				t.Fatal(err)
			}
			docs := splitDocs(got)
			if len(tt.items) == 0 {
				if len(got) != 0 {
					t.Errorf("Stream(nil) = %q, want nothing", got)
				}
				return
			}
			if len(docs) != len(tt.items) {
				t.Fatalf("Stream wrote %d documents, want %d", len(docs), len(tt.items))
			}
			for i, it := range tt.items {
				want, err := k8s.Encode(it.Object)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(docs[i], want) {
					t.Errorf("document %d = %s, want %s", i, docs[i], want)
				}
			}
		})
	}
}

func unmarshal(t *testing.T, files map[string][]byte, name string, v any) {
	t.Helper()
	b, ok := files[name]
	if !ok {
		t.Fatalf("%s is not in the tree", name)
	}
	if err := yaml.UnmarshalStrict(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// splitDocs splits a multi-document stream written by joinDocs.
func splitDocs(b []byte) [][]byte {
	if len(b) == 0 {
		return nil
	}
	parts := bytes.Split(b, []byte("---\n"))
	return parts
}

func findItem(t *testing.T, items []k8s.Item, id string) k8s.Object {
	t.Helper()
	for _, it := range items {
		if it.Object.GetObjectKind().GroupVersionKind().Kind+"/"+it.Object.GetName() == id {
			return it.Object
		}
	}
	t.Fatalf("%s not rendered", id)
	return nil
}

func toJSON(t *testing.T, o k8s.Object) []byte {
	t.Helper()
	m, err := k8s.ToMap(o)
	if err != nil {
		t.Fatal(err)
	}
	return mustJSON(t, m)
}

// TestWriteSinkError: a file that cannot be written stops the tree with that error.
func TestWriteSinkError(t *testing.T) {
	t.Parallel()
	base, ha := renderBoth(t)
	full := errors.New("disk full")
	var mu sync.Mutex
	calls := 0
	err := Write(RenderingOf(base), RenderingOf(ha), func(name string, data []byte) error {
		mu.Lock()
		defer mu.Unlock()
		if calls++; calls == 3 {
			return full
		}
		return nil
	})
	if !errors.Is(err, full) {
		t.Fatalf("Write: %v, want the sink's error", err)
	}
}

// TestStreamOf: groups encoded on every core make the same stream as Stream over all their objects, empty groups
// included; a group that fails writes nothing.
func TestStreamOf(t *testing.T) {
	t.Parallel()
	_, ha := renderBoth(t)
	want, err := Stream(ha)
	if err != nil {
		t.Fatal(err)
	}
	groups := [][]k8s.Item{nil, ha[:1], nil, ha[1:3], ha[3:], nil}
	var got bytes.Buffer
	if err := StreamOf(&got, len(groups), func(i int) ([]k8s.Item, error) { return groups[i], nil }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("StreamOf:\n%s\nStream:\n%s", got.Bytes(), want)
	}
	got.Reset()
	bad := errors.New("no such quantity")
	err = StreamOf(&got, len(groups), func(i int) ([]k8s.Item, error) {
		if i == 4 {
			return nil, bad
		}
		return groups[i], nil
	})
	if !errors.Is(err, bad) || got.Len() != 0 {
		t.Errorf("StreamOf with a failing group: %v, wrote %d bytes", err, got.Len())
	}
}
