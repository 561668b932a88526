package plan_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/agops/agops/internal/compose"
	"github.com/agops/agops/internal/model"
	"github.com/agops/agops/internal/plan"
)

// project is a Compose file as Go values: written as JSON (which is YAML), so the test knows every key it sets.
type project map[string]any

// write lays out the compose file and extra files in a fresh folder and returns the compose file's path.
func write(t *testing.T, p project, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func load(t *testing.T, file string) *compose.Project {
	t.Helper()
	p, err := compose.Load(context.Background(), compose.Options{Files: []string{file}})
	if err != nil {
		t.Fatalf("compose.Load: %v", err)
	}
	return p
}

// planOf loads and plans a project, failing the test on any error.
func planOf(t *testing.T, p project, files map[string]string, o plan.Options) *model.Project {
	t.Helper()
	m, err := plan.Plan(load(t, write(t, p, files)), o)
	if err != nil {
		t.Fatalf("plan.Plan: %v", err)
	}
	return m
}

func workload(t *testing.T, m *model.Project, service string) model.Workload {
	t.Helper()
	for _, w := range m.Workloads {
		if w.Service == service {
			return w
		}
	}
	t.Fatalf("no workload for service %q", service)
	return model.Workload{}
}

func decisionsFor(m *model.Project, service, key string) []model.Decision {
	var out []model.Decision
	for _, d := range m.Decisions {
		if d.Service == service && d.Key == key {
			out = append(out, d)
		}
	}
	return out
}

func TestPlanNPUResource(t *testing.T) {
	t.Parallel()
	p := project{"services": map[string]any{
		"infer": map[string]any{"image": "example/infer", "devices": []string{"/dev/accel/accel0:/dev/accel/accel0"}},
	}}
	tests := []struct {
		name         string
		npu          string
		wantResource string
		wantOutcome  model.Outcome
	}{
		{"valid-npu-resource", "intel.com/npu", "intel.com/npu", model.Mapped},
		{"valid-no-npu-resource", "", "agops.dev/npu", model.NeedsInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := plan.DefaultOptions()
			o.NPUResource = tt.npu
			m := planOf(t, p, nil, o)
			res := workload(t, m, "infer").Pod.Containers[0].Resources
			if res.Limits[tt.wantResource] != "1" || res.Requests[tt.wantResource] != "1" {
				t.Errorf("resources = %+v, want 1 %s requested and limited", res, tt.wantResource)
			}
			ds := decisionsFor(m, "infer", "devices[0]")
			if len(ds) != 1 || ds[0].Outcome != tt.wantOutcome {
				t.Fatalf("devices[0] decisions = %+v, want one %s", ds, tt.wantOutcome)
			}
			if tt.npu != "" && !strings.Contains(ds[0].Reason, tt.npu) {
				t.Errorf("reason %q does not name %s", ds[0].Reason, tt.npu)
			}
		})
	}
}

// TestPlanGpusAttribute: the service-level gpus: is a GPU request like a reservation, whatever capabilities it lists:
// a count is kept, `all` becomes 1 GPU (approximated, with the hint to raise it) unless x-agops.accelerator gives the
// count.
func TestPlanGpusAttribute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		svc         map[string]any
		wantCount   string
		wantOutcome model.Outcome
	}{
		{"all", map[string]any{"gpus": "all"}, "1", model.Approximated},
		{"count", map[string]any{"gpus": []any{map[string]any{"driver": "nvidia", "count": 2}}}, "2", model.Mapped},
		{"no driver", map[string]any{"gpus": []any{map[string]any{"count": 3}}}, "3", model.Mapped},
		{"all with hint", map[string]any{"gpus": "all", "x-agops": map[string]any{"accelerator": map[string]any{"resource": "nvidia.com/gpu", "count": 4}}}, "4", model.Mapped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			svc := map[string]any{"image": "vllm/vllm-openai:v0.8.0"}
			for k, v := range tt.svc {
				svc[k] = v
			}
			m := planOf(t, project{"services": map[string]any{"vllm": svc}}, nil, plan.DefaultOptions())
			w := workload(t, m, "vllm")
			res := w.Pod.Containers[0].Resources
			if res.Limits["nvidia.com/gpu"] != tt.wantCount || res.Requests["nvidia.com/gpu"] != tt.wantCount {
				t.Errorf("resources = %+v, want %s nvidia.com/gpu requested and limited", res, tt.wantCount)
			}
			if w.Pod.RuntimeClass != "nvidia" {
				t.Errorf("RuntimeClass = %q, want nvidia", w.Pod.RuntimeClass)
			}
			ds := decisionsFor(m, "vllm", "gpus[0]")
			if len(ds) != 1 || ds[0].Outcome != tt.wantOutcome {
				t.Fatalf("gpus[0] decisions = %+v, want one %s", ds, tt.wantOutcome)
			}
			if tt.wantOutcome == model.Approximated && !strings.Contains(ds[0].Hint, "count: N") {
				t.Errorf("hint %q does not say how to raise the count", ds[0].Hint)
			}
			for _, d := range m.Decisions {
				if d.Service == "vllm" && d.Outcome == model.NeedsInput {
					t.Errorf("needs input left: %+v", d)
				}
			}
		})
	}
}

// TestPlanRenamedPeers: a service whose name is not a DNS label is renamed, and peers' references in environment
// values (plain and secret) and commands follow.
func TestPlanRenamedPeers(t *testing.T) {
	t.Parallel()
	p := project{"services": map[string]any{
		"my_db": map[string]any{"image": "postgres:16", "environment": map[string]string{"POSTGRES_PASSWORD": "example_pw"}},
		"app": map[string]any{
			"image": "example/app",
			"environment": map[string]string{
				"DB_HOST":      "my_db",
				"DATABASE_URL": "postgres://app:example_pw@my_db:5432/app",
				"CACHE_URL":    "redis://my_db_cache:6379",
			},
			"command": []string{"wait-for", "my_db:5432"},
		},
	}}
	m := planOf(t, p, nil, plan.DefaultOptions())
	if w := workload(t, m, "my_db"); w.Name != "my-db" {
		t.Fatalf("workload of my_db is named %q, want my-db", w.Name)
	}
	var cm *model.ConfigMap
	for i := range m.ConfigMaps {
		if m.ConfigMaps[i].Name == "app-env" {
			cm = &m.ConfigMaps[i]
		}
	}
	if cm == nil {
		t.Fatalf("no ConfigMap app-env in %+v", m.ConfigMaps)
	}
	if got := cm.Data["DB_HOST"]; got != "my-db" {
		t.Errorf("DB_HOST = %q, want my-db", got)
	}
	if got := cm.Data["CACHE_URL"]; got != "redis://my_db_cache:6379" {
		t.Errorf("CACHE_URL = %q, want it unchanged (my_db_cache is no service)", got)
	}
	var secretURL string
	for _, s := range m.Secrets {
		for _, k := range s.Keys {
			if k.Key == "DATABASE_URL" {
				secretURL = string(k.Value)
			}
		}
	}
	if want := "postgres://app:example_pw@my-db:5432/app"; secretURL != want {
		t.Errorf("secret DATABASE_URL = %q, want %q", secretURL, want)
	}
	if got := workload(t, m, "app").Pod.Containers[0].Args; !slices.Equal(got, []string{"wait-for", "my-db:5432"}) {
		t.Errorf("args = %q, want [wait-for my-db:5432]", got)
	}
	if ds := decisionsFor(m, "app", "environment.DB_HOST"); len(ds) == 0 || ds[0].Outcome != model.Approximated {
		t.Errorf("environment.DB_HOST decisions = %+v, want an approximated rewrite", ds)
	}
	for _, d := range m.Decisions {
		if strings.Contains(d.Reason, "example_pw") || strings.Contains(d.Hint, "example_pw") {
			t.Errorf("decision %s/%s leaks a secret value: %q %q", d.Service, d.Key, d.Reason, d.Hint)
		}
	}
}

// TestPlanRenamedPeersNotInPaths: where a renamed service's name is part of a file path in a command, it stays: only
// host references change.
func TestPlanRenamedPeersNotInPaths(t *testing.T) {
	t.Parallel()
	script := "pg_dump -h my_db -f /backups/my_db/latest.sql && cp my_db/schema.sql ./my_db && curl http://my_db/ready && psql postgres://u@my_db/app && ls /srv/my_db"
	want := "pg_dump -h my-db -f /backups/my_db/latest.sql && cp my_db/schema.sql ./my_db && curl http://my-db/ready && psql postgres://u@my-db/app && ls /srv/my_db"
	p := project{"services": map[string]any{
		"my_db":  map[string]any{"image": "postgres:16"},
		"backup": map[string]any{"image": "postgres:16", "command": []string{"sh", "-c", script}},
	}}
	m := planOf(t, p, nil, plan.DefaultOptions())
	c := workload(t, m, "backup").Pod.Containers[0]
	got := append(slices.Clone(c.Command), c.Args...)
	if len(got) == 0 || got[len(got)-1] != want {
		t.Errorf("command = %q,\nwant its script %q", got, want)
	}
}

// TestPlanErrorsTogether: problems that stop the conversion are all returned at once.
func TestPlanErrorsTogether(t *testing.T) {
	t.Parallel()
	p := project{"services": map[string]any{
		"orphan":  map[string]any{"image": "example/orphan", "depends_on": []string{"ghost"}},
		"a":       map[string]any{"image": "example/a", "depends_on": []string{"b"}},
		"b":       map[string]any{"image": "example/b", "depends_on": []string{"c"}},
		"c":       map[string]any{"image": "example/c", "depends_on": []string{"a"}},
		"nothing": map[string]any{"command": []string{"true"}},
	}}
	m, err := plan.Plan(load(t, write(t, p, nil)), plan.DefaultOptions())
	if err == nil {
		t.Fatalf("plan.Plan succeeded with %d workloads, want errors", len(m.Workloads))
	}
	if m != nil {
		t.Errorf("plan.Plan returned a model along with the error")
	}
	msg := err.Error()
	for _, want := range []string{
		`service "orphan": depends_on: unknown service "ghost"`,
		"dependency cycle: a -> b -> c -> a",
		`service "nothing": has neither image nor build`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not contain %q:\n%s", want, msg)
		}
	}
	if lines := strings.Split(msg, "\n"); len(lines) != 3 {
		t.Errorf("error has %d lines, want one per problem (3):\n%s", len(lines), msg)
	}
}

// TestPlanValid checks a few outcomes of small valid projects through the exported model.
func TestPlanValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		svc   map[string]any
		check func(t *testing.T, w model.Workload)
	}{
		{"valid-stateless-deployment", map[string]any{"image": "example/web", "ports": []string{"8080:80"}},
			func(t *testing.T, w model.Workload) {
				if w.Kind != model.Deployment || w.Replicas != 1 || w.HAReplicas != 2 {
					t.Errorf("kind %s replicas %d/%d, want Deployment 1/2", w.Kind, w.Replicas, w.HAReplicas)
				}
				if w.External == nil || w.External.Type != model.LoadBalancer {
					t.Errorf("external service = %+v, want a LoadBalancer", w.External)
				}
			}},
		{"valid-volume-makes-statefulset", map[string]any{"image": "example/store", "volumes": []string{"data:/data"}},
			func(t *testing.T, w model.Workload) {
				if w.Kind != model.StatefulSet || w.HAReplicas != 1 {
					t.Errorf("kind %s ha replicas %d, want StatefulSet 1", w.Kind, w.HAReplicas)
				}
			}},
		{"valid-restart-no-makes-job", map[string]any{"image": "example/task", "restart": "no"},
			func(t *testing.T, w model.Workload) {
				if w.Kind != model.Job || w.BackoffLimit == nil || *w.BackoffLimit != 0 || w.Pod.RestartPolicy != "Never" {
					t.Errorf("kind %s backoff %v restartPolicy %s, want Job 0 Never", w.Kind, w.BackoffLimit, w.Pod.RestartPolicy)
				}
			}},
		{"valid-global-makes-daemonset", map[string]any{"image": "example/agent", "deploy": map[string]any{"mode": "global"}},
			func(t *testing.T, w model.Workload) {
				if w.Kind != model.DaemonSet {
					t.Errorf("kind %s, want DaemonSet", w.Kind)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := project{"services": map[string]any{"svc": tt.svc}, "volumes": map[string]any{"data": map[string]any{}}}
			tt.check(t, workload(t, planOf(t, p, nil, plan.DefaultOptions()), "svc"))
		})
	}
}

// TestPlanCredentialInHealthcheck: a password repeated in a healthcheck is read from the Secret's variable instead,
// and the probe still runs the same command.
func TestPlanCredentialInHealthcheck(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh on PATH")
	}
	tests := []struct {
		name string
		test any
	}{
		{"valid-cmd", []string{"CMD", "printf", "[%s]", "-phunter22"}},
		{"valid-cmd-shell", []string{"CMD-SHELL", "printf '[%s]' -phunter22"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := project{"services": map[string]any{"db": map[string]any{
				"image":       "mysql:8",
				"environment": map[string]string{"MYSQL_ROOT_PASSWORD": "hunter22"},
				"healthcheck": map[string]any{"test": tt.test},
			}}}
			m := planOf(t, p, nil, plan.DefaultOptions())
			c := workload(t, m, "db").Pod.Containers[0]
			if c.Readiness == nil || c.Liveness == nil {
				t.Fatalf("probes = %+v / %+v, want both", c.Readiness, c.Liveness)
			}
			probe := c.Readiness.Exec
			if strings.Contains(strings.Join(probe, " "), "hunter22") {
				t.Errorf("probe %q still holds the password", probe)
			}
			if len(probe) < 3 || probe[1] != "-c" {
				t.Fatalf("probe %q is not a sh -c command", probe)
			}
			cmd := exec.Command(probe[0], probe[1:]...)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "MYSQL_ROOT_PASSWORD=hunter22"}
			out, err := cmd.Output()
			if err != nil || string(out) != "[-phunter22]" {
				t.Errorf("probe %q printed %q (%v), want [-phunter22]", probe, out, err)
			}
			if ds := decisionsFor(m, "db", "healthcheck/command"); len(ds) != 1 || ds[0].Outcome != model.Approximated {
				t.Errorf("healthcheck/command decisions = %+v, want one approximated", ds)
			}
			for _, d := range m.Decisions {
				if strings.Contains(d.Reason+d.Hint, "hunter22") {
					t.Errorf("decision %s/%s holds the password", d.Service, d.Key)
				}
			}
		})
	}
}

// TestPlanPreStart: a pre_start hook becomes an init container after the waits, with the service's image and
// environment (from the same ConfigMap and Secret), the hook's command, user and variables, and the service's volume
// where the hook mounts it.
func TestPlanPreStart(t *testing.T) {
	t.Parallel()
	p := project{
		"services": map[string]any{
			"db": map[string]any{"image": "postgres:17", "environment": map[string]string{"POSTGRES_PASSWORD": "pre_start_pw"}},
			"app": map[string]any{
				"image":       "ghcr.io/example/app:1.0",
				"user":        "1000:1000",
				"environment": map[string]string{"MODE": "serve", "DB_PASSWORD": "pre_start_pw"},
				"volumes":     []string{"data:/var/lib/app"},
				"depends_on":  map[string]any{"db": map[string]any{"condition": "service_healthy"}},
				"pre_start": []any{map[string]any{
					"command":     []string{"chown", "-R", "1000:1000", "/data"},
					"user":        "0",
					"environment": map[string]string{"MODE": "migrate"},
					"volumes":     []string{"data:/data"},
				}},
			},
		},
		"volumes": map[string]any{"data": map[string]any{}},
	}
	m := planOf(t, p, nil, plan.DefaultOptions())
	w := workload(t, m, "app")
	if len(w.Pod.InitContainers) == 0 {
		t.Fatal("no init containers")
	}
	ic := w.Pod.InitContainers[len(w.Pod.InitContainers)-1]
	if !strings.HasPrefix(ic.Name, "pre-start-0") || ic.Image != "ghcr.io/example/app:1.0" {
		t.Fatalf("last init container = %s %s, want the pre_start hook with the service's image after the waits", ic.Name, ic.Image)
	}
	if len(w.Pod.InitContainers) < 2 {
		t.Errorf("init containers %d, want the wait for db before the hook", len(w.Pod.InitContainers))
	}
	if !slices.Equal(ic.Args, []string{"chown", "-R", "1000:1000", "/data"}) {
		t.Errorf("args = %q", ic.Args)
	}
	if ic.Security.RunAsUser == nil || *ic.Security.RunAsUser != 0 {
		t.Errorf("runAsUser = %v, want 0 from the hook", ic.Security.RunAsUser)
	}
	c := w.Pod.Containers[0]
	if !slices.Equal(ic.EnvFrom, c.EnvFrom) || len(ic.EnvFrom) == 0 {
		t.Errorf("envFrom = %+v, want the service's %+v", ic.EnvFrom, c.EnvFrom)
	}
	if !slices.ContainsFunc(ic.Env, func(e model.EnvVar) bool { return e.Name == "MODE" && e.Value == "migrate" }) {
		t.Errorf("env = %+v, want MODE=migrate from the hook", ic.Env)
	}
	if len(ic.Mounts) != 1 || ic.Mounts[0].Path != "/data" || ic.Mounts[0].Volume != c.Mounts[0].Volume {
		t.Errorf("mounts = %+v, want the service's volume %+v at /data", ic.Mounts, c.Mounts)
	}
	ds := decisionsFor(m, "app", "pre_start[0]")
	if len(ds) != 1 || ds[0].Outcome == model.NeedsInput || ds[0].Outcome == model.Dropped {
		t.Errorf("pre_start[0] decisions = %+v, want one mapped or approximated", ds)
	}
}

// TestPlanPeersOnOverlappingNetworks checks how a networks decision names peers reached through two networks: each
// peer once, sorted, six named and the rest counted.
func TestPlanPeersOnOverlappingNetworks(t *testing.T) {
	t.Parallel()
	services := map[string]any{}
	for i := 1; i <= 12; i++ {
		var nets []string
		if i <= 5 {
			nets = append(nets, "front")
		}
		if i >= 4 {
			nets = append(nets, "back")
		}
		services["s"+strconv.Itoa(i)] = map[string]any{"image": "example/app:1", "networks": nets}
	}
	m := planOf(t, project{"services": services, "networks": map[string]any{"front": map[string]any{}, "back": map[string]any{}}}, nil, plan.DefaultOptions())
	for svc, want := range map[string]string{
		"s4":  "may open s1, s10, s11, s12, s2, s3 and 5 more (on their declared ports)",
		"s1":  "may open s2, s3, s4, s5 (on their declared ports)",
		"s12": "may open s10, s11, s4, s5, s6, s7 and 2 more (on their declared ports)",
	} {
		ds := decisionsFor(m, svc, "networks")
		if len(ds) != 1 || !strings.Contains(ds[0].Reason, want) {
			t.Errorf("%s: got %+v, want a decision saying %q", svc, ds, want)
		}
	}
}
