package standin

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/agops/agops/internal/kube"
)

func applyShop(t *testing.T, o Options) (in, out []*unstructured.Unstructured, notes []Note) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "shop.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	in, err = kube.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if o.HelperImage == "" {
		o.HelperImage = helperImage
	}
	out, notes, err = Apply(in, o)
	if err != nil {
		t.Fatal(err)
	}
	return in, out, notes
}

// typed decodes the object of that kind and name.
func typed[T any](t *testing.T, objs []*unstructured.Unstructured, kind, name string) *T {
	t.Helper()
	for _, u := range objs {
		if u.GetKind() == kind && u.GetName() == name {
			v := new(T)
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, v); err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("no %s %s", kind, name)
	return nil
}

func container(t *testing.T, cs []corev1.Container, name string) corev1.Container {
	t.Helper()
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %s", name)
	return corev1.Container{}
}

// flagValue is the value of --name in a stand-in's arguments (before "--"), "true" for a flag without one.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		switch {
		case a == "--":
			return "", false
		case a == "--"+name && name == "once":
			return "true", true
		case a == "--"+name && i+1 < len(args):
			return args[i+1], true
		}
	}
	return "", false
}

func TestApplyProbeTargets(t *testing.T) {
	t.Parallel()
	_, out, _ := applyShop(t, Options{})
	web := typed[appsv1.Deployment](t, out, "Deployment", "web")
	probe, _ := flagValue(container(t, web.Spec.Template.Spec.Containers, "web").Args, "probe")
	want := []string{
		"default/dns=dns.default.svc.cluster.local.:5353/UDP@53",
		"shop/db=db.shop.svc.cluster.local.:5432/TCP", // headless: dialed on the container port
		"shop/web=a-web-alias.shop.svc.cluster.local.:80/TCP",
		"shop/web=web.shop.svc.cluster.local.:9113/TCP",
	}
	if got := strings.Split(probe, ","); !slices.Equal(got, want) {
		t.Errorf("--probe:\n got %q\nwant %q", got, want)
	}
}

func TestApplyContainer(t *testing.T) {
	t.Parallel()
	in, out, _ := applyShop(t, Options{})
	c := container(t, typed[appsv1.Deployment](t, out, "Deployment", "web").Spec.Template.Spec.Containers, "web")
	orig := container(t, typed[appsv1.Deployment](t, in, "Deployment", "web").Spec.Template.Spec.Containers, "web")
	if c.Image != helperImage || c.ImagePullPolicy != corev1.PullIfNotPresent || !slices.Equal(c.Command, []string{"/agops"}) {
		t.Errorf("image %s %s, command %q", c.Image, c.ImagePullPolicy, c.Command)
	}
	wantArgs := []string{"stand-in", "--workload", "shop/web", "--container", "web", "--listen", "80/TCP,9090/TCP,9113/TCP"}
	if !slices.Equal(c.Args[:len(wantArgs)], wantArgs) {
		t.Errorf("args %q, want them to start %q", c.Args, wantArgs)
	}
	if i := slices.Index(c.Args, "--"); i < 0 || !slices.Equal(c.Args[i+1:], []string{"nginx", "-g", "daemon off;"}) || slices.Contains(c.Args, "--once") {
		t.Errorf("args %q: want the original command after --, and no --once", c.Args)
	}
	if every, _ := flagValue(c.Args, "every"); every != "2s" {
		t.Errorf("--every %q, want 2s", every)
	}
	if c.Env[0] != orig.Env[0] || len(c.Env) != 2 || c.Env[1].Name != "POD_NAMESPACE" || c.Env[1].ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
		t.Errorf("env %+v: want POD_NAME kept as it was and POD_NAMESPACE from the downward API", c.Env)
	}
	if !reflect.DeepEqual(c.EnvFrom, orig.EnvFrom) || !reflect.DeepEqual(c.VolumeMounts, orig.VolumeMounts) || !reflect.DeepEqual(c.SecurityContext, orig.SecurityContext) {
		t.Error("envFrom, volume mounts or security context changed")
	}
	exporter := container(t, typed[appsv1.Deployment](t, out, "Deployment", "web").Spec.Template.Spec.Containers, "exporter")
	if slices.Contains(exporter.Args, "--listen") || slices.Contains(exporter.Args, "--probe") {
		t.Errorf("exporter args %q: want no --listen (web listens on 9113 in the same pod) and no --probe (web dials)", exporter.Args)
	}
	if p := exporter.ReadinessProbe; p.Exec == nil || !slices.Equal(p.Exec.Command, []string{"/agops", "stand-in", "check", "--container", "exporter"}) {
		t.Errorf("exporter readiness probe %+v: want agops stand-in check (its port is web's, it listens on none)", p)
	}
	if c.WorkingDir != "" {
		t.Errorf("workingDir %q kept", c.WorkingDir)
	}
	if c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Port.StrVal != "http" {
		t.Errorf("readiness probe %+v: want the httpGet probe kept", c.ReadinessProbe)
	}
	if p := c.LivenessProbe; p.Exec != nil || p.TCPSocket == nil || p.TCPSocket.Port.IntVal != 80 || p.PeriodSeconds != 7 {
		t.Errorf("liveness probe %+v: want the exec probe as tcpSocket on the first port, 80, timing kept", p)
	}
	if p := c.StartupProbe; p.GRPC != nil || p.TCPSocket == nil || p.TCPSocket.Port.IntVal != 9090 {
		t.Errorf("startup probe %+v: want tcpSocket on 9090", p)
	}
	if l := c.Lifecycle; l == nil || l.PostStart != nil || l.PreStop == nil || l.PreStop.Sleep == nil {
		t.Errorf("lifecycle %+v: want postStart dropped, the preStop sleep kept", l)
	}
	r := c.Resources
	if r.Requests.Cpu().String() != "5m" || r.Requests.Memory().String() != "16Mi" || r.Limits.Memory().String() != "256Mi" {
		t.Errorf("resources %v: want cpu request 5m (below the cap), memory request 16Mi, memory limit 256Mi", r)
	}
	if _, ok := r.Limits[corev1.ResourceCPU]; ok {
		t.Errorf("resources %v: CPU limit kept", r)
	}
	if g := r.Limits["nvidia.com/gpu"]; g.String() != "1" || r.Requests["nvidia.com/gpu"] != g {
		t.Errorf("resources %v: GPU not kept", r)
	}
}

func TestApplyInitContainersAndJobs(t *testing.T) {
	t.Parallel()
	in, out, _ := applyShop(t, Options{DialEvery: 5 * 1e9})
	spec := typed[appsv1.Deployment](t, out, "Deployment", "web").Spec.Template.Spec
	origSpec := typed[appsv1.Deployment](t, in, "Deployment", "web").Spec.Template.Spec
	if !equalContainers(spec.InitContainers[0], origSpec.InitContainers[0]) {
		t.Error("the helper image's wait init container changed")
	}
	migrate := container(t, spec.InitContainers, "migrate-schema")
	if once, _ := flagValue(migrate.Args, "once"); once != "true" {
		t.Errorf("user-image init container args %q: want --once", migrate.Args)
	}
	if _, ok := flagValue(migrate.Args, "probe"); ok {
		t.Errorf("init container args %q: want no peers to dial (it runs before they are up)", migrate.Args)
	}
	if strings.Join(migrate.Args, " ") != "stand-in --workload shop/web --container migrate-schema --every 5s --once -- ./migrate --db postgres://app:hunter2@db:5432/app" {
		t.Errorf("init container args %q", migrate.Args)
	}
	shipper := container(t, spec.InitContainers, "log-shipper")
	if _, once := flagValue(shipper.Args, "once"); once || !slices.Contains(shipper.Args, "24224/TCP") {
		t.Errorf("sidecar args %q: want it long-running, listening on 24224", shipper.Args)
	}
	seed := typed[batchv1.Job](t, out, "Job", "seed").Spec.Template.Spec.Containers[0]
	if once, _ := flagValue(seed.Args, "once"); once != "true" {
		t.Errorf("Job args %q: want --once", seed.Args)
	}
	if _, ok := flagValue(seed.Args, "probe"); !ok {
		t.Errorf("Job args %q: want the peers dialed", seed.Args)
	}
	report := typed[batchv1.CronJob](t, out, "CronJob", "report").Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	if once, _ := flagValue(report.Args, "once"); once != "true" || report.Image != helperImage {
		t.Errorf("CronJob container %s %q: want a --once stand-in", report.Image, report.Args)
	}
}

func TestApplyPodLevel(t *testing.T) {
	t.Parallel()
	_, out, notes := applyShop(t, Options{})
	web := typed[appsv1.Deployment](t, out, "Deployment", "web").Spec.Template.Spec
	if sc := web.SecurityContext; sc == nil || len(sc.Sysctls) != 1 || sc.Sysctls[0] != (corev1.Sysctl{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}) {
		t.Errorf("web pod security context %+v: want the unprivileged port sysctl (it listens on 80)", sc)
	}
	if db := typed[appsv1.StatefulSet](t, out, "StatefulSet", "db").Spec.Template.Spec; db.SecurityContext != nil {
		t.Errorf("db pod security context %+v: no port below 1024, want none", db.SecurityContext)
	}
	if dns := typed[appsv1.DaemonSet](t, out, "DaemonSet", "dns").Spec.Template.Spec; dns.SecurityContext != nil {
		t.Errorf("dns pod security context %+v: a sysctl cannot be set on the host's network", dns.SecurityContext)
	}
	if !slices.ContainsFunc(notes, func(n Note) bool { return n.Workload == "default/dns" && strings.Contains(n.What, "host's network") }) {
		t.Error("no note that dns may not listen on 53 on the host's network")
	}
	// An agent worker needs a real Temporal, which is a stand-in too: it is stood in for, like the user's agents.
	worker := typed[appsv1.Deployment](t, out, "Deployment", "worker").Spec.Template.Spec.Containers
	if len(worker) != 1 || len(worker[0].Args) == 0 || worker[0].Args[0] != "stand-in" || worker[0].Args[len(worker[0].Args)-1] != "worker" {
		t.Fatalf("worker containers %+v: want agops worker stood in for", worker)
	}
	gateway := typed[appsv1.Deployment](t, out, "Deployment", "gateway").Spec.Template.Spec.Containers
	if len(gateway) != 2 || gateway[0].Image != helperImage || !slices.Equal(gateway[0].Args, []string{"gateway"}) {
		t.Fatalf("gateway containers %+v: want agops gateway kept and a dialer added", gateway)
	}
	d := gateway[1]
	if _, ok := flagValue(d.Args, "probe"); !ok || d.Name != "agops-standin" || slices.Contains(d.Args, "--listen") {
		t.Errorf("dialer %s %q: want it to dial the peers and listen on nothing", d.Name, d.Args)
	}
	if sc := d.SecurityContext; sc == nil || !*sc.RunAsNonRoot || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation {
		t.Errorf("dialer security context %+v: want the restricted profile", sc)
	}
}

func TestApplyLeavesOthersAlone(t *testing.T) {
	t.Parallel()
	in, out, _ := applyShop(t, Options{Exclude: []string{"shop/db"}})
	for i := range in {
		changed := out[i] != in[i]
		wantChanged := slices.Contains([]string{"Deployment", "DaemonSet", "Job", "CronJob"}, in[i].GetKind())
		if changed != wantChanged {
			t.Errorf("%s %s: changed %v, want %v", in[i].GetKind(), in[i].GetName(), changed, wantChanged)
		}
	}
	// The excluded database is still dialed.
	web := typed[appsv1.Deployment](t, out, "Deployment", "web")
	if probe, _ := flagValue(container(t, web.Spec.Template.Spec.Containers, "web").Args, "probe"); !strings.Contains(probe, "shop/db=") {
		t.Errorf("--probe %q: want the excluded db dialed", probe)
	}
	if in[0].Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["image"] != "example/web:1" {
		t.Error("Apply modified its input")
	}
}

func TestApplyNotes(t *testing.T) {
	t.Parallel()
	_, _, notes := applyShop(t, Options{})
	var got []string
	for _, n := range notes {
		if n.Workload == "shop/web" || n.Workload == "shop/db" {
			got = append(got, n.Workload+" "+n.Container+" "+n.Field)
		}
	}
	want := []string{
		"shop/web migrate-schema image", "shop/web migrate-schema resources",
		"shop/web log-shipper image", "shop/web log-shipper resources",
		"shop/web web ports", "shop/web web image", "shop/web web workingDir", "shop/web web livenessProbe",
		"shop/web web startupProbe", "shop/web web lifecycle", "shop/web web resources",
		"shop/web exporter ports", "shop/web exporter image", "shop/web exporter readinessProbe", "shop/web exporter resources", "shop/web  securityContext",
		"shop/db postgres image", "shop/db postgres lifecycle", "shop/db postgres resources",
	}
	if !slices.Equal(got, want) {
		t.Errorf("notes:\n got %q\nwant %q", got, want)
	}
}

func TestApplyAmbiguousNames(t *testing.T) {
	t.Parallel()
	objs, err := kube.Decode([]byte(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: ns}
spec: {selector: {matchLabels: {a: d}}, template: {metadata: {labels: {a: d}}, spec: {containers: [{name: c, image: x, ports: [{containerPort: 1}]}]}}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: app, namespace: ns}
spec: {template: {metadata: {labels: {a: j}}, spec: {containers: [{name: c, image: x}]}}}
---
apiVersion: v1
kind: Service
metadata: {name: app, namespace: ns}
spec: {selector: {a: d}, ports: [{port: 1}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := Apply(objs, Options{HelperImage: helperImage, Exclude: []string{"ns/Job/app"}})
	if err != nil {
		t.Fatal(err)
	}
	args := typed[appsv1.Deployment](t, out, "Deployment", "app").Spec.Template.Spec.Containers[0].Args
	if w, _ := flagValue(args, "workload"); w != "ns/Deployment/app" || !slices.Contains(args, "ns/Deployment/app=app.ns.svc.cluster.local.:1/TCP") {
		t.Errorf("args %q: want the matrix's names for two kinds named alike", args)
	}
	if out[1] != objs[1] {
		t.Error("the excluded Job changed")
	}
}

func TestApplyErrors(t *testing.T) {
	t.Parallel()
	deployment := func(extra string) string {
		return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: ns}\n" + extra
	}
	tests := []struct {
		name, yaml string
		o          Options
		want       string
	}{
		{"invalid-no-helper-image", deployment("spec: {}"), Options{}, "no helper image"},
		{"invalid-request-above-limit", deployment("spec: {}"), Options{HelperImage: "h", RequestMemory: resource.MustParse("1Gi")}, "above the memory limit"},
		{"invalid-negative-interval", deployment("spec: {}"), Options{HelperImage: "h", DialEvery: -1}, "negative dial interval"},
		{"invalid-old-api-version", "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: c}\nspec: {}", Options{HelperImage: "h"}, "CronJob default/c: apiVersion batch/v1beta1"},
		{"invalid-containers-not-a-list", deployment("spec: {template: {spec: {containers: oops}}}"), Options{HelperImage: "h"}, "Deployment ns/d"},
		{"invalid-service", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: 3}", Options{HelperImage: "h"}, "Service default/s"},
		{"invalid-unknown-exclusion", deployment("spec: {}"), Options{HelperImage: "h", Exclude: []string{"ns/nope"}}, `excluded workload "ns/nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			objs, err := kube.Decode([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := Apply(objs, tt.o); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Apply error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
