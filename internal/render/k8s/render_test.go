package k8s_test

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"

	"github.com/agops/agops/internal/model"
	"github.com/agops/agops/internal/render/k8s"
)

// workload is a minimal workload of a kind with base and ha replica counts.
func workload(name string, kind model.WorkloadKind, replicas, ha int32) model.Workload {
	w := model.Workload{
		Name: name, Service: name, Namespace: "shop", Kind: kind, Replicas: replicas, HAReplicas: ha, ServiceAccount: name,
		Pod: model.Pod{
			RestartPolicy: "Always",
			Containers: []model.Container{{
				Name: name, Image: "example/" + name + ":1",
				Ports:     []model.Port{{Name: "tcp-8080", Port: 8080, Protocol: model.TCP}},
				Resources: model.Resources{Requests: map[string]string{"cpu": "100m", "memory": "128Mi"}, Limits: map[string]string{"memory": "512Mi"}},
			}},
		},
		Services: []model.Service{{Name: name, Type: model.ClusterIP, Ports: []model.ServicePort{{Name: "tcp-8080", Port: 8080, TargetPort: 8080, Protocol: model.TCP}}}},
	}
	if kind == model.Job {
		w.Pod.RestartPolicy = "Never"
		zero := int32(0)
		w.BackoffLimit = &zero
		w.Services = nil
	}
	return w
}

// shop is a small project with workloads of each kind; web and cache are replicated in ha, admin is not.
func shop() *model.Project {
	grace := int64(20)
	web := workload("web", model.Deployment, 1, 2)
	web.Pod.TerminationGracePeriodSeconds = &grace
	db := workload("db", model.StatefulSet, 1, 1)
	db.Pod.Volumes = []model.Volume{{Name: "data", Claim: "data"}}
	db.Pod.Containers[0].Mounts = []model.Mount{{Volume: "data", Path: "/var/lib/db"}}
	db.Pod.Containers[0].EnvFrom = []model.EnvFrom{{Secret: "db-env"}}
	return &model.Project{
		Name: "shop", Instance: "shop", Namespaces: []model.Namespace{{Name: "shop", Tier: model.TierAILab}},
		Workloads: []model.Workload{
			workload("admin", model.Deployment, 1, 1),
			workload("cache", model.StatefulSet, 1, 3),
			db,
			workload("migrate", model.Job, 1, 1),
			web,
			workload("worker", model.DaemonSet, 1, 1),
		},
		Claims:     []model.Claim{{Name: "data", Namespace: "shop", Volume: "data", Size: "1Gi", AccessMode: "ReadWriteOnce"}},
		ConfigMaps: []model.ConfigMap{{Name: "web-env", Namespace: "shop", Data: map[string]string{"LOG_LEVEL": "debug"}}},
		Secrets: []model.Secret{
			{Name: "db-env", Namespace: "shop", Keys: []model.SecretKey{{Key: "POSTGRES_PASSWORD", Source: "environment of service db", Value: []byte("s3cret-pw"), Known: true}}},
			{Name: "external", Namespace: "shop", Keys: []model.SecretKey{{Key: "token", Source: "external secret"}}, External: true},
		},
	}
}

func render(t *testing.T, p *model.Project, o k8s.Options) []k8s.Item {
	t.Helper()
	items, err := k8s.Render(p, o)
	if err != nil {
		t.Fatalf("Render(%s): %v", o.Variant, err)
	}
	return items
}

// find returns the object of a kind and name, or nil.
func find(items []k8s.Item, kind, name string) k8s.Object {
	for _, it := range items {
		if it.Object.GetObjectKind().GroupVersionKind().Kind == kind && it.Object.GetName() == name {
			return it.Object
		}
	}
	return nil
}

func count(items []k8s.Item, kind string) int {
	n := 0
	for _, it := range items {
		if it.Object.GetObjectKind().GroupVersionKind().Kind == kind {
			n++
		}
	}
	return n
}

// podOf returns the pod spec and replicas (-1 when the kind has none) of a workload.
func podOf(t *testing.T, items []k8s.Item, kind, name string) (corev1.PodSpec, int32) {
	t.Helper()
	switch o := find(items, kind, name).(type) {
	case *appsv1.Deployment:
		return o.Spec.Template.Spec, *o.Spec.Replicas
	case *appsv1.StatefulSet:
		return o.Spec.Template.Spec, *o.Spec.Replicas
	case *appsv1.DaemonSet:
		return o.Spec.Template.Spec, -1
	case *batchv1.Job:
		return o.Spec.Template.Spec, -1
	case nil:
		t.Fatalf("no %s %s rendered", kind, name)
	default:
		t.Fatalf("%s %s has unexpected type %T", kind, name, o)
	}
	return corev1.PodSpec{}, 0
}

func failoverTolerations(spec corev1.PodSpec) int {
	n := 0
	for _, tol := range spec.Tolerations {
		if (tol.Key == "node.kubernetes.io/not-ready" || tol.Key == "node.kubernetes.io/unreachable") &&
			tol.Effect == corev1.TaintEffectNoExecute && tol.TolerationSeconds != nil && *tol.TolerationSeconds == k8s.FailoverSeconds {
			n++
		}
	}
	return n
}

func TestRenderVariants(t *testing.T) {
	t.Parallel()
	type want struct {
		replicas    int32 // -1: the kind has no replicas
		spread      bool
		failover    bool
		pdb         bool
		matchLabels bool // the spread constraint matches pod-template-hash (Deployments only)
	}
	tests := []struct {
		name    string
		variant k8s.Variant
		want    map[string]want // kind/name -> want
	}{
		{"valid-base", k8s.Base, map[string]want{
			"Deployment/admin":  {replicas: 1},
			"Deployment/web":    {replicas: 1},
			"StatefulSet/db":    {replicas: 1},
			"StatefulSet/cache": {replicas: 1},
			"DaemonSet/worker":  {replicas: -1},
			"Job/migrate":       {replicas: -1},
		}},
		{"valid-single-node", k8s.SingleNode, map[string]want{
			"Deployment/web":    {replicas: 1},
			"StatefulSet/cache": {replicas: 1},
		}},
		{"valid-ha", k8s.HA, map[string]want{
			"Deployment/web":    {replicas: 2, spread: true, failover: true, pdb: true, matchLabels: true},
			"Deployment/admin":  {replicas: 1, failover: true},
			"StatefulSet/db":    {replicas: 1, failover: true},
			"StatefulSet/cache": {replicas: 3, spread: true, failover: true, pdb: true},
			"DaemonSet/worker":  {replicas: -1},
			"Job/migrate":       {replicas: -1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			items := render(t, shop(), k8s.Options{Variant: tt.variant})
			pdbs := 0
			for id, w := range tt.want {
				kind, name, _ := strings.Cut(id, "/")
				spec, replicas := podOf(t, items, kind, name)
				if replicas != w.replicas {
					t.Errorf("%s: replicas %d, want %d", id, replicas, w.replicas)
				}
				if got := len(spec.TopologySpreadConstraints) > 0; got != w.spread {
					t.Errorf("%s: topology spread %v, want %v", id, got, w.spread)
				}
				if w.spread {
					tsc := spec.TopologySpreadConstraints[0]
					if tsc.MaxSkew != 1 || tsc.TopologyKey != "kubernetes.io/hostname" || tsc.LabelSelector == nil || tsc.LabelSelector.MatchLabels[k8s.LabelName] != name {
						t.Errorf("%s: spread constraint %+v", id, tsc)
					}
					if got := len(tsc.MatchLabelKeys) == 1 && tsc.MatchLabelKeys[0] == "pod-template-hash"; got != w.matchLabels {
						t.Errorf("%s: matchLabelKeys %v, want pod-template-hash %v", id, tsc.MatchLabelKeys, w.matchLabels)
					}
				}
				wantTol := 0
				if w.failover {
					wantTol = 2
				}
				if got := failoverTolerations(spec); got != wantTol {
					t.Errorf("%s: %d failover tolerations, want %d (all: %+v)", id, got, wantTol, spec.Tolerations)
				}
				pdb, _ := find(items, "PodDisruptionBudget", name).(*policyv1.PodDisruptionBudget)
				if (pdb != nil) != w.pdb {
					t.Errorf("%s: PodDisruptionBudget %v, want %v", id, pdb != nil, w.pdb)
				}
				if pdb != nil {
					pdbs++
					if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.Selector.MatchLabels[k8s.LabelName] != name {
						t.Errorf("%s: PodDisruptionBudget spec %+v", id, pdb.Spec)
					}
				}
			}
			if got := count(items, "PodDisruptionBudget"); got != pdbs {
				t.Errorf("%d PodDisruptionBudgets, want %d", got, pdbs)
			}
		})
	}
}

func TestRenderIsStable(t *testing.T) {
	t.Parallel()
	for _, v := range []k8s.Variant{k8s.Base, k8s.HA} {
		a, b := render(t, shop(), k8s.Options{Variant: v}), render(t, shop(), k8s.Options{Variant: v})
		if len(a) != len(b) {
			t.Fatalf("%s: %d then %d items", v, len(a), len(b))
		}
		for i := range a {
			ea, err := k8s.Encode(a[i].Object)
			if err != nil {
				t.Fatal(err)
			}
			eb, err := k8s.Encode(b[i].Object)
			if err != nil {
				t.Fatal(err)
			}
			if a[i].File != b[i].File || string(ea) != string(eb) {
				t.Errorf("%s: item %d differs between two renderings", v, i)
			}
		}
	}
}

func TestRenderFiles(t *testing.T) {
	t.Parallel()
	items := render(t, shop(), k8s.Options{Variant: k8s.Base})
	if items[0].File != "namespace.yaml" || items[0].Object.GetObjectKind().GroupVersionKind().Kind != "Namespace" {
		t.Errorf("first item is %s in %s, want the Namespace in namespace.yaml", items[0].Object.GetName(), items[0].File)
	}
	for _, it := range items {
		kind := it.Object.GetObjectKind().GroupVersionKind().Kind
		if kind == "" || it.Object.GetObjectKind().GroupVersionKind().Version == "" {
			t.Errorf("%s in %s has no apiVersion/kind", it.Object.GetName(), it.File)
		}
		if kind != "Namespace" && kind != "RuntimeClass" && it.Object.GetNamespace() != "shop" {
			t.Errorf("%s %s is in namespace %q, want shop", kind, it.Object.GetName(), it.Object.GetNamespace())
		}
	}
	for kind, file := range map[string]string{"Deployment/web": "web.yaml", "Service/web": "web.yaml", "ServiceAccount/db": "db.yaml",
		"PersistentVolumeClaim/data": "storage.yaml", "ConfigMap/web-env": "configmaps.yaml"} {
		k, name, _ := strings.Cut(kind, "/")
		found := false
		for _, it := range items {
			if it.Object.GetObjectKind().GroupVersionKind().Kind == k && it.Object.GetName() == name {
				found = true
				if it.File != file {
					t.Errorf("%s is in %s, want %s", kind, it.File, file)
				}
			}
		}
		if !found {
			t.Errorf("%s not rendered", kind)
		}
	}
}

func TestRenderSecrets(t *testing.T) {
	t.Parallel()
	unknown := shop()
	unknown.Secrets[0].Keys = append(unknown.Secrets[0].Keys, model.SecretKey{Key: "API_TOKEN", Source: "environment variable API_TOKEN"})
	tests := []struct {
		name        string
		project     *model.Project
		inline      bool
		wantSecrets int
		wantErr     string
	}{
		{"valid-no-inline-secrets", shop(), false, 0, ""},
		{"valid-inline-secrets", shop(), true, 1, ""},
		{"valid-no-inline-unknown-value", unknown, false, 0, ""},
		{"invalid-inline-unknown-value", unknown, true, 0, "API_TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, v := range []k8s.Variant{k8s.Base, k8s.HA} {
				items, err := k8s.Render(tt.project, k8s.Options{Variant: v, InlineSecrets: tt.inline})
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Errorf("%s: error %v, want one naming %s", v, err, tt.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", v, err)
				}
				if got := count(items, "Secret"); got != tt.wantSecrets {
					t.Errorf("%s: %d Secrets, want %d", v, got, tt.wantSecrets)
				}
				if find(items, "Secret", "external") != nil {
					t.Errorf("%s: the external Secret was rendered", v)
				}
				if tt.wantSecrets > 0 {
					s := find(items, "Secret", "db-env").(*corev1.Secret)
					if string(s.Data["POSTGRES_PASSWORD"]) != "s3cret-pw" || s.Type != corev1.SecretTypeOpaque {
						t.Errorf("%s: Secret db-env = %+v", v, s)
					}
				}
				if !tt.inline {
					for _, it := range items {
						b, err := k8s.Encode(it.Object)
						if err != nil {
							t.Fatal(err)
						}
						if strings.Contains(string(b), "s3cret-pw") || strings.Contains(string(b), "czNjcmV0LXB3") {
							t.Errorf("%s: %s %s contains the secret value", v, it.File, it.Object.GetName())
						}
					}
				}
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	objs, err := k8s.Secrets(shop())
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 {
		t.Fatalf("Secrets returned %d objects, want 1 (the external one is not created)", len(objs))
	}
	s, ok := objs[0].(*corev1.Secret)
	if !ok || s.Name != "db-env" || s.Namespace != "shop" || string(s.Data["POSTGRES_PASSWORD"]) != "s3cret-pw" {
		t.Errorf("Secrets()[0] = %+v", objs[0])
	}

	unknown := shop()
	unknown.Secrets[0].Keys[0].Known = false
	unknown.Secrets[0].Keys[0].Value = nil
	if _, err := k8s.Secrets(unknown); err == nil || !strings.Contains(err.Error(), "POSTGRES_PASSWORD") {
		t.Errorf("Secrets with an unknown value: error %v, want one naming POSTGRES_PASSWORD", err)
	}
}

// TestRenderErrors: problems in the model are errors, all of them at once, never silently dropped output.
func TestRenderErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(p *model.Project)
		inline bool
		want   []string // each must appear in the error
	}{
		{"invalid-claim-size", func(p *model.Project) { p.Claims[0].Size = "ten gigs" }, false, []string{"ten gigs"}},
		{"invalid-unknown-secret-value", func(p *model.Project) {
			p.Secrets[0].Keys[0].Known, p.Secrets[0].Keys[0].Value = false, nil
		}, true, []string{"POSTGRES_PASSWORD"}},
		{"invalid-two-problems-reported-together", func(p *model.Project) {
			p.Claims[0].Size = "ten gigs"
			p.Secrets[0].Keys[0].Known, p.Secrets[0].Keys[0].Value = false, nil
		}, true, []string{"ten gigs", "POSTGRES_PASSWORD"}},
		// container.go: "a bad one here is a programming error that is still reported, not panicked on".
		{"invalid-resource-quantity", func(p *model.Project) {
			p.Workloads[0].Pod.Containers[0].Resources.Limits["memory"] = "lots"
		}, false, []string{"lots"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := shop()
			tt.modify(p)
			items, err := k8s.Render(p, k8s.Options{Variant: k8s.Base, InlineSecrets: tt.inline})
			if err == nil {
				t.Fatalf("Render succeeded with %d items, want an error naming %q", len(items), tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

func TestRenderProbes(t *testing.T) {
	t.Parallel()
	p := shop()
	c := &p.Workloads[0].Pod.Containers[0]
	c.Readiness = &model.Probe{GRPC: &model.GRPC{Port: 7233, Service: "temporal.api.workflowservice.v1.WorkflowService"}, PeriodSeconds: 10}
	c.Startup = &model.Probe{GRPC: &model.GRPC{Port: 7233}, FailureThreshold: 30}
	c.Liveness = &model.Probe{HTTPGet: &model.HTTPGet{Path: "/healthz", Port: 8080}}
	d := find(render(t, p, k8s.Options{Variant: k8s.Base}), "Deployment", "admin").(*appsv1.Deployment)
	got := d.Spec.Template.Spec.Containers[0]
	if r := got.ReadinessProbe; r == nil || r.GRPC == nil || r.GRPC.Port != 7233 || r.GRPC.Service == nil ||
		*r.GRPC.Service != "temporal.api.workflowservice.v1.WorkflowService" || r.TCPSocket != nil || r.PeriodSeconds != 10 {
		t.Errorf("readiness probe %+v, want gRPC on 7233 for the WorkflowService", r)
	}
	if s := got.StartupProbe; s == nil || s.GRPC == nil || s.GRPC.Service != nil || s.FailureThreshold != 30 {
		t.Errorf("startup probe %+v, want gRPC on 7233 for the whole server", s)
	}
	if l := got.LivenessProbe; l == nil || l.HTTPGet == nil || l.GRPC != nil || l.TCPSocket != nil {
		t.Errorf("liveness probe %+v, want HTTP only", l)
	}
}
