package plan_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/agops/agops/internal/model"
	"github.com/agops/agops/internal/plan"
)

// TestWaitOnGovernedTool: a service that waits for a tool server to be healthy waits for the tool's own Service
// (tools-upstream), not for its old name, which now selects the gateway; and its decision says so. Without the
// gateway it waits for the tool's name as before.
func TestWaitOnGovernedTool(t *testing.T) {
	t.Parallel()
	p := project{"services": map[string]any{
		"tools": map[string]any{"image": "example/tools:1", "expose": []string{"8811"}, "x-agops": map[string]any{"role": "tool"},
			"healthcheck": map[string]any{"test": []string{"CMD", "true"}}},
		"app": map[string]any{"image": "example/app:1", "environment": map[string]string{"TOOLS_URL": "http://tools:8811/mcp"},
			"depends_on": map[string]any{"tools": map[string]any{"condition": "service_healthy"}}},
	}}
	waits := func(w model.Workload) [][]string {
		var out [][]string
		for _, c := range w.Pod.InitContainers {
			if len(c.Args) > 2 && c.Args[0] == "wait" {
				out = append(out, c.Args[:3])
			}
		}
		return out
	}
	m := planOf(t, p, nil, plan.DefaultOptions())
	if got := waits(workload(t, m, "app")); !slices.EqualFunc(got, [][]string{{"wait", "service", "tools-upstream"}}, slices.Equal[[]string]) {
		t.Errorf("app waits %v, want the tool's own Service tools-upstream", got)
	}
	wantDecision(t, m, "app", "depends_on.tools", model.Mapped, "tools-upstream")
	for _, d := range decisionsFor(m, "app", "depends_on.tools") {
		if d.Outcome != model.Dropped && !strings.Contains(d.Reason, "tools-upstream") {
			t.Errorf("decision %q still names the old Service", d.Reason)
		}
	}

	o := plan.DefaultOptions()
	o.NoGateway = true
	m = planOf(t, p, nil, o)
	if got := waits(workload(t, m, "app")); !slices.EqualFunc(got, [][]string{{"wait", "service", "tools"}}, slices.Equal[[]string]) {
		t.Errorf("without the gateway app waits %v, want tools", got)
	}
}
