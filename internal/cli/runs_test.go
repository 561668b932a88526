package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestTeamAndRunVerbs(t *testing.T) {
	t.Parallel()
	example := filepath.Join(repoRoot(t), "examples", "ai-lab", "team.yaml")
	if r := run(t, "team", "validate", example); r.code != 0 || !strings.Contains(r.stdout, "researcher → writer") {
		t.Errorf("validate example: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	bad := project(t, "apiVersion: agops.dev/v1alpha1\nkind: AgentTeam\nmetadata: {name: x}\nspec:\n  agents: []\n")
	if r := run(t, "team", "validate", bad); r.code != exitInput || !strings.Contains(r.stderr, "spec.agents") {
		t.Errorf("validate a bad team: exit %d, stderr %q", r.code, r.stderr)
	}
	// Nothing listens on port 1: every verb that needs Temporal says where it looked.
	for _, args := range [][]string{
		{"run", example, "--input", "q", "--temporal", "127.0.0.1:1"},
		{"runs", "list", "--temporal", "127.0.0.1:1"},
		{"runs", "show", "run-x", "--temporal", "127.0.0.1:1"},
	} {
		if r := run(t, args...); r.code == 0 || !strings.Contains(r.stderr, "127.0.0.1:1") {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	for _, args := range [][]string{
		{"run", example},                     // the example team needs an input
		{"runs", "approve", "run-x", "ap_1"}, // a token (and --by) is required
		{"dev"},                              // --policy is required
		{"run", filepath.Join(example, "missing.yaml")}, // no such file
	} {
		if r := run(t, append(args, "--temporal", "127.0.0.1:1")...); r.code == 0 {
			t.Errorf("%v: exit 0", args)
		}
	}
}
