package cli

import (
	"os"
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
	if r := run(t, "policy", "validate", "--strict", example); r.code != 0 || r.stderr != "" {
		t.Errorf("validate --strict example: exit %d, stderr %q", r.code, r.stderr)
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

// TestPolicyWarnings: validate and explain warn about footguns on stderr, one line each with file, line and field
// path, and still succeed; validate --strict fails; -q silences them.
func TestPolicyWarnings(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "policy.yaml")
	doc := `apiVersion: agops.dev/v1alpha1
kind: FleetPolicy
metadata: {name: footguns}
spec:
  servers: [{name: tools, url: "http://tools/mcp"}]
  agents:
    - name: ns/agent
      grants:
        - {server: tools, tools: [get-sum], when: "args.a < 1000"}
  rules:
    - name: no-path-traversal
      deny: args.exists(k, type(args[k]) == string && args[k].contains("../"))
`
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"agops: " + file + ":9: warning: spec.agents[0].grants[0].when: args.a is compared with a number on one side only (args.a < 1000): negative numbers pass; bound both sides, e.g. between(args.a, 0, 999)",
		"agops: " + file + ":12: warning: spec.rules[0].deny: args.exists(k, ...) looks only at the top level of args: a value nested in an object or a list passes unseen; look everywhere with hasTraversal(args)",
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		warns  bool
	}{
		{"valid-validate", []string{"policy", "validate", file}, 0, "policy footguns is valid: 1 servers, 1 agents (2 warnings)", true},
		{"valid-quiet", []string{"-q", "policy", "validate", file}, 0, "", false},
		{"invalid-strict", []string{"policy", "validate", "--strict", file}, exitInput, "", true},
		{"valid-explain", []string{"policy", "explain", file, "--agent", "ns/agent", "--tool", "get-sum", "--args", `{"a":-5}`}, 0,
			"    warning: args.a is compared with a number on one side only", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stdout, tc.stdout) {
				t.Errorf("exit %d, want %d; stdout lacks %q:\n%s%s", r.code, tc.code, tc.stdout, r.stdout, r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if !tc.warns {
				if r.stderr != "" {
					t.Errorf("stderr %q, want nothing", r.stderr)
				}
				return
			}
			if len(lines) < len(want) {
				t.Fatalf("stderr has %d lines, want the %d warnings first:\n%s", len(lines), len(want), r.stderr)
			}
			for i, w := range want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("stderr line %d:\n%s\nwant it to start with\n%s", i+1, lines[i], w)
				}
			}
		})
	}
}
