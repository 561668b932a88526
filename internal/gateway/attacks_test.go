package gateway

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/agops/agops/internal/audit"
	"github.com/agops/agops/internal/policy"
)

const echoCall = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`

// rawAttack is a request that must be refused, audited with its rule, reach no tool and leave the gateway serving.
type rawAttack struct {
	name   string
	token  string
	body   string
	header map[string]string
	status int
	code   int
	rule   string
}

// rawAttacks are the attacks sent as raw HTTP, over each transport.
func rawAttacks() []rawAttack {
	huge := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"` +
		strings.Repeat("a", 2<<20) + `"}}}`
	return []rawAttack{
		{name: "invalid-no-token", body: echoCall, status: 401, code: CodeUnauthenticated, rule: "gateway:authentication"},
		{name: "invalid-wrong-token", token: "token-nobody-has-0123456789", body: echoCall, status: 401,
			code: CodeUnauthenticated, rule: "gateway:authentication"},
		{name: "invalid-batch-hiding-a-forbidden-call", token: tokenA, status: 400, code: codeInvalidRequest,
			rule: "gateway:invalid-request", body: `[` + echoCall +
				`,{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete_all","arguments":{}}}]`},
		{name: "invalid-batch-of-allowed-calls", token: tokenA, status: 400, code: codeInvalidRequest,
			rule: "gateway:invalid-request", body: `[` + echoCall + `]`},
		{name: "invalid-oversized-body", token: tokenA, body: huge, status: 413, code: CodeTooLarge,
			rule: "gateway:body-too-large"},
		{name: "invalid-malformed-json", token: tokenA, body: `{"jsonrpc":"2.0","id":1,"method":"tools/call",`,
			status: 400, code: codeParseError, rule: "gateway:parse-error"},
		{name: "invalid-not-utf8", token: tokenA, status: 400, code: codeParseError, rule: "gateway:parse-error",
			body: "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\xff\"}}"},
		{name: "invalid-method-case-variant", token: tokenA, status: 400, code: codeInvalidRequest,
			rule: "gateway:invalid-request",
			body: `{"jsonrpc":"2.0","id":1,"method":"tools/list","Method":"tools/call","params":{"name":"delete_all"}}`},
		{name: "invalid-only-case-variant-method", token: tokenA, status: 400, code: codeInvalidRequest,
			rule: "gateway:invalid-request",
			body: `{"jsonrpc":"2.0","id":1,"METHOD":"tools/call","params":{"name":"delete_all"}}`},
		{name: "invalid-duplicate-name", token: tokenA, status: 400, code: codeInvalidRequest,
			rule: "gateway:invalid-request",
			body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"delete_all"}}`},
		{name: "invalid-kelvin-sign-key", token: tokenA, status: 400, code: codeInvalidRequest,
			rule: "gateway:invalid-request",
			body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"\u212a":1,"k":2}}}`},
		{name: "invalid-tools-call-as-notification", token: tokenA, status: 400, code: codeInvalidRequest,
			rule: "gateway:invalid-request",
			body: `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"delete_all"}}`},
		{name: "invalid-header-disagrees", token: tokenA, body: echoCall, status: 400, code: codeInvalidRequest,
			rule: "gateway:invalid-request", header: map[string]string{"Mcp-Name": "delete_all"}},
		{name: "invalid-method-not-passed", token: tokenA, status: 200, code: CodeDenied, rule: "gateway:method",
			body: `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///etc/shadow"}}`},
		{name: "invalid-foreign-session", token: tokenA, body: echoCall, status: 404, code: CodeDenied,
			rule: "gateway:session", header: map[string]string{"Mcp-Session-Id": "stolen-or-guessed"}},
	}
}

// Each attack must be refused, audited with its rule, never reach a tool, and leave the gateway serving.
func TestAttacksRefusedOverRawHTTP(t *testing.T) {
	t.Parallel()
	for _, tc := range rawAttacks() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, upstreamModes[0])
			resp, body := e.post(tc.token, tc.body, tc.header)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d (%s)", resp.StatusCode, tc.status, body)
			}
			code, rule := rpcErrorOf(t, body)
			if code != tc.code || rule != tc.rule {
				t.Errorf("error code %d rule %q, want %d %q", code, rule, tc.code, tc.rule)
			}
			if !e.aud.hasDeny(tc.rule) {
				t.Errorf("no deny record for %s: %s", tc.rule, e.aud.dump())
			}
			if n := e.up.toolCalls.Load(); n != 0 {
				t.Errorf("%d tools/call reached the upstream", n)
			}
			e.stillServes()
		})
	}
}

func TestAttacksRefusedThroughTheClient(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		token string
		tool  string
		args  map[string]any
		code  int64
		rule  string
		agent string // the identity the policy must have seen
	}{
		{name: "invalid-another-agents-grant", token: tokenB, tool: "echo", code: CodeDenied, rule: "default-deny",
			agent: agentB},
		{name: "invalid-tool-outside-scope", token: tokenA, tool: "delete_all", code: CodeDenied, rule: "default-deny",
			agent: agentA},
		{name: "invalid-case-variant-name", token: tokenA, tool: "Echo", code: CodeDenied, rule: "default-deny",
			agent: agentA},
		{name: "invalid-cyrillic-look-alike", token: tokenA, tool: "\u0435cho", code: CodeDenied, rule: "default-deny",
			agent: agentA},
		{name: "invalid-zero-width-suffix", token: tokenA, tool: "echo\u200b", code: CodeDenied, rule: "default-deny",
			agent: agentA},
		{name: "invalid-fullwidth-name", token: tokenA, tool: "\uff45cho", code: CodeDenied, rule: "default-deny",
			agent: agentA},
		{name: "invalid-arguments-denied", token: tokenA, tool: "echo", args: map[string]any{"text": "rm -rf /"},
			code: CodeDenied, rule: "rules[no-rm]", agent: agentA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, upstreamModes[0], func(e *env) {
				e.pol.denyArgs = func(c policy.Call) string {
					if strings.Contains(string(c.Args), "rm -rf") {
						return "rules[no-rm]"
					}
					return ""
				}
			})
			cs := e.connect(tc.token)
			_, err := callTool(cs, tc.tool, tc.args)
			if got := rpcCode(err); got != tc.code {
				t.Fatalf("error %v (code %d), want code %d", err, got, tc.code)
			}
			if !strings.Contains(err.Error(), tc.rule) {
				t.Errorf("error %q does not name rule %s", err, tc.rule)
			}
			if !e.aud.hasDeny(tc.rule) {
				t.Errorf("no deny record: %s", e.aud.dump())
			}
			seen := e.pol.calls()
			if len(seen) != 1 || seen[0].Tool != tc.tool || seen[0].Agent != tc.agent {
				t.Errorf("policy saw %+v, want tool %q (byte-exact) for %s", seen, tc.tool, tc.agent)
			}
			if n := e.up.toolCalls.Load(); n != 0 {
				t.Errorf("%d tools/call reached the upstream", n)
			}
			e.stillServes()
		})
	}
}

// Identity comes from the token only: headers or parameters naming another agent change nothing.
func TestIdentityOnlyFromToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[3])
	resp, body := e.post(tokenB, echoCall, map[string]string{agentHeader: agentA, "X-Forwarded-User": agentA})
	if code, _ := rpcErrorOf(t, body); resp.StatusCode != 200 || code != CodeDenied {
		t.Fatalf("status %d code %d: %s", resp.StatusCode, code, body)
	}
	if seen := e.pol.calls(); len(seen) != 1 || seen[0].Agent != agentB {
		t.Errorf("policy saw %+v", seen)
	}
	// Guidance: only one's own.
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/guidance?agent="+agentA, nil)
	req.Header.Set("Authorization", "Bearer "+tokenB)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusForbidden {
		t.Errorf("reading another agent's guidance: status %d", r2.StatusCode)
	}
}

// A session opened by agent A is useless to agent B.
func TestSessionBoundToAgent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[1])
	init := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18",` +
		`"capabilities":{},"clientInfo":{"name":"a","version":"1"}}}`
	resp, body := e.post(tokenA, init, nil)
	sid := resp.Header.Get("Mcp-Session-Id")
	if sid == "" {
		t.Fatalf("no session: %d %s", resp.StatusCode, body)
	}
	hdr := map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-06-18"}
	resp, body = e.post(tokenB, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, hdr)
	if code, rule := rpcErrorOf(t, body); resp.StatusCode != 404 || code != CodeDenied || rule != "gateway:session" {
		t.Errorf("B with A's session: %d %s", resp.StatusCode, body)
	}
	resp, body = e.post(tokenA, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, hdr)
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("A with its own session: %d %s", resp.StatusCode, body)
	}
}

func TestAppendFailureDenies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[0])
	cs := e.connect(tokenA)
	e.aud.fail.Store(true)
	_, err := callTool(cs, "echo", map[string]any{"text": "x"})
	if rpcCode(err) != codeInternal || !strings.Contains(err.Error(), "audit") {
		t.Fatalf("error %v, want an internal denial naming the audit log", err)
	}
	if n := e.up.toolCalls.Load(); n != 0 || e.up.runs("echo") != 0 {
		t.Fatalf("%d tools/call reached the upstream", n)
	}
	if e.gw.Ready() == nil {
		t.Error("ready while the audit log fails")
	}
	e.aud.fail.Store(false)
	e.stillServes()
	if err := e.gw.Ready(); err != nil {
		t.Errorf("not ready after the audit log recovered: %v", err)
	}
}

func TestPolicyPanicDenies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[3], func(e *env) {
		e.pol.denyArgs = func(c policy.Call) string {
			if strings.Contains(string(c.Args), "boom") {
				panic("policy bug")
			}
			return ""
		}
	})
	_, err := callTool(e.connect(tokenA), "echo", map[string]any{"text": "boom"})
	if rpcCode(err) != codeInternal || !e.aud.hasDeny("gateway:internal") {
		t.Fatalf("error %v", err)
	}
	e.stillServes()
}

func TestPolicyReloadIsAtomic(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[3])
	cs := e.connect(tokenA)
	strict := newPolicy(e.up.URL)
	delete(strict.grants, grantKey(agentA, "tools", "echo"))
	if err := e.gw.SetPolicy(strict); err != nil {
		t.Fatal(err)
	}
	if _, err := callTool(cs, "echo", nil); rpcCode(err) != CodeDenied {
		t.Fatalf("after reload: %v", err)
	}
	bad := newPolicy("ftp://nowhere")
	if err := e.gw.SetPolicy(bad); err == nil {
		t.Fatal("a policy with a bad server URL was accepted")
	}
	if _, err := callTool(cs, "read_file", nil); err != nil {
		t.Fatalf("the refused policy replaced the good one: %v", err)
	}
}

func TestUnknownServer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[3])
	for _, path := range []string{"/mcp/nope", "/mcp/" + strings.Repeat("x", 10)} {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(echoCall))
		req.Header.Set("Authorization", "Bearer "+tokenA)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d", path, resp.StatusCode)
		}
	}
	if !e.aud.hasDeny("gateway:unknown-server") {
		t.Error("not audited")
	}
	if !slices.ContainsFunc(e.aud.records(), func(r audit.Record) bool { return r.Server == "nope" }) {
		t.Error("the audit record does not name the server")
	}
}
