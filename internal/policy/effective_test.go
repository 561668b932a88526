package policy

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// effectivePolicies are the example policies the property test runs over.
var effectivePolicies = []string{
	"../../examples/ai-lab/policy.yaml",
	"testdata/valid-fleet.yaml",
	"testdata/valid-aggregate.yaml",
	"testdata/valid-anchors.yaml",
	"testdata/valid-minimal.yaml",
}

// TestEffectiveAgreesWithDecide: for every agent, MCP server and tool the policy names (and a name matching each
// pattern, and names nothing grants), the effective policy's verdict is Decide's for a call with empty arguments,
// wherever no expression reading the arguments could decide otherwise.
func TestEffectiveAgreesWithDecide(t *testing.T) {
	t.Parallel()
	for file, p := range examplePolicies(t) {
		tools := toolUniverse(p)
		compared := 0
		for _, agent := range p.Agents() {
			e, err := p.Effective(agent)
			if err != nil {
				t.Fatalf("%s: Effective(%s): %v", file, agent, err)
			}
			for _, srv := range p.Servers() {
				if p.kinds[srv.Name] != "mcp" {
					continue
				}
				for _, tool := range tools {
					c := Call{Agent: agent, Server: srv.Name, Tool: tool, Args: []byte(`{}`)}
					if argsCouldDecide(p, &c) {
						continue
					}
					compared++
					got, want := effectiveVerdict(p, e, &c), p.Decide(c)
					if got.Verdict != want.Verdict || got.Rule != want.Rule || got.ApprovalTimeout != want.ApprovalTimeout {
						t.Errorf("%s: %s calls %s on %s: Effective says %s by %s (%s), Decide %s by %s (%s)", file, agent, tool,
							srv.Name, got.Verdict, got.Rule, got.ApprovalTimeout, want.Verdict, want.Rule, want.ApprovalTimeout)
					}
				}
			}
		}
		if compared == 0 {
			t.Errorf("%s: nothing compared", file)
		}
	}
}

// toolUniverse is every tool name a grant or rule names, a name matching each pattern, and names nobody grants.
func toolUniverse(p *Policy) []string {
	out := []string{"get-env", "zz-never-granted"}
	add := func(tools []string) {
		for _, t := range tools {
			out = append(out, strings.ReplaceAll(t, "*", "x"))
		}
	}
	for _, s := range p.subjects {
		for _, g := range s.grants {
			add(g.tools)
		}
	}
	for _, r := range p.rules {
		add(r.tools)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// argsCouldDecide reports whether an expression that reads the arguments applies to the call in a way empty
// arguments do not show: a matching grant's condition, or a rule that denies (or fails) on empty arguments.
func argsCouldDecide(p *Policy, c *Call) bool {
	s := p.subjects[c.Agent]
	matched := false
	for _, g := range s.byServer[c.Server] {
		if g.matches(c, "mcp") {
			matched = true
			if g.when != nil && g.when.needsArgs {
				return true
			}
		}
	}
	if !matched {
		return false
	}
	a := &activation{c: c, maxArgs: p.maxArgs}
	defer a.close()
	for _, r := range p.byServer[c.Server] {
		if r.applies(c, "mcp") && r.deny.needsArgs {
			if hit, err := r.deny.eval(a); hit || err != nil {
				return true
			}
		}
	}
	return false
}

// effectiveVerdict reads the verdict for a call off the effective policy: the entry for the tool, else what a
// granted pattern that covers it gives, else a default deny.
func effectiveVerdict(p *Policy, e Effective, c *Call) Access {
	i := slices.IndexFunc(e.Servers, func(s ServerAccess) bool { return s.Server == c.Server })
	if i < 0 {
		return Access{Verdict: Deny, Rule: RuleDefaultDeny}
	}
	var patterns []string
	for _, a := range e.Servers[i].Access {
		if a.Tool == c.Tool {
			return a
		}
		if isGlob(a.Tool) {
			patterns = append(patterns, a.Tool)
		}
	}
	if matchTools(patterns, c.Tool) {
		return p.access(p.subjects[c.Agent], c, "mcp")
	}
	return Access{Verdict: Deny, Rule: RuleDefaultDeny}
}

// starPolicy grants every tool and carves one out with a rule that does not read the arguments.
const starPolicy = `apiVersion: agops.dev/v1alpha1
kind: FleetPolicy
metadata: {name: star}
spec:
  servers: [{name: tools, url: "http://tools:8811/mcp"}]
  agents:
    - name: ops/root
      grants: [{server: tools, tools: ["*"]}]
  rules:
    - {name: no-env, tools: [get-env], deny: "true", message: no environment}
`

// examplePolicies are the repository's example policies, and starPolicy, by file name.
func examplePolicies(tb testing.TB) map[string]*Policy {
	out := map[string]*Policy{"star": mustParse(tb, starPolicy)}
	for _, file := range effectivePolicies {
		out[file] = mustLoad(tb, file)
	}
	return out
}

func TestEffective(t *testing.T) {
	t.Parallel()
	fleet := mustLoad(t, "testdata/valid-fleet.yaml")
	lab := mustLoad(t, "../../examples/ai-lab/policy.yaml")
	star := mustParse(t, starPolicy)
	for _, tc := range []struct {
		name     string
		p        *Policy
		agent    string
		teams    []string
		limits   Limits
		guidance string // name@version, ...
		server   string
		tool     string // an Access entry; "" for none
		want     Access // Verdict, Rule, From, ApprovalTimeout, ArgsDependent compared
		grants   int
	}{
		{"valid-team-limits", fleet, worker, []string{"research"}, researchLimits, "base-rules@3 research-style@1",
			"tools", "search", Access{Verdict: Allow, Rule: "teams[research].grants[0]", From: "team research", ArgsDependent: true}, 1},
		{"valid-agent-overrides-one-by-one", fleet, reviewer, []string{"research"},
			Limits{CallsPerMinute: 10, CallsPerDay: 5000}, "base-rules@3 research-style@1 reviewer-notes@2",
			"tools", "delete_*", Access{Verdict: Allow, Rule: "agents[ai-lab-ai-lab/reviewer].grants[0]", From: "agent", ArgsDependent: true}, 1},
		{"valid-approval-wins", fleet, opsBot, []string{"ops"}, Limits{CallsPerMinute: 5}, "",
			"tools", "status", Access{Verdict: Approve, Rule: "teams[ops].grants[0]", From: "team ops", ApprovalTimeout: 3 * time.Minute, ArgsDependent: true}, 2},
		{"valid-approval-timeout", lab, worker, []string{"research"}, Limits{CallsPerMinute: 60, CallsPerDay: 5000, TokensPerDay: 200000},
			"base-rules@1 research-style@1", "mcp-tools", "trigger-long-running-operation",
			Access{Verdict: Approve, Rule: "teams[research].grants[2]", From: "team research", ApprovalTimeout: 10 * time.Minute, ArgsDependent: true}, 1},
		{"valid-no-team", lab, devAgent, nil, Limits{CallsPerMinute: 10, CallsPerDay: 200}, "base-rules@1",
			"mcp-tools", "get-sum", Access{Verdict: Allow, Rule: "agents[local/dev-agent].grants[0]", From: "agent", ArgsDependent: true}, 1},
		{"valid-http-route", fleet, worker, []string{"research"}, researchLimits, "base-rules@3 research-style@1",
			"tickets", "GET /v1/admin/**", Access{Verdict: Deny, Rule: "rules[no-admin]", From: "fleet rule"}, 1},
		{"invalid-rule-exception-under-pattern", star, "ops/root", nil, Limits{}, "",
			"tools", "get-env", Access{Verdict: Deny, Rule: "rules[no-env]", From: "fleet rule"}, 1},
		{"valid-pattern-itself", star, "ops/root", nil, Limits{}, "",
			"tools", "*", Access{Verdict: Allow, Rule: "agents[ops/root].grants[0]", From: "agent"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, err := tc.p.Effective(tc.agent)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(e.Teams, tc.teams) || !slices.Equal(tc.p.TeamsOf(tc.agent), tc.teams) {
				t.Errorf("teams %v, TeamsOf %v, want %v", e.Teams, tc.p.TeamsOf(tc.agent), tc.teams)
			}
			if l, ok := tc.p.Limits(tc.agent); e.Limits != tc.limits || l != tc.limits || !ok {
				t.Errorf("limits %+v, want %+v", e.Limits, tc.limits)
			}
			var g []string
			for _, f := range e.Guidance {
				g = append(g, f.Name+"@"+strconv.Itoa(f.Version))
			}
			if got := strings.Join(g, " "); got != tc.guidance {
				t.Errorf("guidance %q, want %q", got, tc.guidance)
			}
			a, ok := findAccess(e, tc.server, tc.tool)
			if !ok {
				t.Fatalf("no access entry for %s on %s in %+v", tc.tool, tc.server, e.Servers)
			}
			if a.Verdict != tc.want.Verdict || a.Rule != tc.want.Rule || a.From != tc.want.From ||
				a.ApprovalTimeout != tc.want.ApprovalTimeout || a.ArgsDependent != tc.want.ArgsDependent || len(a.Grants) != tc.grants {
				t.Errorf("got %+v\nwant %+v with %d grants", a, tc.want, tc.grants)
			}
		})
	}
}

func TestEffectiveShowsConditionsAsText(t *testing.T) {
	t.Parallel()
	e, err := mustLoad(t, "../../examples/ai-lab/policy.yaml").Effective(worker)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := findAccess(e, "mcp-tools", "get-sum")
	if len(a.Grants) != 1 || !strings.Contains(a.Grants[0].When, "between(args.a, 0, 999)") || !a.Grants[0].ReadsArgs {
		t.Errorf("get-sum grants: %+v", a.Grants)
	}
	if !slices.ContainsFunc(a.Rules, func(r RuleRef) bool {
		return r.ID == "rules[no-path-traversal]" && strings.Contains(r.Deny, "hasTraversal(args)") && r.ReadsArgs
	}) {
		t.Errorf("get-sum rules: %+v", a.Rules)
	}
	if _, ok := findAccess(e, "mcp-tools", "get-env"); ok {
		t.Error("get-env is listed although nothing grants it")
	}
}

func TestEffectiveUnknownAgent(t *testing.T) {
	t.Parallel()
	p := mustLoad(t, "testdata/valid-fleet.yaml")
	if _, err := p.Effective("nobody/here"); !errors.Is(err, ErrUnknownAgent) {
		t.Errorf("err %v, want ErrUnknownAgent", err)
	}
	if _, ok := p.Limits("nobody/here"); ok {
		t.Error("Limits of an unknown agent")
	}
	if got := p.TeamsOf("nobody/here"); got != nil {
		t.Errorf("TeamsOf unknown: %v", got)
	}
	var nilPolicy *Policy
	if _, err := nilPolicy.Effective(worker); err == nil {
		t.Error("nil policy: no error")
	}
}

// findAccess finds the entry for a tool, or for a route written "METHOD path".
func findAccess(e Effective, server, tool string) (Access, bool) {
	for _, s := range e.Servers {
		if s.Server != server {
			continue
		}
		for _, a := range s.Access {
			if a.Tool == tool || a.Tool == "" && a.Method+" "+a.Path == tool {
				return a, true
			}
		}
	}
	return Access{}, false
}

func mustParse(tb testing.TB, doc string) *Policy {
	tb.Helper()
	p, err := Parse([]byte(doc))
	if err != nil {
		tb.Fatalf("parsing:\n%v", err)
	}
	return p
}
