package plan_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/agops/agops/internal/compose"
	"github.com/agops/agops/internal/model"
	"github.com/agops/agops/internal/plan"
)

// TestPlanModels: every model a service uses gets one llama.cpp server in the ai-lab tier, shared by its users; the
// list form sets <MODEL>_URL and <MODEL>_MODEL, the map form the variables it names; the users wait for the server;
// the weights come from the artifact through an init container into a volume; nothing needs input.
func TestPlanModels(t *testing.T) {
	t.Parallel()
	p := project{
		"services": map[string]any{
			"agent": map[string]any{"image": "ghcr.io/example/agent:1.0", "models": []string{"llm"}},
			"chat": map[string]any{"image": "ghcr.io/example/chat:1.0", "models": map[string]any{
				"llm": map[string]any{"endpoint_var": "OPENAI_BASE_URL", "model_var": "OPENAI_MODEL"},
			}},
		},
		"models": map[string]any{
			"llm":    map[string]any{"model": "ai/qwen2.5:7B-Q4_K_M", "context_size": 8192, "runtime_flags": []string{"--temp", "0.2"}},
			"unused": map[string]any{"model": "ai/smollm2"},
		},
	}
	m := planOf(t, p, nil, plan.DefaultOptions())
	server := workload(t, m, "llm")
	if server.Namespace == "" || !strings.HasSuffix(server.Namespace, "ai-lab") {
		t.Errorf("model server in namespace %q, want the ai-lab tier", server.Namespace)
	}
	c := server.Pod.Containers[0]
	if c.Image != plan.ModelServerImage {
		t.Errorf("model server image %s, want %s", c.Image, plan.ModelServerImage)
	}
	for _, want := range [][]string{{"--ctx-size", "8192"}, {"--temp", "0.2"}, {"--alias", "ai/qwen2.5:7B-Q4_K_M"}, {"--model", "/models/" + plan.ModelFile}} {
		if i := slices.Index(c.Args, want[0]); i < 0 || i+1 >= len(c.Args) || c.Args[i+1] != want[1] {
			t.Errorf("server args %q: want %s %s", c.Args, want[0], want[1])
		}
	}
	if c.Readiness == nil || c.Readiness.HTTPGet == nil || c.Readiness.HTTPGet.Path != "/health" || c.Startup == nil {
		t.Errorf("server probes: readiness %+v, startup %+v; want /health, with a startup allowance for loading", c.Readiness, c.Startup)
	}
	if mem := c.Resources.Requests["memory"]; mem != "5Gi" {
		t.Errorf("memory request %s, want 5Gi from 7B parameters at 4-bit", mem)
	}
	pullIdx := slices.IndexFunc(server.Pod.InitContainers, func(ic model.Container) bool { return ic.Name == "pull-weights" })
	if pullIdx < 0 {
		t.Fatalf("init containers %+v: want pull-weights", server.Pod.InitContainers)
	}
	pull := server.Pod.InitContainers[pullIdx]
	if !slices.Equal(pull.Args[:3], []string{"model", "pull", "ai/qwen2.5:7B-Q4_K_M"}) || len(pull.Mounts) != 1 || pull.Mounts[0].Volume != c.Mounts[0].Volume {
		t.Errorf("pull-weights %q mounts %+v: want agops model pull into the server's volume %+v", pull.Args, pull.Mounts, c.Mounts)
	}
	env := map[string]string{}
	for _, cm := range m.ConfigMaps {
		for k, v := range cm.Data {
			env[cm.Name+"/"+k] = v
		}
	}
	for k, want := range map[string]string{
		"agent-env/LLM_URL": "http://llm:8080/v1/", "agent-env/LLM_MODEL": "ai/qwen2.5:7B-Q4_K_M",
		"chat-env/OPENAI_BASE_URL": "http://llm:8080/v1/", "chat-env/OPENAI_MODEL": "ai/qwen2.5:7B-Q4_K_M",
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	for _, user := range []string{"agent", "chat"} {
		w := workload(t, m, user)
		if !slices.ContainsFunc(w.Pod.InitContainers, func(ic model.Container) bool { return slices.Contains(ic.Args, "llm") }) {
			t.Errorf("%s has no wait for the model server: %+v", user, w.Pod.InitContainers)
		}
	}
	if n := countWorkloads(m, "unused"); n != 0 {
		t.Errorf("unused model got %d workloads", n)
	}
	for _, d := range m.Decisions {
		if d.Outcome == model.NeedsInput {
			t.Errorf("needs input: %+v", d)
		}
	}
	if ds := decisionsFor(m, "", "models.unused"); len(ds) != 1 || ds[0].Outcome != model.Dropped {
		t.Errorf("models.unused decisions %+v, want dropped", ds)
	}
}

// TestPlanProviderModel: the older `provider: {type: model}` service is served the same way under its own name, and
// the services that depend on it get <NAME>_URL and <NAME>_MODEL; another provider type names what to deploy.
func TestPlanProviderModel(t *testing.T) {
	t.Parallel()
	p := project{"services": map[string]any{
		"ai-runner": map[string]any{"provider": map[string]any{"type": "model", "options": map[string]any{"model": "ai/smollm2"}}},
		"app":       map[string]any{"image": "ghcr.io/example/app:1.0", "depends_on": []string{"ai-runner"}},
	}}
	m := planOf(t, p, nil, plan.DefaultOptions())
	if w := workload(t, m, "ai-runner"); w.Pod.Containers[0].Image != plan.ModelServerImage {
		t.Errorf("ai-runner image %s", w.Pod.Containers[0].Image)
	}
	var url string
	for _, cm := range m.ConfigMaps {
		if v, ok := cm.Data["AI_RUNNER_URL"]; ok {
			url = v
		}
	}
	if url != "http://ai-runner:8080/v1/" {
		t.Errorf("AI_RUNNER_URL = %q", url)
	}
	for _, d := range m.Decisions {
		if d.Outcome == model.NeedsInput {
			t.Errorf("needs input: %+v", d)
		}
	}
}

// TestPlanModelErrors: a service naming a model the project does not declare is an error at load, not a silent gap.
func TestPlanModelErrors(t *testing.T) {
	t.Parallel()
	p := project{"services": map[string]any{"app": map[string]any{"image": "ghcr.io/example/app:1.0", "models": []string{"ghost"}}}}
	_, err := compose.Load(context.Background(), compose.Options{Files: []string{write(t, p, nil)}})
	if err == nil || !strings.Contains(err.Error(), `"ghost"`) {
		t.Errorf("load = %v, want an error naming the unknown model", err)
	}
}

func countWorkloads(m *model.Project, service string) int {
	n := 0
	for _, w := range m.Workloads {
		if w.Service == service {
			n++
		}
	}
	return n
}

// TestPlanOtherProvider: a provider plugin's service gets no workload and a decision that names what to deploy; the
// services that depended on it stop waiting for it.
func TestPlanOtherProvider(t *testing.T) {
	t.Parallel()
	p := project{"services": map[string]any{
		"db":  map[string]any{"provider": map[string]any{"type": "awesomecloud", "options": map[string]any{"type": "mysql"}}},
		"app": map[string]any{"image": "ghcr.io/example/app:1.0", "depends_on": []string{"db"}},
	}}
	m := planOf(t, p, nil, plan.DefaultOptions())
	if n := countWorkloads(m, "db"); n != 0 {
		t.Errorf("provider service got %d workloads", n)
	}
	ds := decisionsFor(m, "db", "provider")
	if len(ds) != 1 || ds[0].Outcome != model.NeedsInput || !strings.Contains(ds[0].Hint, "awesomecloud") {
		t.Errorf("provider decisions %+v, want needs input naming what to deploy", ds)
	}
	if w := workload(t, m, "app"); len(w.Pod.InitContainers) != 0 {
		t.Errorf("app waits for the provider: %+v", w.Pod.InitContainers)
	}
}
