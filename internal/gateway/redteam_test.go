package gateway

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agops/agops/internal/mcptest"
	"github.com/agops/agops/internal/policy"
)

// The red team's attacks on the body (issue 13, finding 1 and 4), run through a gateway with a real policy in front
// of three real MCP servers: the reference server from npm, a server built with the TypeScript SDK's Express helper
// (which decodes a body in the charset its Content-Type names, and inflates gzip), and one built with the Go SDK.
// Each attack must be refused or judged on exactly what the server would run, audited, and the forbidden tool must
// never run; allowed calls keep working throughout.

const redteamPolicy = `apiVersion: agops.dev/v1alpha1
kind: FleetPolicy
metadata: {name: redteam}
spec:
  servers:
    - {name: tools, url: %q, kind: mcp}
  agents:
    - name: lab/agent-a
      grants:
        - server: tools
          tools: [echo, get-sum, add]
        - server: tools
          tools: [read_file]
          when: '!args.path.contains("..")'
`

// redteamTarget is a real MCP server behind the gateway.
type redteamTarget struct {
	name      string
	url       string
	echoArg   string           // the name of echo's argument
	forbidden string           // a tool the server has and the policy does not grant
	recorder  mcptest.Recorder // nil: the server records nothing (the reference server)
}

func redteamTargets(t *testing.T) []redteamTarget {
	ts, gs, ref := mcptest.StartTSServer(t), mcptest.StartGoServer(t), mcptest.StartEverything(t)
	return []redteamTarget{
		{name: "typescript-sdk-express", url: ts.URL, echoArg: "message", forbidden: "delete_all", recorder: ts},
		{name: "go-sdk", url: gs.URL, echoArg: "message", forbidden: "delete_all", recorder: gs},
		{name: "reference", url: ref.URL, echoArg: "message", forbidden: "get-env"},
	}
}

func TestRedTeamBodies(t *testing.T) {
	t.Parallel()
	for _, tg := range redteamTargets(t) {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			redteamBodies(t, tg)
		})
	}
}

// rawClient speaks MCP over raw HTTP through the gateway, with one session.
type rawClient struct {
	t       *testing.T
	url     string
	session string
}

func (c *rawClient) post(body []byte, header http.Header) (int, string) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tokenA)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	if c.session != "" {
		req.Header.Set("Mcp-Session-Id", c.session)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" && c.session == "" {
		c.session = sid
	}
	return resp.StatusCode, string(b)
}

func (c *rawClient) initialize() {
	c.t.Helper()
	code, body := c.post([]byte(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18",`+
		`"capabilities":{},"clientInfo":{"name":"redteam","version":"1"}}}`), nil)
	if code != http.StatusOK || c.session == "" {
		c.t.Fatalf("initialize: %d %s", code, body)
	}
	if code, body := c.post([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`), nil); code/100 != 2 {
		c.t.Fatalf("initialized: %d %s", code, body)
	}
}

func rtCall(id int, name, args string) []byte {
	return []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, id, name, args))
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func redteamBodies(t *testing.T, tg redteamTarget) {
	p, err := policy.Parse([]byte(fmt.Sprintf(redteamPolicy, tg.url)))
	if err != nil {
		t.Fatal(err)
	}
	aud := &memAudit{}
	gw, err := New(Options{Policy: p, Authenticator: writeTokens(t), AdminAuthenticator: writeApprovers(t), Audit: aud,
		ApprovalDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(srv.Close)
	c := &rawClient{t: t, url: srv.URL + "/mcp/tools"}
	c.initialize()
	echo := rtCall(1, "echo", fmt.Sprintf(`{%q:"still here"}`, tg.echoArg))
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	for _, tc := range []struct {
		name   string
		body   []byte
		header http.Header
		status int    // the HTTP status
		rule   string // audited and answered
	}{
		{"utf7-smuggled-call", mcptest.UTF7SmuggledCall(tg.forbidden), hdr("Content-Type", "application/json; charset=utf-7"),
			415, "gateway:content-type"},
		{"utf7-hidden-traversal", []byte(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"read_file",` +
			`"arguments":{"path":"/srv/data/` + mcptest.UTF7Hide("../../") + `etc/shadow"}}}`),
			hdr("Content-Type", "application/json; charset=UTF-7"), 415, "gateway:content-type"},
		{"utf16-charset", echo, hdr("Content-Type", "application/json; charset=utf-16le"), 415, "gateway:content-type"},
		{"latin1-charset", echo, hdr("Content-Type", "application/json;charset=latin1"), 415, "gateway:content-type"},
		{"text-plain", echo, hdr("Content-Type", "text/plain"), 415, "gateway:content-type"},
		{"gzip-coding", gzipped(rtCall(3, tg.forbidden, `{}`)), hdr("Content-Encoding", "gzip"), 415, "gateway:content-type"},
		{"content-type-twice", echo, hdr("Content-Type", "application/json", "Content-Type", "application/json; charset=utf-7"),
			400, "gateway:invalid-request"},
		{"session-id-twice", echo, hdr("Mcp-Session-Id", c.session, "Mcp-Session-Id", "someone-elses"), 400,
			"gateway:invalid-request"},
		{"duplicate-name", []byte(`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","name":"` +
			tg.forbidden + `","arguments":{}}}`), nil, 400, "gateway:invalid-request"},
		{"case-variant-name", []byte(`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"` + tg.forbidden +
			`","Name":"echo","arguments":{}}}`), nil, 400, "gateway:invalid-request"},
		{"nul-in-name", []byte(`{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"` + tg.forbidden +
			`\u0000","arguments":{}}}`), nil, 400, "gateway:invalid-request"},
		{"lone-surrogate", rtCall(7, "echo", fmt.Sprintf(`{%q:"a\ud800b"}`, tg.echoArg)), nil, 400, "gateway:invalid-request"},
		{"unsafe-integer", rtCall(8, "add", `{"a":9007199254740993,"b":1}`), nil, 400, "gateway:invalid-request"},
		{"number-overflow", rtCall(9, "add", `{"a":1e400,"b":1}`), nil, 400, "gateway:invalid-request"},
		{"batch", []byte(`[` + string(echo) + `,` + string(rtCall(10, tg.forbidden, `{}`)) + `]`), nil, 400,
			"gateway:invalid-request"},
		{"byte-order-mark", append([]byte("\xef\xbb\xbf"), rtCall(11, tg.forbidden, `{}`)...), nil, 400, "gateway:parse-error"},
		// Judged on what the server reads: the escapes are decoded before the policy sees the name.
		{"escaped-forbidden-name", []byte(`{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"` +
			fmt.Sprintf(`\u%04x`, tg.forbidden[0]) + tg.forbidden[1:] + `","arguments":{}}}`), nil, 200, "default-deny"},
		{"nested-traversal", rtCall(13, "read_file", `{"path":"a/..\u002f../etc/shadow"}`), nil, 200, "default-deny"},
		{"method-override-header", echo, hdr("X-Http-Method-Override", "DELETE"), 200, ""},
	} {
		before := len(aud.records())
		code, body := c.post(tc.body, tc.header)
		if code != tc.status || (tc.rule != "" && !strings.Contains(body, tc.rule)) {
			t.Errorf("%s: %d %s, want %d naming %s", tc.name, code, body, tc.status, tc.rule)
		}
		if tc.rule != "" && !hasDenySince(aud, before, tc.rule) {
			t.Errorf("%s: no deny record with rule %s", tc.name, tc.rule)
		}
		// The gateway keeps serving allowed calls.
		if code, body := c.post(echo, nil); code != http.StatusOK || !strings.Contains(body, "still here") {
			t.Fatalf("after %s, an allowed call: %d %s", tc.name, code, body)
		}
	}
	if tg.recorder == nil {
		return
	}
	calls, err := tg.recorder.Calls()
	if err != nil {
		t.Fatal(err)
	}
	for _, call := range calls {
		if call.Tool != "echo" || call.ContentType != "application/json" || !bytes.Contains(call.Arguments, []byte("still here")) {
			t.Errorf("the server ran %s %s (Content-Type %q): only the canonical echo calls should reach it",
				call.Tool, call.Arguments, call.ContentType)
		}
	}
}

func hasDenySince(aud *memAudit, from int, rule string) bool {
	for _, r := range aud.records()[from:] {
		if r.Decision == "deny" && r.Rule == rule {
			return true
		}
	}
	return false
}

// The forwarded body is the canonical form of what was judged: members sorted, escapes decoded, whitespace gone.
func TestForwardedBodyIsCanonical(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[3])
	body := []byte("{ \"params\" : {\"arguments\":{\"text\":\"h\\u0069\"}, \"name\":\"ech\\u006f\"},\n" +
		"\"method\":\"tools/call\", \"id\": 1, \"jsonrpc\":\"2.0\"}")
	r := e.mustCall(tokenA, string(body), nil)
	if r.Error != nil || !strings.Contains(r.text(), "echo: hi") {
		t.Fatalf("call: %s %+v", r.text(), r.Error)
	}
	got := e.up.lastBody()
	want := `{"id":1,"jsonrpc":"2.0","method":"tools/call","params":{"arguments":{"text":"hi"},"name":"echo"}}`
	if got != want {
		t.Errorf("forwarded %s\nwant      %s", got, want)
	}
	var v map[string]any
	if json.Unmarshal([]byte(got), &v) != nil {
		t.Error("forwarded body is not JSON")
	}
}

// Finding 10: an exact duplicate key is called a duplicate, a case variant a case variant.
func TestDuplicateKeyMessages(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]string{
		`{"jsonrpc":"2.0","id":1,"method":"ping","method":"ping"}`:   `the key "method" twice`,
		`{"jsonrpc":"2.0","id":1,"method":"ping","Method":"ping"}`:   `"method" and "Method", which differ only in case`,
		`{"jsonrpc":"2.0","id":1,"method":"ping","me\u0074hod":"x"}`: `the key "method" twice`,
	} {
		_, err := parseMessage([]byte(body))
		if err == nil || !strings.Contains(err.Reason, want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}

// Finding 2: nobody approves their own call, whatever the spelling; the approver is the authenticated identity and
// a body field never decides it; identities that differ only by spaces, invisible characters, doubled slashes or
// line breaks cannot be approvers at all.
func TestSelfApprovalSpellings(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[3], func(e *env) { e.pol.timeout = time.Minute })
	r := e.mustCall(tokenA, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"deploy","arguments":{"text":"x"}}}`,
		http.Header{HeaderApproval: {ApprovalNoWait}})
	if r.Error == nil || r.Error.Data.ApprovalID == "" {
		t.Fatalf("want a pending approval: %s %+v", r.text(), r.Error)
	}
	id := r.Error.Data.ApprovalID
	// An approver token whose identity is the agent's in another case.
	variant := filepath.Join(t.TempDir(), "approvers")
	os.WriteFile(variant, []byte("approver-token-variant-0123456789 LAB/Agent-A\n"), 0o600)
	e.opts.AdminAuthenticator, _ = NewStaticTokens(variant)
	gw, err := New(e.opts)
	if err != nil {
		t.Fatal(err)
	}
	admin := httptest.NewServer(gw.AdminHandler())
	t.Cleanup(admin.Close)
	req, _ := http.NewRequest(http.MethodPost, admin.URL+"/approvals/"+id, strings.NewReader(`{"approve": true}`))
	req.Header.Set("Authorization", "Bearer approver-token-variant-0123456789")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("case variant of the caller approving: %v %v", err, resp)
	}
	for _, by := range []string{agentA, " " + agentA, agentA + " ", "LAB/AGENT-A", "lab/agent-a\u200b", "lab//agent-a",
		"lab/agent-a\n", "bob"} {
		body, _ := json.Marshal(map[string]any{"approve": true, "by": by})
		if code := e.adminAs(approverTokens["alice"], http.MethodPost, "/approvals/"+id, string(body), nil); code != http.StatusForbidden {
			t.Errorf("alice naming %q in the body: status %d", by, code)
		}
	}
	if code := e.decide(id, true, agentA); code != http.StatusForbidden {
		t.Errorf("the agent's own approver token: status %d", code)
	}
	for _, name := range []string{" lab/agent-a", "lab/agent-a\u200b", "lab//agent-a", "lab/agent-a/", "a\nb", ""} {
		if err := ValidIdentity(name); err == nil {
			t.Errorf("identity %q accepted", name)
		}
	}
	if !e.aud.hasDeny("approval:self") || !e.aud.hasDeny("approval:by") {
		t.Errorf("refused approvals not audited: %s", e.aud.dump())
	}
	if code := e.decide(id, true, "alice"); code != http.StatusOK {
		t.Fatalf("alice approving: %d", code)
	}
	a, _ := e.gw.approvals.get(id)
	if a.DecidedBy != "alice" {
		t.Errorf("decided by %q", a.DecidedBy)
	}
}

// Finding 3: every admin route authenticates; the replicas' routes take the replicas' token only.
func TestAdminRoutesAuthenticate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[3], func(e *env) { e.opts.PeerToken = peerToken })
	key := "sha256:" + strings.Repeat("0", 64)
	routes := []struct {
		method, path, body string
		peersOnly          bool
	}{
		{http.MethodGet, "/approvals", "", false},
		{http.MethodPost, "/approvals/ap_x", `{"approve": true}`, false},
		{http.MethodGet, "/metrics", "", false},
		{http.MethodGet, "/approvals/by-key/" + key, "", true},
		{http.MethodPost, "/approvals/ap_x/use", `{"requestId": "rq_x"}`, true},
		{http.MethodGet, "/keys/" + strings.Repeat("0", 64), "", true},
	}
	for _, rt := range routes {
		for _, tok := range []string{"", tokenA, "Bearer", "not-a-token-of-anyone-0123"} {
			if code := e.adminAs(tok, rt.method, rt.path, rt.body, nil); code != http.StatusUnauthorized {
				t.Errorf("%s %s with %q: status %d", rt.method, rt.path, tok, code)
			}
		}
		code := e.adminAs(approverTokens["alice"], rt.method, rt.path, rt.body, nil)
		if rt.peersOnly && code != http.StatusForbidden || !rt.peersOnly && (code == http.StatusUnauthorized || code == http.StatusForbidden) {
			t.Errorf("%s %s as an approver: status %d", rt.method, rt.path, code)
		}
	}
	if !e.aud.hasDeny("gateway:admin-authentication") || !e.aud.hasDeny("gateway:admin-peers-only") {
		t.Errorf("refused admin calls not audited: %s", e.aud.dump())
	}
	// A replica may pass a decision on, naming the human; nobody else may name one.
	req, _ := http.NewRequest(http.MethodPost, e.admin.URL+"/approvals/ap_x", strings.NewReader(`{"approve": true}`))
	req.Header.Set("Authorization", "Bearer "+approverTokens["bob"])
	req.Header.Set(approverHeader, "alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound { // bob, not alice, and no such approval
		t.Errorf("a human naming another approver: %d", resp.StatusCode)
	}
}

// Finding 5, for the policy: a policy file that no longer loads refuses every call rather than keep the old one.
func TestBrokenPolicyRefusesCalls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[3])
	if r := e.mustCall(tokenA, echoCall, nil); r.Error != nil {
		t.Fatalf("before: %+v", r.Error)
	}
	e.gw.RefusePolicy(errors.New("line 3: bad"))
	if r := e.mustCall(tokenA, echoCall, nil); r.rule() != "gateway:no-policy" || e.up.runs("echo") != 1 {
		t.Fatalf("after a broken reload: %s %+v", r.text(), r.Error)
	}
	if err := e.gw.SetPolicy(e.pol); err != nil {
		t.Fatal(err)
	}
	if r := e.mustCall(tokenA, echoCall, nil); r.Error != nil {
		t.Fatalf("once it loads again: %+v", r.Error)
	}
}

// Finding 6: an agent cannot make the gateway hold without bound: pending approvals, sessions (the oldest is ended
// upstream), requests per minute with every MCP message counted, requests in flight.
func TestAgentLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[1], func(e *env) {
		e.opts.MaxPendingApprovals, e.opts.MaxSessionsPerAgent, e.opts.MaxRequestsPerMinute = 3, 2, 40
		e.pol.timeout = time.Minute
	})
	for i := range 4 {
		body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"deploy","arguments":{"text":"t%d"}}}`, i, i)
		r := e.mustCall(tokenA, body, http.Header{HeaderApproval: {ApprovalNoWait}})
		want := "approval:pending"
		if i == 3 {
			want = "limits:pendingApprovals"
		}
		if r.rule() != want {
			t.Errorf("nowait request %d: %s, want %s", i, r.rule(), want)
		}
	}
	if n := len(e.gw.approvals.pending(time.Now())); n != 3 {
		t.Errorf("%d approvals pending", n)
	}
	var sessions []string
	for range 3 {
		c := &rawClient{t: t, url: e.mcpURL()}
		c.initialize()
		sessions = append(sessions, c.session)
	}
	first := &rawClient{t: t, url: e.mcpURL(), session: sessions[0]}
	if code, _ := first.post([]byte(`{"jsonrpc":"2.0","id":9,"method":"tools/list"}`), nil); code != http.StatusNotFound {
		t.Errorf("the evicted session still works through the gateway: %d", code)
	}
	limited := 0
	for range 60 {
		c := &rawClient{t: t, url: e.mcpURL(), session: sessions[2]}
		if code, _ := c.post([]byte(`{"jsonrpc":"2.0","id":9,"method":"ping"}`), nil); code == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 || !e.aud.hasDeny("limits:requestsPerMinute") {
		t.Errorf("60 pings over a limit of 40 a minute: %d refused", limited)
	}
}

// Finding 7: a body that never arrives holds nothing for long — on an MCP stream request (refused at once), on the
// admin listener (the body timeout), and before authentication (401 at once, the body never read).
func TestStalledBodiesAnswered(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[0], func(e *env) { e.opts.BodyReadTimeout = time.Second })
	for _, tc := range []struct {
		name, addr, req string
		want            int
	}{
		{"unauthenticated", e.srv.Listener.Addr().String(), "POST /mcp/tools HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", 401},
		{"get-with-body", e.srv.Listener.Addr().String(), "GET /mcp/tools HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tokenA + "\r\nContent-Length: 1000\r\n\r\n{", 400},
		{"mcp-post", e.srv.Listener.Addr().String(), "POST /mcp/tools HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tokenA + "\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", 408},
	} {
		conn, err := net.Dial("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(15 * time.Second))
		io.WriteString(conn, tc.req)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil || resp.StatusCode != tc.want {
			t.Errorf("%s: %v %v, want %d", tc.name, err, resp, tc.want)
		}
		conn.Close()
	}
}

// Reached by the tool's own name, the gateway forwards only to the MCP endpoint the policy names, not to another
// route of the tool server (an admin or debug endpoint that would take a POST unjudged).
func TestHostRoutedPathConfined(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[3], func(e *env) { e.opts.HostRoutes = map[string]string{"tools.lab": "tools"} })
	e.pol.servers[0].URL = e.up.URL + "/mcp"
	if err := e.gw.SetPolicy(e.pol); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"/mcp": 200, "/mcp/": 200, "/admin/reset": 404, "/mcp/../admin": 404, "/%6dcp": 404} {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		req.Host = "tools.lab"
		req.Header.Set("Authorization", "Bearer "+tokenA)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if (want == 404) != (resp.StatusCode == http.StatusNotFound) || (want == 200 && resp.StatusCode/100 != 2) {
			t.Errorf("%s: status %d, want %d", path, resp.StatusCode, want)
		}
	}
	if !e.aud.hasDeny("gateway:unknown-path") {
		t.Error("refusal not audited")
	}
}
