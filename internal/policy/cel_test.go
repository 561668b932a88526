package policy

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// onePolicy is a policy with an MCP server "tools", an HTTP server "api", and one grant for agent ns/a.
func onePolicy(t *testing.T, grant string) *Policy {
	t.Helper()
	doc := fmt.Sprintf(`apiVersion: agops.dev/v1alpha1
kind: FleetPolicy
metadata: {name: cel}
spec:
  servers: [{name: tools, url: "http://tools/mcp"}, {name: api, url: "http://api", kind: http}]
  agents:
    - name: ns/a
      grants: [%s]
`, grant)
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("%s:\n%v", grant, err)
	}
	return p
}

// TestCELEnvironment: the variables, the numeric model, the extensions docs/policy.md promises.
func TestCELEnvironment(t *testing.T) {
	t.Parallel()
	mcpCall := Call{Agent: "ns/a", Server: "tools", Tool: "t"}
	httpCall := Call{Agent: "ns/a", Server: "api", Method: "POST", Path: "/v1/items/7"}
	for _, tc := range []struct {
		name, when, args string
		http             bool
		want             Verdict
	}{
		{"valid-tool", `tool == "t"`, "", false, Allow},
		{"valid-agent-server", `agent == "ns/a" && server == "tools"`, "", false, Allow},
		{"valid-method-path", `method == "POST" && path.startsWith("/v1/items/")`, "", true, Allow},
		{"valid-mcp-has-no-method", `method == "" && path == ""`, "", false, Allow},
		{"valid-http-args-empty", `args.size() == 0 && tool == ""`, "", true, Allow},
		{"valid-int", `args.n == 3 && args.n + 1 == 4`, `{"n":3}`, false, Allow},
		{"valid-double-vs-int", `args.x < 1000`, `{"x":999.5}`, false, Allow},
		{"invalid-double-arith-with-int", `args.x + 1 < 1000`, `{"x":1.5}`, false, Deny},
		{"valid-big-int-is-double", `type(args.n) == double`, `{"n":12345678901234567890}`, false, Allow},
		{"valid-bool", `args.dry == true`, `{"dry":true}`, false, Allow},
		{"valid-null", `args.v == null`, `{"v":null}`, false, Allow},
		{"valid-list", `args.l.size() == 2 && args.l[1] == "b" && "a" in args.l`, `{"l":["a","b"]}`, false, Allow},
		{"valid-nested", `args.o.p.q == "r"`, `{"o":{"p":{"q":"r"}}}`, false, Allow},
		{"valid-has", `!has(args.missing)`, `{}`, false, Allow},
		{"valid-optional", `args.?missing.orValue("x") == "x"`, `{}`, false, Allow},
		{"valid-ext-strings", `args.s.lowerAscii() == "abc" && args.s.indexOf("B") == 1`, `{"s":"ABC"}`, false, Allow},
		{"valid-matches", `args.s.matches("^[a-z]+$")`, `{"s":"abc"}`, false, Allow},
		{"invalid-missing-key", `args.missing == 1`, `{}`, false, Deny},
		{"invalid-wrong-type", `args.s.startsWith("a")`, `{"s":1}`, false, Deny},
		{"invalid-division-by-zero", `1 / args.z == 1`, `{"z":0}`, false, Deny},
		{"valid-matches-global", `matches(args.s, "^[a-z]+$")`, `{"s":"abc"}`, false, Allow},
		{"invalid-matches-no-match", `args.s.matches("^[a-z]+$")`, `{"s":"ABC"}`, false, Deny},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			server, target := "tools", "tools: [t]"
			c := mcpCall
			if tc.http {
				server, target, c = "api", `routes: [{method: POST, path: "/v1/items/*"}]`, httpCall
			}
			p := onePolicy(t, fmt.Sprintf("{server: %s, %s, when: %q}", server, target, tc.when))
			if tc.args != "" {
				c.Args = json.RawMessage(tc.args)
			}
			if d := p.Decide(c); d.Verdict != tc.want {
				t.Errorf("%s with %s: got %+v, want %s\n%s", tc.when, tc.args, d, tc.want, p.Explain(c))
			}
		})
	}
}

func TestCompileLimits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ expr, want string }{
		{strings.Repeat("true && ", 600) + "true", "exceeds"},
		{`args.s.matches(args.re)`, "must be a string literal"},
		{`matches(tool, "^" + args.p)`, "must be a string literal"},
		{`tool.matches("[a-z]{1000}")`, ""}, // cel-go's regex size validator panics on this; not enabled
		{`tool.matches("[")`, "missing closing ]"},
	} {
		_, err := compile(tc.expr)
		if tc.want == "" {
			if err != nil {
				t.Errorf("compile(%.40q...): %v", tc.expr, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("compile(%.40q...): want an error with %q, got %v", tc.expr, tc.want, err)
		}
	}
}
