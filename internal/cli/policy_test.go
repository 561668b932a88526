package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicyVerbs(t *testing.T) {
	t.Parallel()
	example := filepath.Join(repoRoot(t), "examples", "ai-lab", "policy.yaml")
	if r := run(t, "policy", "validate", example); r.code != 0 || !strings.Contains(r.stdout, "is valid") {
		t.Errorf("validate example: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	bad := project(t, "apiVersion: agops.dev/v1alpha1\nkind: FleetPolicy\nmetadata: {name: x}\nspec:\n  teams:\n    - name: t\n      grants: [{server: nope, tools: [a]}]\n")
	if r := run(t, "policy", "validate", bad); r.code != exitInput || !strings.Contains(r.stderr, "spec.teams[0].grants[0].server") {
		t.Errorf("validate a bad policy: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--agent", "ai-lab-ai-lab/agent-worker", "--tool", "echo", "--args", `{"message":"hi"}`}, "allow: "},
		{[]string{"--agent", "ai-lab-ai-lab/agent-worker", "--tool", "get-sum", "--args", `{"a":5000,"b":1}`}, "deny: "},
		{[]string{"--agent", "ai-lab-ai-lab/agent-worker", "--tool", "trigger-long-running-operation"}, "approval: "},
		{[]string{"--agent", "ai-lab-ai-lab/agent-worker", "--tool", "Echo"}, "deny: "},
		{[]string{"--agent", "someone/else", "--tool", "echo"}, "deny: "},
	} {
		r := run(t, append([]string{"policy", "explain", example}, tc.args...)...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, tc.want) {
			t.Errorf("explain %v: exit %d, want %q first:\n%s%s", tc.args, r.code, tc.want, r.stdout, r.stderr)
		}
	}
	for _, args := range [][]string{
		{"policy", "explain", example, "--tool", "echo"},
		{"policy", "explain", example, "--agent", "a/b"},
		{"policy", "explain", example, "--agent", "a/b", "--tool", "echo", "--args", "{"},
	} {
		if r := run(t, args...); r.code != exitUsage {
			t.Errorf("%v: exit %d, want usage error", args, r.code)
		}
	}
}
