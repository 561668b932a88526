package plan_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/agops/agops/internal/model"
	"github.com/agops/agops/internal/plan"
)

// dbPassword is the database password of the agent projects below; no manifest may carry it.
const dbPassword = "s3cret-db-password"

// agentProject is an agent stack: a worker (hints given), PostgreSQL, Temporal and a tool server, each optional.
func agentProject(hints map[string]any, withDB, withTemporal bool) project {
	svcs := map[string]any{
		"agent": map[string]any{"image": "ghcr.io/example/agent:1", "command": []string{"python", "-m", "agent"},
			"deploy": map[string]any{"replicas": 2}, "networks": []string{"lab"}, "x-agops": hints},
		"tools": map[string]any{"image": "ghcr.io/example/mcp-tools:1", "expose": []string{"8811"}, "networks": []string{"lab"}},
	}
	if withDB {
		svcs["db"] = map[string]any{"image": "postgres:17", "networks": []string{"data"},
			"environment": map[string]string{"POSTGRES_USER": "agents", "POSTGRES_PASSWORD": dbPassword}}
	}
	if withTemporal {
		svcs["temporal"] = map[string]any{"image": "temporalio/auto-setup:1.30.1", "networks": []string{"lab", "data"},
			"healthcheck": map[string]any{"test": []string{"CMD-SHELL", "tctl cluster health"}}}
		svcs["admin"] = map[string]any{"image": "temporalio/admin-tools:1.30.1", "networks": []string{"lab"}}
	}
	return project{"name": "lab", "services": svcs, "networks": map[string]any{"lab": map[string]any{}, "data": map[string]any{"internal": true}}}
}

func env(c model.Container, name string) (model.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return model.EnvVar{}, false
}

func wantEnv(t *testing.T, c model.Container, name, value string) {
	t.Helper()
	if e, ok := env(c, name); !ok || e.Value != value || e.SecretRef != nil {
		t.Errorf("%s = %+v (set %v), want %q", name, e, ok, value)
	}
}

func wantDecision(t *testing.T, m *model.Project, service, key string, o model.Outcome, reason ...string) {
	t.Helper()
	for _, d := range decisionsFor(m, service, key) {
		if d.Outcome != o {
			continue
		}
		missing := false
		for _, r := range reason {
			missing = missing || !strings.Contains(d.Reason+" "+d.Hint, r)
		}
		if !missing {
			return
		}
	}
	t.Errorf("no %s decision %s/%s naming %q; have %+v", o, service, key, reason, decisionsFor(m, service, key))
}

// noSecretValue fails when a value of the model outside Secrets holds the password.
func noSecretValue(t *testing.T, m *model.Project) {
	t.Helper()
	for _, w := range m.Workloads {
		for _, c := range append(append([]model.Container{}, w.Pod.InitContainers...), w.Pod.Containers...) {
			for _, e := range c.Env {
				if strings.Contains(e.Value, dbPassword) {
					t.Errorf("%s: env %s holds the password", w.Name, e.Name)
				}
			}
			if strings.Contains(strings.Join(append(c.Command, c.Args...), " "), dbPassword) {
				t.Errorf("%s: the command holds the password", w.Name)
			}
		}
	}
	for _, cm := range m.ConfigMaps {
		for k, v := range cm.Data {
			if strings.Contains(v, dbPassword) {
				t.Errorf("ConfigMap %s/%s key %s holds the password", cm.Namespace, cm.Name, k)
			}
		}
	}
}

func TestPlanAgentWorker(t *testing.T) {
	t.Parallel()
	o := plan.DefaultOptions()
	m := planOf(t, agentProject(map[string]any{"role": "agent-worker", "taskQueue": "research"}, true, true), nil, o)
	w := workload(t, m, "agent")
	c := w.Pod.Containers[0]
	if c.Image != o.HelperImage || !slices.Equal(c.Args, []string{"worker", "--task-queue", "research"}) || c.Command != nil {
		t.Errorf("container runs %s %v %v, want the agops image with worker --task-queue research", c.Image, c.Command, c.Args)
	}
	if w.Kind != model.Deployment || w.Replicas != 2 || w.HAReplicas != 3 {
		t.Errorf("%s with %d replicas, %d in ha; want a Deployment of 2, 3 in ha", w.Kind, w.Replicas, w.HAReplicas)
	}
	if c.Readiness != nil || c.Liveness != nil || c.Startup != nil {
		t.Error("agops worker has probes; it serves no health endpoint")
	}
	if s := c.Security; s.RunAsNonRoot == nil || !*s.RunAsNonRoot || !s.ReadOnlyRootFilesystem || !slices.Equal(s.CapDrop, []string{"ALL"}) {
		t.Errorf("security = %+v, want the agops image's non-root, read-only, no capabilities", s)
	}
	wantEnv(t, c, "TEMPORAL_ADDRESS", "temporal:7233")
	wantEnv(t, c, "TEMPORAL_NAMESPACE", "default")
	wantEnv(t, c, "AGOPS_TRANSCRIPTS", "postgres")
	wantEnv(t, c, "PGHOST", "db.lab-data.svc.cluster.local")
	wantEnv(t, c, "PGPORT", "5432")
	wantEnv(t, c, "PGUSER", "agents")
	wantEnv(t, c, "PGDATABASE", "agents")
	wantEnv(t, c, "AGOPS_GATEWAY_URL", "http://agops-gateway:8080")
	wantEnv(t, c, "AGOPS_GATEWAY_TOKEN_FILE", plan.GatewayTokenDir+"/token")
	if e, _ := env(c, "PGPASSWORD"); e.SecretRef == nil || *e.SecretRef != (model.KeyRef{Name: "db-env", Key: "POSTGRES_PASSWORD"}) || e.Value != "" {
		t.Errorf("PGPASSWORD = %+v, want a reference to the database's Secret db-env key POSTGRES_PASSWORD", e)
	}
	if !slices.ContainsFunc(w.Pod.InitContainers, func(c model.Container) bool { return slices.Equal(c.Args[:3], []string{"wait", "service", "temporal"}) }) {
		t.Errorf("init containers %+v: the worker does not wait for Temporal", w.Pod.InitContainers)
	}
	noSecretValue(t, m)
	wantDecision(t, m, "agent", "image/command", model.Approximated, "ghcr.io/example/agent:1", "python -m agent", "runtime: own")
	wantDecision(t, m, "agent", "default:probe", model.Approximated, "no probes")
	wantDecision(t, m, "agent", "default:transcripts", model.Mapped, "Secret db-env")
	wantDecision(t, m, "agent", "ha:replicas", model.Mapped, "3 replicas")
	wantDecision(t, m, "agent", "networks", model.Approximated, "PostgreSQL db (5432/TCP)")
	// The worker does not share a network with the database: a path is opened for it alone, on both sides.
	db := policy(t, m, "lab-data", "db")
	if !slices.ContainsFunc(db.Ingress, func(r model.TrafficRule) bool {
		return len(r.Peers) == 1 && r.Peers[0].Namespace == "lab-ai-lab" && r.Peers[0].Workload == "agent"
	}) {
		t.Errorf("db ingress %+v does not admit the worker", db.Ingress)
	}
	if gw := policy(t, m, "lab-ai-lab", "agops-gateway"); !strings.Contains(gw.Why, "gateway") {
		t.Errorf("gateway policy %+v", gw)
	}
}

func TestPlanAgentWorkerAlone(t *testing.T) {
	t.Parallel()
	p := agentProject(map[string]any{"role": "agent-worker"}, false, false)
	delete(p["services"].(map[string]any), "tools")
	m := planOf(t, p, nil, plan.DefaultOptions())
	w := workload(t, m, "agent")
	c := w.Pod.Containers[0]
	if w.HAReplicas != w.Replicas {
		t.Errorf("%d replicas in ha, want %d as in Compose (transcripts are per pod)", w.HAReplicas, w.Replicas)
	}
	if _, ok := env(c, "TEMPORAL_ADDRESS"); ok {
		t.Error("TEMPORAL_ADDRESS set without a Temporal")
	}
	if _, ok := env(c, "AGOPS_GATEWAY_URL"); ok {
		t.Error("AGOPS_GATEWAY_URL set without a gateway")
	}
	wantEnv(t, c, "AGOPS_TRANSCRIPTS", "/var/lib/agops/transcripts")
	wantEnv(t, c, "AGOPS_GATEWAY_TOKEN_FILE", plan.GatewayTokenDir+"/token")
	if !slices.ContainsFunc(w.Pod.Volumes, func(v model.Volume) bool { return v.Name == "transcripts" && v.EmptyDir != nil }) {
		t.Errorf("volumes %+v: no emptyDir for the transcripts", w.Pod.Volumes)
	}
	wantDecision(t, m, "agent", "default:temporal", model.NeedsInput, "--with-temporal")
	wantDecision(t, m, "agent", "default:transcripts", model.NeedsInput, "no PostgreSQL")
	wantDecision(t, m, "agent", "default:gateway", model.Approximated, "tool calls fail")
	wantDecision(t, m, "agent", "ha:replicas", model.Approximated, "stays at 2")
}

func TestPlanAgentWorkerRuntimes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		hints     map[string]any
		env       map[string]string
		wantImage string
		wantAddr  string
	}{
		{"valid-runtime-own", map[string]any{"role": "agent-worker", "runtime": "own"}, nil, "ghcr.io/example/agent:1", ""},
		{"valid-own-temporal-address", map[string]any{"role": "agent-worker"}, map[string]string{"TEMPORAL_ADDRESS": "temporal.example.com:7233"},
			plan.DefaultOptions().HelperImage, "temporal.example.com:7233"},
		{"valid-not-a-worker", map[string]any{"role": "agent"}, nil, "ghcr.io/example/agent:1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := agentProject(tt.hints, true, true)
			if tt.env != nil {
				p["services"].(map[string]any)["agent"].(map[string]any)["environment"] = tt.env
			}
			c := workload(t, planOf(t, p, nil, plan.DefaultOptions()), "agent").Pod.Containers[0]
			if c.Image != tt.wantImage {
				t.Errorf("image %s, want %s", c.Image, tt.wantImage)
			}
			if e, _ := env(c, "TEMPORAL_ADDRESS"); e.Value != tt.wantAddr {
				t.Errorf("TEMPORAL_ADDRESS %q, want %q", e.Value, tt.wantAddr)
			}
		})
	}
}

func TestPlanTemporal(t *testing.T) {
	t.Parallel()
	m := planOf(t, agentProject(map[string]any{"role": "agent-worker"}, true, true), nil, plan.DefaultOptions())
	c := workload(t, m, "temporal").Pod.Containers[0]
	if !slices.ContainsFunc(c.Ports, func(p model.Port) bool { return p.Port == 7233 }) {
		t.Errorf("ports %+v, want the frontend's 7233", c.Ports)
	}
	grpc := &model.GRPC{Port: 7233, Service: "temporal.api.workflowservice.v1.WorkflowService"}
	for what, p := range map[string]*model.Probe{"readiness": c.Readiness, "startup": c.Startup} {
		if p == nil || p.GRPC == nil || *p.GRPC != *grpc || len(p.Exec) > 0 {
			t.Errorf("%s probe %+v, want gRPC %+v", what, p, grpc)
		}
	}
	if c.Startup != nil && c.Startup.PeriodSeconds*c.Startup.FailureThreshold < 300 {
		t.Errorf("startup probe allows %ds, want at least 5 minutes for the schema set-up", c.Startup.PeriodSeconds*c.Startup.FailureThreshold)
	}
	if c.Liveness != nil {
		t.Errorf("liveness probe %+v, want none", c.Liveness)
	}
	wantDecision(t, m, "temporal", "healthcheck", model.Approximated, "gRPC", "tctl cluster health")
	if admin := workload(t, m, "admin").Pod.Containers[0]; admin.Readiness != nil || len(admin.Ports) > 0 {
		t.Errorf("admin-tools got a server's port or probe: %+v", admin)
	}
	// Only the ai-lab namespace may open the frontend: not the database it shares a network with.
	pol := policy(t, m, "lab-ai-lab", "temporal")
	if in := pol.Ingress; len(in) != 1 || len(in[0].Peers) != 1 || in[0].Peers[0].Namespace != "lab-ai-lab" || in[0].Peers[0].Workload != "" ||
		in[0].Peers[0].Network != "" || !slices.Equal(in[0].Ports, []model.PolicyPort{{Port: 7233, Protocol: model.TCP}}) {
		t.Errorf("temporal ingress %+v, want every pod of lab-ai-lab on 7233/TCP only", in)
	}
	wantDecision(t, m, "temporal", "networks", model.Approximated, "lab-ai-lab only", "db (lab-data)")
}

func TestPlanWithTemporal(t *testing.T) {
	t.Parallel()
	o := plan.DefaultOptions()
	o.WithTemporal = true
	m := planOf(t, agentProject(map[string]any{"role": "agent-worker"}, true, false), nil, o)
	c := workload(t, m, "temporal").Pod.Containers[0]
	if c.Image != plan.TemporalImage {
		t.Errorf("image %s, want %s", c.Image, plan.TemporalImage)
	}
	if e, _ := env(c, "POSTGRES_PWD"); e.SecretRef == nil || e.SecretRef.Name != "db-env" || e.Value != "" {
		t.Errorf("POSTGRES_PWD = %+v, want the database's Secret", e)
	}
	if c.Readiness == nil || c.Readiness.GRPC == nil {
		t.Errorf("readiness %+v, want the gRPC probe", c.Readiness)
	}
	wantEnv(t, workload(t, m, "agent").Pod.Containers[0], "TEMPORAL_ADDRESS", "temporal:7233")
	wantDecision(t, m, "temporal", "with-temporal", model.Mapped, "added by --with-temporal", "PostgreSQL db")
	noSecretValue(t, m)
	var cfg model.ConfigMap
	for _, cm := range m.ConfigMaps {
		if cm.Name == "temporal-env" {
			cfg = cm
		}
	}
	for k, v := range map[string]string{"DB": "postgres12", "DB_PORT": "5432", "POSTGRES_SEEDS": "db", "POSTGRES_USER": "agents"} {
		if cfg.Data[k] != v {
			t.Errorf("temporal-env %s = %q, want %q", k, cfg.Data[k], v)
		}
	}

	t.Run("valid-has-temporal", func(t *testing.T) {
		t.Parallel()
		m := planOf(t, agentProject(map[string]any{"role": "agent-worker"}, true, true), nil, o)
		wantDecision(t, m, "", "with-temporal", model.Mapped, "nothing added")
		if workload(t, m, "temporal").Pod.Containers[0].Image != "temporalio/auto-setup:1.30.1" {
			t.Error("the project's own Temporal was replaced")
		}
	})
	t.Run("invalid-no-postgres", func(t *testing.T) {
		t.Parallel()
		_, err := plan.Plan(load(t, write(t, agentProject(map[string]any{"role": "agent-worker"}, false, false), nil)), o)
		if err == nil || err.Error() != "--with-temporal needs the project's PostgreSQL; add one or run Temporal yourself" {
			t.Errorf("err = %v", err)
		}
	})
}
