package gateway

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agops/agops/internal/policy"
)

// aggEnv is a gateway whose policy has an aggregate, "kit", over two real MCP servers: "search" (search, and an
// echo of its own) and "tools" (echo, read_file, delete_all, deploy, slow). Callers reach kit by the name Docker's
// MCP gateway had, mcp-gateway, or by path.
type aggEnv struct {
	*env
	search *upstreamServer
}

func newAggEnv(t *testing.T) *aggEnv {
	t.Helper()
	search := newSearchUpstream(t)
	e := newEnv(t, upstreamModes[0], func(e *env) {
		e.opts.HostRoutes = map[string]string{"mcp-gateway": "kit"}
	})
	e.pol.servers = []policy.Server{
		{Name: "kit", Kind: "mcp", Members: []string{"search", "tools"}},
		{Name: "search", URL: search.URL, Kind: "mcp"},
		{Name: "tools", URL: e.up.URL, Kind: "mcp"},
	}
	e.pol.grants[grantKey(agentA, "search", "search")] = policy.Allow
	if err := e.gw.SetPolicy(e.pol); err != nil {
		t.Fatal(err)
	}
	return &aggEnv{env: e, search: search}
}

// newSearchUpstream is a real go-sdk server with a tool of the same name as one of tools' (echo).
func newSearchUpstream(t testing.TB) *upstreamServer {
	t.Helper()
	u := &upstreamServer{ran: map[string]int{}}
	srv := mcp.NewServer(&mcp.Implementation{Name: "search", Version: "v1"}, nil)
	for _, name := range []string{"search", "echo"} {
		mcp.AddTool(srv, &mcp.Tool{Name: name}, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
			u.count(name)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "search's " + name + ": " + in.Text}}}, nil, nil
		})
	}
	u.Server = httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	t.Cleanup(u.Close)
	return u
}

// client dials the gateway whatever the host, with token.
func (ae *aggEnv) client(token string) *http.Client {
	addr := ae.srv.Listener.Addr().String()
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	ae.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: bearer{token, tr}}
}

// connectAs opens a session on the aggregate at endpoint, over Streamable HTTP or, with sse, HTTP+SSE.
func (ae *aggEnv) connectAs(token, endpoint string, sse bool) (*mcp.ClientSession, error) {
	ctx, cancel := context.WithCancel(context.Background())
	ae.t.Cleanup(cancel)
	var tr mcp.Transport = &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: ae.client(token), MaxRetries: -1}
	if sse {
		tr = &mcp.SSEClientTransport{Endpoint: endpoint, HTTPClient: ae.client(token)}
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "v1"}, nil).Connect(ctx, tr, nil)
	if err == nil {
		ae.t.Cleanup(func() { cs.Close() })
	}
	return cs, err
}

func listed(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	var names []string
	for tool, err := range cs.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

// TestAggregateServesItsMembers: over Streamable HTTP by path and by Docker's name, and over HTTP+SSE as Docker's
// examples (--transport=sse) call it, an agent sees the union of what each member shows it — a tool of the same name
// as one the agent may not call on another member comes from the member where it may — and each call runs on the
// member that has the tool, judged and audited as a call of that agent to that member; a tool it may not call is
// neither listed nor run.
func TestAggregateServesItsMembers(t *testing.T) {
	ae := newAggEnv(t)
	_, port, _ := net.SplitHostPort(ae.srv.Listener.Addr().String())
	for _, tc := range []struct {
		name, endpoint string
		sse            bool
	}{
		{"streamable by path", ae.srv.URL + "/mcp/kit", false},
		{"streamable by name", "http://mcp-gateway:" + port + "/mcp", false},
		{"HTTP+SSE by name", "http://mcp-gateway:" + port + "/sse", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := ae.connectAs(tokenA, tc.endpoint, tc.sse)
			if err != nil {
				t.Fatal(err)
			}
			// agent-a may call search on search, and echo, read_file and deploy (with approval) on tools.
			if got, want := listed(t, cs), []string{"deploy", "echo", "read_file", "search"}; !slices.Equal(got, want) {
				t.Fatalf("tools %q, want %q", got, want)
			}
			echoes, searches := ae.up.runs("echo"), ae.search.runs("search")
			res, err := callTool(cs, "echo", map[string]any{"text": "hi"})
			if err != nil || res.IsError || resultText(t, res) != "echo: hi" {
				t.Fatalf("echo: %v %+v", err, res)
			}
			if ae.up.runs("echo") != echoes+1 || ae.search.runs("echo") != 0 {
				t.Errorf("echo ran on the wrong member: tools %d, search %d", ae.up.runs("echo"), ae.search.runs("echo"))
			}
			res, err = callTool(cs, "search", map[string]any{"text": "q"})
			if err != nil || res.IsError || resultText(t, res) != "search's search: q" || ae.search.runs("search") != searches+1 {
				t.Fatalf("search: %v %+v", err, res)
			}
			if _, err := callTool(cs, "delete_all", map[string]any{}); err == nil {
				t.Error("delete_all, granted to nobody, was called through the aggregate")
			}
			if ae.up.runs("delete_all") != 0 {
				t.Errorf("delete_all ran %d times", ae.up.runs("delete_all"))
			}
		})
	}
	allows := 0
	for _, r := range ae.aud.records() {
		if r.Event == "decision" && r.Decision == "allow" && r.Tool != "" {
			allows++
			if r.Caller != agentA || (r.Server != "tools" && r.Server != "search") {
				t.Errorf("a call through the aggregate is audited as %s on %s, want agent-a on the member", r.Caller, r.Server)
			}
		}
	}
	if allows != 6 {
		t.Errorf("%d allowed calls audited, want 6 (echo and search, three ways)", allows)
	}
}

// TestAggregateGivesNoAccess: another agent sees and runs only what it may call on the members, and a session of
// agent-a is worth nothing to it — its requests on that session go to the members with its own token, which the
// members' sessions (agent-a's) refuse.
func TestAggregateGivesNoAccess(t *testing.T) {
	ae := newAggEnv(t)
	endpoint := ae.srv.URL + "/mcp/kit"
	b, err := ae.connectAs(tokenB, endpoint, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := listed(t, b); !slices.Equal(got, []string{"read_file"}) {
		t.Fatalf("agent-b sees %q, want read_file alone", got)
	}
	if _, err := callTool(b, "echo", map[string]any{"text": "x"}); err == nil {
		t.Error("agent-b called echo through the aggregate")
	}
	a, err := ae.connectAs(tokenA, endpoint, false)
	if err != nil {
		t.Fatal(err)
	}
	before := ae.up.runs("echo")
	body := `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"text":"borrowed"}}}`
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", a.ID())
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	resp, err := ae.client(tokenB).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	resp.Body.Close()
	t.Logf("agent-b on agent-a's session: %d %s", resp.StatusCode, strings.TrimSpace(out.String()))
	if ae.up.runs("echo") != before || strings.Contains(out.String(), "echo: borrowed") {
		t.Fatalf("agent-b ran echo on agent-a's session: %s", out.String())
	}
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(out.String(), "gateway:session") {
		t.Errorf("agent-b on agent-a's session: %d, want 404 gateway:session", resp.StatusCode)
	}
	for _, r := range ae.aud.records() {
		if r.Caller == agentB && r.Decision == "allow" && r.Tool == "echo" {
			t.Errorf("an allow record for agent-b's echo: %+v", r)
		}
	}
	// agent-a's session is untouched.
	if res, err := callTool(a, "echo", map[string]any{"text": "mine"}); err != nil || resultText(t, res) != "echo: mine" {
		t.Errorf("agent-a's session after agent-b's try: %v %+v", err, res)
	}
}

// TestAggregateFollowsThePolicy: a grant added while a session is open shows in its next tools/list and can be
// called; the tools/list is the members' under the policy in force.
func TestAggregateFollowsThePolicy(t *testing.T) {
	ae := newAggEnv(t)
	b, err := ae.connectAs(tokenB, ae.srv.URL+"/mcp/kit", false)
	if err != nil {
		t.Fatal(err)
	}
	if got := listed(t, b); slices.Contains(got, "search") {
		t.Fatalf("agent-b sees search before it is granted: %q", got)
	}
	ae.pol.mu.Lock()
	ae.pol.grants[grantKey(agentB, "search", "search")] = policy.Allow
	ae.pol.mu.Unlock()
	if got := listed(t, b); !slices.Contains(got, "search") {
		t.Fatalf("agent-b does not see search once granted: %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := b.CallTool(ctx, &mcp.CallToolParams{Name: "search", Arguments: map[string]any{"text": "now"}})
	if err != nil || res.IsError {
		t.Fatalf("search once granted: %v %+v", err, res)
	}
}

// TestAggregateAttacks sends the raw attack suite to the aggregate, on a session of agent-a: whatever the front's
// parser makes of a message (the MCP SDK's, which folds key case and keeps the last of duplicate keys), the member
// is sent a new request for what the front will run, and judged on that: delete_all, which nobody may call, never
// runs, and no call is allowed that the policy does not grant. A smuggled name or tool aimed at the front's reading
// reaches nothing the agent may not call directly.
func TestAggregateAttacks(t *testing.T) {
	ae := newAggEnv(t)
	endpoint := ae.srv.URL + "/mcp/kit"
	a, err := ae.connectAs(tokenA, endpoint, false)
	if err != nil {
		t.Fatal(err)
	}
	attacks := rawAttacks()
	attacks = append(attacks,
		rawAttack{name: "case-folded-name", token: tokenA,
			body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","NAME":"delete_all","arguments":{}}}`},
		rawAttack{name: "unicode-escaped-name", token: tokenA,
			body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete\u005fall","arguments":{}}}`},
		rawAttack{name: "tool-name-case-variant", token: tokenA,
			body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"Delete_All","arguments":{}}}`},
		rawAttack{name: "member-tool-by-member-prefix", token: tokenA,
			body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"tools:delete_all","arguments":{}}}`},
	)
	for _, at := range attacks {
		t.Run(at.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(at.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Mcp-Session-Id", a.ID())
			req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
			for k, v := range at.header {
				req.Header.Set(k, v)
			}
			client := http.DefaultClient
			if at.token != "" {
				client = &http.Client{Transport: bearer{at.token, http.DefaultTransport}}
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := make([]byte, 1<<16)
			n, _ := io.ReadFull(resp.Body, body)
			resp.Body.Close()
			if strings.Contains(string(body[:n]), "delete_all done") || ae.up.runs("delete_all") != 0 {
				t.Fatalf("delete_all ran: %d %s", resp.StatusCode, body[:n])
			}
		})
	}
	for _, r := range ae.aud.records() {
		if r.Decision == "allow" && r.Tool != "" && r.Tool != "echo" && r.Tool != "search" {
			t.Errorf("an allow record for %s on %s by %s", r.Tool, r.Server, r.Caller)
		}
	}
	// The session still serves its agent.
	if res, err := callTool(a, "echo", map[string]any{"text": "after"}); err != nil || resultText(t, res) != "echo: after" {
		t.Errorf("after the attacks: %v %+v", err, res)
	}
}
