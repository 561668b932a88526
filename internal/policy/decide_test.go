package policy

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
)

const (
	worker   = "ai-lab-ai-lab/agent-worker"
	reviewer = "ai-lab-ai-lab/reviewer"
	opsBot   = "ops/bot"
	devAgent = "local/dev-agent"
)

var researchLimits = Limits{CallsPerMinute: 60, CallsPerDay: 5000, TokensPerDay: 200000}

func mcp(agent, tool, args string) Call {
	c := Call{Agent: agent, Server: "tools", Tool: tool}
	if args != "" {
		c.Args = json.RawMessage(args)
	}
	return c
}

func http(agent, method, path string) Call {
	return Call{Agent: agent, Server: "tickets", Method: method, Path: path}
}

// bigList is {"items": [0, 1, ..., n-1]}.
func bigList(n int) string {
	var b strings.Builder
	b.WriteString(`{"items":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, i)
	}
	b.WriteString(`]}`)
	return b.String()
}

func TestDecide(t *testing.T) {
	t.Parallel()
	p := mustLoad(t, "testdata/valid-fleet.yaml")
	for _, tc := range []struct {
		name    string
		call    Call
		verdict Verdict
		rule    string
		reason  string // substring
	}{
		// Grants: exact, glob, when.
		{"valid-exact-tool", mcp(worker, "search", `{"q":"cel"}`), Allow, "teams[research].grants[0]", "allowed by"},
		{"valid-glob-when-true", mcp(worker, "fetch_page", `{"url":"https://example.com"}`), Allow, "teams[research].grants[1]", ""},
		{"invalid-glob-when-false", mcp(worker, "fetch_page", `{"url":"http://example.com"}`), Deny, RuleDefaultDeny, "conditions of the matching grants do not hold (teams[research].grants[1])"},
		{"invalid-glob-prefix-only", mcp(worker, "fetch", `{"url":"https://x"}`), Deny, RuleDefaultDeny, `no grant allows tool "fetch"`},
		{"invalid-not-granted", mcp(worker, "printEnv", ""), Deny, RuleDefaultDeny, "no grant allows"},
		{"valid-no-args", mcp(worker, "search", ""), Allow, "teams[research].grants[0]", ""},
		{"valid-null-args", mcp(worker, "search", "null"), Allow, "teams[research].grants[0]", ""},
		// Approval.
		{"valid-approval", mcp(worker, "send_email", `{"to":"a@b"}`), Approve, "teams[research].grants[2]", "once a human approves"},
		{"valid-approval-glob", mcp(worker, "weekly_report", ""), Approve, "teams[research].grants[4]", ""},
		{"valid-approval-beats-allow", mcp(opsBot, "status", ""), Approve, "teams[ops].grants[0]", ""},
		{"valid-approval-star", mcp(opsBot, "anything", ""), Approve, "teams[ops].grants[0]", ""},
		// Agent vs team.
		{"valid-agent-grant", mcp(reviewer, "delete_file", `{"id":"tmp-1"}`), Allow, "agents[ai-lab-ai-lab/reviewer].grants[0]", ""},
		{"valid-agent-inherits-team", mcp(reviewer, "search", ""), Allow, "teams[research].grants[0]", ""},
		{"invalid-agent-grant-not-team-wide", mcp(worker, "delete_file", `{"id":"tmp-1"}`), Deny, RuleDefaultDeny, ""},
		{"invalid-agent-grant-when-false", mcp(reviewer, "delete_file", `{"id":"prod-1"}`), Deny, RuleDefaultDeny, "agents[ai-lab-ai-lab/reviewer].grants[0]"},
		{"valid-teamless-agent", Call{Agent: devAgent, Server: "files", Tool: "read_file", Args: json.RawMessage(`{"path":"a.txt"}`)}, Allow, "agents[local/dev-agent].grants[0]", ""},
		{"invalid-teamless-agent-other-server", mcp(devAgent, "search", ""), Deny, RuleDefaultDeny, ""},
		{"invalid-unknown-agent", mcp("default/stranger", "search", ""), Deny, RuleDefaultDeny, `agent "default/stranger" is not in the policy`},
		{"invalid-unknown-server", Call{Agent: worker, Server: "nope", Tool: "search"}, Deny, RuleDefaultDeny, `server "nope" is not in the policy`},
		// Fleet rules beat grants.
		{"invalid-rule-beats-grant", mcp(worker, "search", `{"q":"../../etc/passwd"}`), Deny, "rules[no-path-traversal]", "paths must not climb out of the workspace"},
		{"invalid-rule-beats-approval", mcp(worker, "send_email", `{"body":"see ../secret"}`), Deny, "rules[no-path-traversal]", ""},
		{"invalid-rule-on-http", http(worker, "GET", "/v1/admin/users"), Deny, "rules[no-admin]", "denied by fleet rule no-admin"},
		{"valid-rule-false", mcp(worker, "stress", bigList(10)), Allow, "teams[research].grants[5]", ""},
		{"invalid-rule-true", mcp(worker, "stress", `{"items":[1,2,1]}`), Deny, "rules[no-duplicates]", ""},
		// HTTP routes.
		{"valid-route-glob", http(worker, "GET", "/v1/tickets/42"), Allow, "teams[research].grants[3]", ""},
		{"invalid-route-star-stays-in-segment", http(worker, "GET", "/v1/tickets/42/comments"), Deny, RuleDefaultDeny, "GET"},
		{"invalid-route-method", http(worker, "DELETE", "/v1/tickets/42"), Deny, RuleDefaultDeny, ""},
		{"valid-route-exact", http(worker, "POST", "/v1/tickets"), Allow, "teams[research].grants[3]", ""},
		{"valid-route-doublestar", http(worker, "PUT", "/v1/files/a/b/c.txt"), Allow, "teams[research].grants[3]", ""},
		{"valid-route-doublestar-trailing-slash", http(worker, "GET", "/v1/files/"), Allow, "teams[research].grants[3]", ""},
		{"invalid-route-doublestar-needs-a-segment", http(worker, "GET", "/v1/files"), Deny, RuleDefaultDeny, ""},
		{"invalid-route-dotdot", http(worker, "GET", "/v1/tickets/../admin/x"), Deny, RuleInvalidCall, "not clean"},
		{"invalid-route-double-slash", http(worker, "GET", "/v1//tickets/1"), Deny, RuleInvalidCall, "not clean"},
		{"invalid-route-relative", http(worker, "GET", "v1/tickets/1"), Deny, RuleInvalidCall, "does not start with /"},
		{"invalid-route-lowercase-method", http(worker, "get", "/v1/tickets/1"), Deny, RuleInvalidCall, "method"},
		{"invalid-http-with-tool", Call{Agent: worker, Server: "tickets", Tool: "x", Method: "GET", Path: "/v1/tickets/1"}, Deny, RuleInvalidCall, "names a tool"},
		// Look-alike tool names.
		{"invalid-cyrillic-s", mcp(worker, "\u0455earch", ""), Deny, RuleDefaultDeny, ""},
		{"invalid-zero-width", mcp(worker, "sea\u200brch", ""), Deny, RuleInvalidCall, "invisible"},
		{"invalid-bom", mcp(worker, "\ufeffsearch", ""), Deny, RuleInvalidCall, "invisible"},
		{"invalid-upper-case", mcp(worker, "Search", ""), Deny, RuleDefaultDeny, ""},
		{"invalid-trailing-space", mcp(worker, "search ", ""), Deny, RuleInvalidCall, "space"},
		{"invalid-trailing-newline", mcp(worker, "search\n", ""), Deny, RuleInvalidCall, ""},
		{"invalid-nul", mcp(worker, "search\x00", ""), Deny, RuleInvalidCall, ""},
		{"invalid-bad-utf8", mcp(worker, "search\xff", ""), Deny, RuleInvalidCall, "UTF-8"},
		{"invalid-fullwidth", mcp(worker, "ｓｅａｒｃｈ", ""), Deny, RuleDefaultDeny, ""},
		{"invalid-empty-tool", mcp(worker, "", ""), Deny, RuleInvalidCall, "empty"},
		{"invalid-long-tool", mcp(worker, strings.Repeat("a", 129), ""), Deny, RuleInvalidCall, "128"},
		{"invalid-glob-with-zero-width", mcp(worker, "fetch_\u200bx", `{"url":"https://x"}`), Deny, RuleInvalidCall, ""},
		// CEL evaluation errors fail closed.
		{"invalid-when-missing-key", mcp(worker, "fetch_page", `{"href":"https://x"}`), Deny, "teams[research].grants[1]", "could not be evaluated"},
		{"invalid-when-wrong-type", mcp(worker, "fetch_page", `{"url":42}`), Deny, "teams[research].grants[1]", "fail closed"},
		{"invalid-rule-eval-error", mcp(worker, "search", `{"q":{"nested":true}}`), Deny, "rules[no-sql-drop]", "could not be evaluated"},
		{"invalid-rule-second", mcp(worker, "search", `{"q":"DROP TABLE x"}`), Deny, "rules[no-sql-drop]", "denied by fleet rule no-sql-drop"},
		{"invalid-when-int-overflow", mcp(worker, "sum", `{"n":9223372036854775807}`), Deny, "teams[research].grants[6]", "could not be evaluated"},
		{"valid-when-int", mcp(worker, "sum", `{"n":5}`), Allow, "teams[research].grants[6]", ""},
		{"invalid-when-double", mcp(worker, "sum", `{"n":5.5}`), Deny, "teams[research].grants[6]", ""},
		{"invalid-eval-deadline", mcp(worker, "stress", bigList(5000)), Deny, "rules[no-duplicates]", "could not be evaluated"},
		// Argument documents.
		{"invalid-args-not-object", mcp(worker, "search", `["a"]`), Deny, RuleInvalidCall, "not a JSON object"},
		{"invalid-args-blank", mcp(worker, "search", " "), Deny, RuleInvalidCall, "not valid JSON"},
		{"invalid-args-number-range", mcp(worker, "search", `{"n":1e400}`), Deny, RuleInvalidCall, "out of range"},
		{"invalid-args-syntax", mcp(worker, "search", `{"q":`), Deny, RuleInvalidCall, "not valid JSON"},
		{"invalid-args-trailing", mcp(worker, "search", `{"q":1} {}`), Deny, RuleInvalidCall, "not valid JSON"},
		{"invalid-args-duplicate-key", mcp(worker, "fetch_page", `{"url":"https://ok","url":"http://evil"}`), Deny, RuleInvalidCall, "repeat a key"},
		{"invalid-args-duplicate-escaped-key", mcp(worker, "fetch_page", `{"url":"https://ok","\u0075rl":"http://evil"}`), Deny, RuleInvalidCall, "repeat a key"},
		{"invalid-args-bad-utf8", mcp(worker, "search", "{\"q\":\"\xff\"}"), Deny, RuleInvalidCall, "UTF-8"},
		{"invalid-args-lone-surrogate", mcp(worker, "search", `{"q":"\ud800"}`), Deny, RuleInvalidCall, "surrogate"},
		{"invalid-args-too-deep", mcp(worker, "search", `{"a":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`}`), Deny, RuleInvalidCall, "32 levels"},
		{"valid-args-depth-32", mcp(worker, "search", `{"a":`+strings.Repeat("[", 31)+strings.Repeat("]", 31)+`}`), Allow, "teams[research].grants[0]", ""},
		{"invalid-args-too-large", mcp(worker, "search", `{"q":"`+strings.Repeat("x", 70000)+`"}`), Deny, RuleInvalidCall, "larger than"},
		{"valid-args-escapes", mcp(worker, "fetch_page", `{"url":"https:\/\/x\u00e9\ud83d\ude00"}`), Allow, "teams[research].grants[1]", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := p.Decide(tc.call)
			if d.Verdict != tc.verdict || d.Rule != tc.rule || !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("got %s by %s (%q), want %s by %s (reason with %q)", d.Verdict, d.Rule, d.Reason, tc.verdict, tc.rule, tc.reason)
			}
			if strings.Contains(d.Reason, "\n") {
				t.Errorf("reason spans lines: %q", d.Reason)
			}
			if d.Verdict != Approve && d.ApprovalTimeout != 0 {
				t.Errorf("approval timeout %s on a %s", d.ApprovalTimeout, d.Verdict)
			}
		})
	}
}

// TestDecideReasonHidesArguments: a reason goes to the caller and the audit log; argument values stay out of it.
func TestDecideReasonHidesArguments(t *testing.T) {
	t.Parallel()
	p := mustLoad(t, "testdata/valid-fleet.yaml")
	const secret = "s3cr3t-value"
	for _, args := range []string{
		`{"url":"` + secret + `"}`, `{"href":"` + secret + `"}`, `{"url":{"` + secret + `":1}}`, `{"url":"a","url":"` + secret + `"}`,
	} {
		d := p.Decide(mcp(worker, "fetch_page", args))
		if d.Verdict != Deny || strings.Contains(d.Reason, secret) || strings.Contains(d.Rule, secret) {
			t.Errorf("%s: %+v", args, d)
		}
	}
}

func TestDecideLimits(t *testing.T) {
	t.Parallel()
	p := mustLoad(t, "testdata/valid-fleet.yaml")
	for _, tc := range []struct {
		name string
		call Call
		want Limits
	}{
		{"valid-team", mcp(worker, "search", ""), researchLimits},
		{"valid-team-on-deny", mcp(worker, "printEnv", ""), researchLimits},
		{"valid-agent-overrides-field-by-field", mcp(reviewer, "search", ""), Limits{CallsPerMinute: 10, CallsPerDay: 5000}},
		{"valid-other-team", mcp(opsBot, "status", ""), Limits{CallsPerMinute: 5}},
		{"valid-no-limits", Call{Agent: devAgent, Server: "files", Tool: "read_file"}, Limits{}},
		{"invalid-unknown-agent", mcp("x/y", "search", ""), Limits{}},
	} {
		if got := p.Decide(tc.call).Limits; got != tc.want {
			t.Errorf("%s: limits %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestAllowed(t *testing.T) {
	t.Parallel()
	p := mustLoad(t, "testdata/valid-fleet.yaml")
	for _, tc := range []struct {
		agent, server, tool string
		want                bool
	}{
		{worker, "tools", "search", true},
		{worker, "tools", "fetch_page", true},    // when reads args: could allow
		{worker, "tools", "send_email", true},    // approval-gated
		{worker, "tools", "weekly_report", true}, // approval-gated glob
		{worker, "tools", "printEnv", false},     // not granted
		{worker, "tools", "Search", false},       // case
		{worker, "tools", "search ", false},      // whitespace
		{worker, "tools", "\u0455earch", false},  // look-alike
		{worker, "tickets", "search", false},     // HTTP server
		{worker, "nope", "search", false},        // unknown server
		{"x/y", "tools", "search", false},        // unknown agent
		{reviewer, "tools", "delete_file", true}, // the agent's own
		{worker, "tools", "delete_file", false},  // not the team's
		{devAgent, "files", "read_file", true},   // when without args is evaluated: true
		{devAgent, "files", "write_file", false}, // not granted
		{opsBot, "tools", "anything", true},      // "*", approval
		{opsBot, "files", "anything", false},     // other server
	} {
		if got := p.Allowed(tc.agent, tc.server, tc.tool); got != tc.want {
			t.Errorf("Allowed(%q, %q, %q) = %t, want %t", tc.agent, tc.server, tc.tool, got, tc.want)
		}
	}
}

// TestAllowedStaticRules: a rule or condition that does not read args is judged without them.
func TestAllowedStaticRules(t *testing.T) {
	t.Parallel()
	p := mustLoad(t, examplePolicy)
	for _, tc := range []struct {
		agent, tool string
		want        bool
	}{
		{worker, "echo", true},
		{worker, "get-sum", true},
		{worker, "trigger-long-running-operation", true},
		{worker, "get-env", false},
		{worker, "simulate-research-query", false},
		{devAgent, "echo", true},
		{devAgent, "get-sum", true},
		{devAgent, "trigger-long-running-operation", false},
	} {
		if got := p.Allowed(tc.agent, "mcp-tools", tc.tool); got != tc.want {
			t.Errorf("Allowed(%q, %q) = %t, want %t", tc.agent, tc.tool, got, tc.want)
		}
	}
	doc := strings.Replace(string(readFile(t, examplePolicy)), "tools: [echo]\n", "tools: [\"*\"]\n", 1)
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Allowed(worker, "mcp-tools", "simulate-research-query") || p.Allowed(worker, "mcp-tools", "get-env") {
		t.Error("with every tool granted, the fleet rule must still hide printEnv, and only it")
	}
	if d := p.Decide(Call{Agent: worker, Server: "mcp-tools", Tool: "get-env"}); d.Verdict != Deny || d.Rule != "rules[no-environment-dump]" {
		t.Errorf("printEnv with every tool granted: %+v", d)
	}
}

func TestExamplePolicy(t *testing.T) {
	t.Parallel()
	p := mustLoad(t, examplePolicy)
	for _, tc := range []struct {
		call Call
		want Verdict
		rule string
	}{
		{Call{Agent: worker, Server: "mcp-tools", Tool: "echo", Args: json.RawMessage(`{"message":"hi"}`)}, Allow, "teams[research].grants[0]"},
		{Call{Agent: worker, Server: "mcp-tools", Tool: "get-sum", Args: json.RawMessage(`{"a":2,"b":3}`)}, Allow, "teams[research].grants[1]"},
		{Call{Agent: worker, Server: "mcp-tools", Tool: "get-sum", Args: json.RawMessage(`{"a":2000,"b":3}`)}, Deny, RuleDefaultDeny},
		{Call{Agent: worker, Server: "mcp-tools", Tool: "get-sum", Args: json.RawMessage(`{"a":2.5,"b":3}`)}, Allow, "teams[research].grants[1]"},
		{Call{Agent: worker, Server: "mcp-tools", Tool: "get-sum", Args: json.RawMessage(`{"a":"1","b":3}`)}, Deny, RuleDefaultDeny}, // between refuses a string
		{Call{Agent: worker, Server: "mcp-tools", Tool: "trigger-long-running-operation", Args: json.RawMessage(`{"duration":5,"steps":5}`)}, Approve, "teams[research].grants[2]"},
		{Call{Agent: worker, Server: "mcp-tools", Tool: "get-env"}, Deny, RuleDefaultDeny},
		{Call{Agent: worker, Server: "mcp-tools", Tool: "simulate-research-query"}, Deny, RuleDefaultDeny},
		{Call{Agent: worker, Server: "mcp-tools", Tool: "echo", Args: json.RawMessage(`{"message":"../../etc"}`)}, Deny, "rules[no-path-traversal]"},
		{Call{Agent: devAgent, Server: "mcp-tools", Tool: "echo", Args: json.RawMessage(`{"message":"hi"}`)}, Allow, "agents[local/dev-agent].grants[0]"},
		{Call{Agent: devAgent, Server: "mcp-tools", Tool: "get-sum", Args: json.RawMessage(`{"a":1,"b":5000}`)}, Deny, RuleDefaultDeny},
	} {
		if d := p.Decide(tc.call); d.Verdict != tc.want || d.Rule != tc.rule {
			t.Errorf("%s %s: got %s by %s (%s), want %s by %s", tc.call.Tool, tc.call.Args, d.Verdict, d.Rule, d.Reason, tc.want, tc.rule)
		}
	}
}

func TestGuidance(t *testing.T) {
	t.Parallel()
	p := mustLoad(t, "testdata/valid-fleet.yaml")
	base := Fragment{Name: "base-rules", Version: 3, Text: "Never exfiltrate credentials."}
	style := Fragment{Name: "research-style", Version: 1, Text: "Cite your sources."}
	notes := Fragment{Name: "reviewer-notes", Version: 2, Text: "Review diffs line by line.\n"}
	for _, tc := range []struct {
		agent string
		ok    bool
		want  Guidance
	}{
		{worker, true, Guidance{Agent: worker, Team: "research", Fragments: []Fragment{base, style}}},
		{reviewer, true, Guidance{Agent: reviewer, Team: "research", Fragments: []Fragment{base, style, notes}}},
		{opsBot, true, Guidance{Agent: opsBot, Team: "ops"}},
		{devAgent, true, Guidance{Agent: devAgent}},
		{"x/y", false, Guidance{}},
	} {
		got, ok := p.Guidance(tc.agent)
		if ok != tc.ok || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("Guidance(%q) = %+v, %t; want %+v, %t", tc.agent, got, ok, tc.want, tc.ok)
		}
	}
	g, _ := p.Guidance(reviewer)
	g.Fragments[0].Text = "changed"
	if g2, _ := p.Guidance(reviewer); g2.Fragments[0].Text != base.Text {
		t.Error("Guidance shares its fragments with the policy")
	}
	if g3, _ := p.Guidance(worker); len(g3.Fragments) != 2 {
		t.Errorf("the reviewer's own fragments leaked into its team-mate's guidance: %+v", g3)
	}
}

func TestExplain(t *testing.T) {
	t.Parallel()
	p := mustLoad(t, "testdata/valid-fleet.yaml")
	for _, tc := range []struct {
		name string
		call Call
		want []string
	}{
		{"valid-allow", mcp(reviewer, "fetch_page", `{"url":"https://x"}`), []string{
			"agent:  ai-lab-ai-lab/reviewer (team research)",
			"limits: 10 calls/minute, 5000 calls/day",
			"rules[no-path-traversal]: deny `args.exists(k, type(args[k]) == string && args[k].contains(\"../\"))` is false",
			"rules[no-sql-drop]: does not apply: other tools or routes",
			"rules[no-admin]: does not apply: other servers",
			"rules[no-duplicates]: does not apply: other tools or routes",
			"agents[ai-lab-ai-lab/reviewer].grants[0]: does not match: tools delete_*",
			"teams[research].grants[1]: matches; when `args.url.startsWith(\"https://\")` is true",
			"teams[research].grants[2]: does not match: tools send_email (needs approval, timeout 10m0s)",
			"teams[research].grants[3]: does not match: server tickets",
			"decision: allow by teams[research].grants[1]: allowed by teams[research].grants[1]",
		}},
		{"invalid-eval-error", mcp(worker, "fetch_page", `{"url":7}`), []string{
			"cannot be evaluated: no such overload",
			"decision: deny by teams[research].grants[1]",
		}},
		{"valid-approval", mcp(opsBot, "status", ""), []string{
			"teams[ops].grants[0]: matches (needs approval, timeout 3m0s)",
			"teams[ops].grants[1]: matches\n",
			"decision: approval by teams[ops].grants[0]",
			"approval: a human has 3m0s to approve",
		}},
		{"invalid-unknown-agent", mcp("x/y", "search", ""), []string{
			`agent:  "x/y" (not in the policy)`,
			"decision: deny by default-deny",
		}},
		{"invalid-unknown-server", Call{Agent: worker, Server: "zz", Tool: "a"}, []string{
			`call:   server "zz" is not in the policy`,
		}},
		{"valid-http", http(worker, "GET", "/v1/admin/x"), []string{
			"call:   GET \"/v1/admin/x\" on HTTP server tickets",
			"rules[no-admin]: deny `true` is true",
			"decision: deny by rules[no-admin]",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := p.Explain(tc.call)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("explanation lacks %q:\n%s", w, got)
				}
			}
			d := p.Decide(tc.call)
			if !strings.Contains(got, fmt.Sprintf("decision: %s by %s: %s\n", d.Verdict, d.Rule, d.Reason)) {
				t.Errorf("explanation disagrees with Decide %+v:\n%s", d, got)
			}
		})
	}
}

// TestDecideConcurrent runs decisions from many goroutines (go test -race catches shared state).
func TestDecideConcurrent(t *testing.T) {
	t.Parallel()
	p := mustLoad(t, "testdata/valid-fleet.yaml")
	calls := []Call{
		mcp(worker, "fetch_page", `{"url":"https://x"}`), mcp(worker, "search", `{"q":"../"}`),
		mcp(reviewer, "delete_file", `{"id":"tmp-1"}`), http(worker, "GET", "/v1/tickets/1"),
	}
	want := make([]Decision, len(calls))
	for i, c := range calls {
		want[i] = p.Decide(c)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := (g + i) % len(calls)
				if d := p.Decide(calls[k]); d != want[k] {
					t.Errorf("call %d: got %+v, want %+v", k, d, want[k])
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkDecide is a typical allowed call: a fleet rule over the arguments and a grant condition.
func BenchmarkDecide(b *testing.B) {
	p := mustLoad(b, "testdata/valid-fleet.yaml")
	c := mcp(worker, "fetch_page", `{"url":"https://example.com/docs","timeout":30,"format":"markdown"}`)
	if d := p.Decide(c); d.Verdict != Allow {
		b.Fatalf("not allowed: %+v", d)
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Decide(c)
	}
}

// BenchmarkDecideNoCEL is an allowed call that no expression looks at.
func BenchmarkDecideNoCEL(b *testing.B) {
	p := mustLoad(b, examplePolicy)
	p.rules, p.byServer = nil, nil
	c := Call{Agent: worker, Server: "mcp-tools", Tool: "echo", Args: json.RawMessage(`{"message":"hello"}`)}
	if d := p.Decide(c); d.Verdict != Allow {
		b.Fatalf("not allowed: %+v", d)
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Decide(c)
	}
}
