package plan_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/agops/agops/internal/model"
	"github.com/agops/agops/internal/plan"
	fleet "github.com/agops/agops/internal/policy"
)

// toolkitStack is written the way Docker's agent examples are: an agent that calls Docker's MCP gateway over
// HTTP+SSE, the gateway told which catalog servers to run and which of their tools to serve, with a secret and an
// API key for them.
func toolkitStack(command []string) project {
	return project{
		"services": map[string]any{
			"agent": map[string]any{
				"image":       "ghcr.io/example/agent:1",
				"environment": map[string]any{"MCPGATEWAY_URL": "http://mcp-gateway:8811/sse"},
				"depends_on":  []string{"mcp-gateway"},
			},
			"mcp-gateway": map[string]any{
				"image":          "docker/mcp-gateway:latest",
				"use_api_socket": true,
				"command":        command,
				"environment":    map[string]any{"BRAVE_API_KEY_FILE": "/run/secrets/brave-api-key"},
				"secrets":        []string{"brave-api-key"},
				"volumes":        []string{"/var/run/docker.sock:/var/run/docker.sock"},
			},
		},
		"secrets": map[string]any{"brave-api-key": map[string]any{"file": "./brave.txt"}},
	}
}

// TestPlanToolkit: no workload runs docker/mcp-gateway; each server it was told to run is a tool server of its own
// (the catalog image, run by agops mcp-bridge from an init container's copy), with the gateway container's
// environment and secret; the container's name is an aggregate of the agops gateway over them, which the agent
// reaches through its tool proxy; the starter policy grants the agent the tools --tools named, on the servers.
func TestPlanToolkit(t *testing.T) {
	t.Parallel()
	p := toolkitStack([]string{"--transport=sse", "--servers=brave,duckduckgo", "--tools=search,brave_web_search", "--verbose", "--config=/mcp_config",
		"--secrets=docker-desktop:/run/secrets/brave-api-key"})
	m := planOf(t, p, map[string]string{"brave.txt": "key"}, plan.DefaultOptions())
	if n := countWorkloads(m, "mcp-gateway"); n != 0 {
		t.Errorf("%d workloads run docker/mcp-gateway", n)
	}
	if what := m.NoWorkload["mcp-gateway"]; !strings.Contains(what, "agops gateway") {
		t.Errorf("the report is not told what serves mcp-gateway: %q", what)
	}
	for _, srv := range []string{"brave", "duckduckgo"} {
		w := workload(t, m, "mcp-gateway-"+srv)
		c := w.Pod.Containers[0]
		if c.Image != "mcp/"+srv || !slices.Equal(c.Command, []string{"/agops-bin/agops", "mcp-bridge", "--listen", ":8811", "--image", "mcp/" + srv,
			"--env-file", "/run/secrets/brave-api-key"}) {
			t.Errorf("%s: image %s command %q", srv, c.Image, c.Command)
		}
		if len(w.Pod.InitContainers) == 0 || !slices.Equal(w.Pod.InitContainers[0].Args, []string{"mcp-bridge", "--install", "/agops-bin"}) {
			t.Errorf("%s: no init container copies agops: %+v", srv, w.Pod.InitContainers)
		}
		env := slices.ContainsFunc(c.Env, func(e model.EnvVar) bool { return e.Name == "BRAVE_API_KEY_FILE" })
		for _, from := range c.EnvFrom {
			for _, cm := range m.ConfigMaps {
				if from.ConfigMap == cm.Name && cm.Data["BRAVE_API_KEY_FILE"] == "/run/secrets/brave-api-key" {
					env = true
				}
			}
		}
		if !env {
			t.Errorf("%s: the gateway container's environment is not passed on: %+v %+v", srv, c.Env, c.EnvFrom)
		}
		if !slices.ContainsFunc(c.Mounts, func(mt model.Mount) bool { return strings.HasPrefix(mt.Path, "/run/secrets") }) {
			t.Errorf("%s: the secret is not mounted: %+v", srv, c.Mounts)
		}
	}
	var text string
	for _, cm := range m.ConfigMaps {
		if v, ok := cm.Data["policy.yaml"]; ok {
			text = v
		}
	}
	pol, err := fleet.Parse([]byte(text))
	if err != nil {
		t.Fatalf("the starter policy: %v\n%s", err, text)
	}
	var agg fleet.Server
	for _, s := range pol.Servers() {
		if s.Name == "mcp-gateway" {
			agg = s
		}
	}
	if !slices.Equal(agg.Members, []string{"mcp-gateway-brave", "mcp-gateway-duckduckgo"}) {
		t.Errorf("aggregate %+v\n%s", agg, text)
	}
	for _, c := range []struct {
		server, tool string
		allow        bool
	}{
		{"mcp-gateway-duckduckgo", "search", true},
		{"mcp-gateway-duckduckgo", "fetch_content", false}, // not in --tools
		{"mcp-gateway-brave", "brave_web_search", true},
		{"mcp-gateway", "search", false}, // the aggregate itself is never called
	} {
		d := pol.Decide(fleet.Call{Agent: m.Workloads[0].Namespace + "/agent", Server: c.server, Tool: c.tool, Args: []byte(`{}`)})
		if (d.Verdict == fleet.Allow) != c.allow {
			t.Errorf("%s on %s: %s (%s)", c.tool, c.server, d.Verdict, d.Reason)
		}
	}
	gw := workload(t, m, "agops-gateway")
	args := strings.Join(gw.Pod.Containers[0].Args, " ")
	if !strings.Contains(args, "--host-route mcp-gateway=mcp-gateway") || strings.Contains(args, "--upstream mcp-gateway=") {
		t.Errorf("gateway args: %s", args)
	}
	agent := workload(t, m, "agent")
	if !slices.ContainsFunc(agent.Pod.HostAliases, func(h model.HostAlias) bool { return slices.Contains(h.Hostnames, "mcp-gateway") }) {
		t.Errorf("the agent's pod does not send mcp-gateway to its tool proxy: %+v", agent.Pod.HostAliases)
	}
	if !slices.ContainsFunc(m.Decisions, func(d model.Decision) bool {
		return d.Service == "mcp-gateway" && d.Outcome == model.Approximated && strings.Contains(d.Reason, "--config /mcp_config")
	}) {
		t.Error("--config is not reported")
	}
	if !slices.ContainsFunc(m.Decisions, func(d model.Decision) bool {
		return d.Service == "mcp-gateway" && d.Outcome == model.Approximated && strings.Contains(d.Reason, "--secrets /run/secrets/brave-api-key")
	}) {
		t.Error("--secrets is not reported")
	}
	for _, d := range m.Decisions {
		if d.Outcome == model.NeedsInput && d.Key != "gateway:admin" {
			t.Errorf("needs input: %+v", d)
		}
		if d.Service == "mcp-gateway" && strings.HasPrefix(d.Key, "default:") {
			t.Errorf("a decision about a workload that is not made: %+v", d)
		}
	}
}

// TestPlanToolkitNeedsInput: what a cluster cannot do as the container was told gets an exact hint, and the
// container is left as it was.
func TestPlanToolkitNeedsInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		command []string
		want    string
	}{
		{[]string{"--servers=duckduckgo"}, "--transport=streaming"},
		{[]string{"--transport=sse", "--enable-all-servers"}, "--servers=NAME,NAME"},
		{[]string{"--transport=sse", "--servers=x", "--static"}, "drop --static"},
		{[]string{"--transport=sse", "--servers=x", "--catalog=my.yaml"}, "x-agops: {role: tool}"},
		{[]string{"--transport=sse", "--servers=x", "--interceptor=before:exec:/bin/check"}, "fleet policy rules"},
		{[]string{"--transport=sse", "--servers=x", "--no-such-flag"}, "flags of docker mcp gateway run"},
	} {
		m := planOf(t, toolkitStack(tc.command), map[string]string{"brave.txt": "key"}, plan.DefaultOptions())
		found := false
		for _, d := range m.Decisions {
			if d.Service == "mcp-gateway" && d.Key == "command" && d.Outcome == model.NeedsInput && strings.Contains(d.Hint, tc.want) {
				found = true
			}
		}
		if !found {
			t.Errorf("%q: no needs-input with a hint containing %q", tc.command, tc.want)
		}
	}
}
