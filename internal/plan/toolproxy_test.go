package plan_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/agops/agops/internal/model"
	"github.com/agops/agops/internal/plan"
)

// TestPlanToolProxy: a caller that sends no token keeps its Compose URLs. In its pod, each tool's names resolve to a
// loopback address of their own, where the native sidecar agops tool-proxy listens on the tool's ports and forwards
// to the gateway by the gateway's own name with the pod's token. agops workers send their token themselves and get
// no proxy.
func TestPlanToolProxy(t *testing.T) {
	t.Parallel()
	p := project{"services": map[string]any{
		"search": map[string]any{"image": "mcp/duckduckgo", "expose": []string{"8000"}, "x-agops": map[string]any{"role": "tool"}},
		"files": map[string]any{"image": "ghcr.io/example/files:1", "expose": []string{"8811", "9000"}, "x-agops": map[string]any{"role": "tool"},
			"networks": map[string]any{"default": map[string]any{"aliases": []string{"fs"}}}},
		"agent":  map[string]any{"image": "ghcr.io/example/agent:1", "environment": map[string]string{"SEARCH": "http://search:8000/mcp", "FILES": "http://fs:8811/mcp"}},
		"worker": map[string]any{"image": "ghcr.io/example/worker:1", "x-agops": map[string]any{"role": "agent-worker"}},
		// It serves on 9000 itself, a port of files: the proxy cannot listen there.
		"portal": map[string]any{"image": "ghcr.io/example/portal:1", "expose": []string{"9000"}, "environment": map[string]string{"FILES": "http://files:8811/mcp"}},
	}}
	m := planOf(t, p, nil, plan.DefaultOptions())
	w := workload(t, m, "agent")
	if len(w.Pod.InitContainers) == 0 || w.Pod.InitContainers[0].Name != "agops-tool-proxy" {
		t.Fatalf("agent's init containers %+v, want the tool proxy first", w.Pod.InitContainers)
	}
	proxy := w.Pod.InitContainers[0]
	if !proxy.Sidecar || proxy.Startup == nil || proxy.Image != plan.DefaultOptions().HelperImage {
		t.Errorf("tool proxy %+v: want a native sidecar of the helper image with a startup probe", proxy)
	}
	args := strings.Join(proxy.Args, " ")
	// The tools in name order: files (with its alias fs) on 127.0.0.2, search on 127.0.0.3.
	for _, want := range []string{"tool-proxy", "--token-file " + plan.GatewayTokenDir + "/token",
		"--listen 127.0.0.2:8811", "--listen 127.0.0.2:9000", "--listen 127.0.0.3:8000"} {
		if !strings.Contains(args, want) {
			t.Errorf("tool proxy args %q lack %q", args, want)
		}
	}
	if !strings.Contains(args, "--gateway http://agops-gateway.") || !strings.Contains(args, ".svc.cluster.local:8080") {
		t.Errorf("tool proxy args %q: want the gateway by its own Service name", args)
	}
	aliases := map[string]string{}
	for _, h := range w.Pod.HostAliases {
		for _, n := range h.Hostnames {
			aliases[n] = h.IP
		}
	}
	for name, ip := range map[string]string{"files": "127.0.0.2", "fs": "127.0.0.2", "search": "127.0.0.3"} {
		if aliases[name] != ip {
			t.Errorf("in the agent's pod %s resolves to %q, want %s (hostAliases %+v)", name, aliases[name], ip, w.Pod.HostAliases)
		}
	}
	if _, ok := aliases["agops-gateway"]; ok {
		t.Error("the gateway's own name is aliased: the proxy would call itself")
	}
	if !slices.ContainsFunc(proxy.Mounts, func(mt model.Mount) bool { return mt.Path == plan.GatewayTokenDir }) {
		t.Errorf("tool proxy mounts %+v: want the gateway token", proxy.Mounts)
	}
	if ds := decisionsFor(m, "agent", "gateway"); len(ds) != 1 || ds[0].Outcome != model.Mapped || !strings.Contains(ds[0].Reason, "unchanged") {
		t.Errorf("agent's gateway decisions %+v", ds)
	}

	if ww := workload(t, m, "worker"); len(ww.Pod.HostAliases) > 0 || slices.ContainsFunc(ww.Pod.InitContainers, func(c model.Container) bool { return c.Name == "agops-tool-proxy" }) {
		t.Errorf("agops worker got a tool proxy: %+v", ww.Pod)
	}
	pw := workload(t, m, "portal")
	if args := strings.Join(pw.Pod.InitContainers[0].Args, " "); !strings.Contains(args, "127.0.0.2:8811") || strings.Contains(args, ":9000") {
		t.Errorf("portal's proxy args %q: want 8811 and not its own port 9000", args)
	}
	if ds := decisionsFor(m, "portal", "gateway"); len(ds) != 2 || !slices.ContainsFunc(ds, func(d model.Decision) bool {
		return d.Outcome == model.NeedsInput && strings.Contains(d.Reason, "port 9000")
	}) {
		t.Errorf("portal's gateway decisions %+v, want one needing input for port 9000", ds)
	}
}
