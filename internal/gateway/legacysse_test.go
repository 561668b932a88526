package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agops/agops/internal/mcptest"
	"github.com/agops/agops/internal/policy"
)

// sseUpstream is a real go-sdk MCP server speaking the HTTP+SSE transport (2024-11-05) at /sse.
type sseUpstream struct {
	*httptest.Server
	mu  sync.Mutex
	ran map[string]int
}

func newSSEUpstream(t testing.TB) *sseUpstream {
	t.Helper()
	u := &sseUpstream{ran: map[string]int{}}
	srv := mcp.NewServer(&mcp.Implementation{Name: "tools", Version: "v1"}, nil)
	count := func(name string) {
		u.mu.Lock()
		u.ran[name]++
		u.mu.Unlock()
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		count("echo")
		return &mcp.CallToolResult{Meta: mcp.Meta{"usage": map[string]any{"totalTokens": 7}},
			Content: []mcp.Content{&mcp.TextContent{Text: "echo: " + in.Text}}}, nil, nil
	})
	for _, name := range []string{"read_file", "delete_all"} {
		mcp.AddTool(srv, &mcp.Tool{Name: name}, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
			count(name)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + " done"}}}, nil, nil
		})
	}
	h := mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	mux := http.NewServeMux()
	mux.Handle("/sse", h)
	u.Server = httptest.NewServer(mux)
	t.Cleanup(u.Close)
	return u
}

func (u *sseUpstream) runs(tool string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.ran[tool]
}

// sseEnv is a gateway in front of an HTTP+SSE tool server, reached at /mcp/tools or, host-routed, as tools:PORT/sse.
type sseEnv struct {
	*env
	sse        *sseUpstream
	hostRouted bool
}

func newSSEEnv(t *testing.T, hostRouted bool) *sseEnv {
	t.Helper()
	sse := newSSEUpstream(t)
	e := newEnv(t, upstreamModes[0], func(e *env) {
		if hostRouted {
			e.opts.HostRoutes = map[string]string{"tools": "tools"}
		}
	})
	e.pol.servers[0].URL = sse.URL + "/sse"
	if err := e.gw.SetPolicy(e.pol); err != nil {
		t.Fatal(err)
	}
	return &sseEnv{env: e, sse: sse, hostRouted: hostRouted}
}

// url is where an agent finds the tool's SSE endpoint through the gateway.
func (se *sseEnv) url() string {
	if se.hostRouted {
		_, port, _ := net.SplitHostPort(se.srv.Listener.Addr().String())
		return "http://tools:" + port + "/sse"
	}
	return se.srv.URL + "/mcp/tools"
}

// client sends token, and dials "tools" at the gateway.
func (se *sseEnv) client(token string) *http.Client {
	addr := se.srv.Listener.Addr().String()
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	se.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: bearer{token, tr}}
}

func (se *sseEnv) connectSSE(token string) (*mcp.ClientSession, error) {
	client := mcp.NewClient(&mcp.Implementation{Name: "legacy-agent", Version: "v1"}, nil)
	// The go-sdk's HTTP+SSE client keeps its stream for as long as the context Connect was given.
	ctx, cancel := context.WithCancel(context.Background())
	se.t.Cleanup(cancel)
	cs, err := client.Connect(ctx, &mcp.SSEClientTransport{Endpoint: se.url(), HTTPClient: se.client(token)}, nil)
	if err == nil {
		se.t.Cleanup(func() { cs.Close() })
	}
	return cs, err
}

// TestLegacySSEGoverned: an agent speaking the HTTP+SSE transport is governed as over Streamable HTTP, by path and by
// the tool's own name: its tool list is filtered on the stream, an allowed call runs and its result (and tokens)
// reach it on the stream, a forbidden one is refused with the rule's error — on the stream, where the client waits
// for it — and never reaches the tool server; every decision is audited as the agent.
func TestLegacySSEGoverned(t *testing.T) {
	t.Parallel()
	for _, hostRouted := range []bool{false, true} {
		t.Run(fmt.Sprintf("host-routed=%v", hostRouted), func(t *testing.T) {
			t.Parallel()
			se := newSSEEnv(t, hostRouted)
			cs, err := se.connectSSE(tokenA)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			lr, err := cs.ListTools(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tool := range lr.Tools {
				names = append(names, tool.Name)
			}
			if !slices.Contains(names, "echo") || slices.Contains(names, "delete_all") {
				t.Errorf("tools/list on the stream: %v, want agent-a's tools only", names)
			}
			res, err := callTool(cs, "echo", map[string]any{"text": "over sse"})
			if err != nil {
				t.Fatal(err)
			}
			if got := resultText(t, res); got != "echo: over sse" {
				t.Errorf("result %q", got)
			}
			_, err = callTool(cs, "delete_all", map[string]any{"text": "x"})
			if code, data, ok := ErrorDataOf(err); !ok || code != CodeDenied || data.Rule != "default-deny" {
				t.Errorf("delete_all: %v (code %d, data %+v), want the policy's refusal", err, code, data)
			}
			if se.sse.runs("delete_all") != 0 || se.sse.runs("echo") != 1 {
				t.Errorf("the tool server ran %v", se.sse.ran)
			}
			allow, deny := se.aud.find("decision", "allow"), se.aud.find("decision", "deny")
			if len(allow) != 1 || allow[0].Caller != agentA || allow[0].Tool != "echo" || len(deny) != 1 || deny[0].Tool != "delete_all" {
				t.Fatalf("audit: %s", se.aud.dump())
			}
			if !eventually(func() bool {
				for _, r := range se.aud.find("result", "") {
					if r.Tokens == 7 && r.Caller == agentA {
						return true
					}
				}
				return false
			}) {
				t.Errorf("the result's tokens, delivered on the stream, were not counted: %s", se.aud.dump())
			}
		})
	}
}

// base is the scheme and host of url().
func (se *sseEnv) base() string {
	u := se.url()
	return u[:strings.Index(u[len("http://"):], "/")+len("http://")]
}

func (se *sseEnv) postTo(token, path, body string) int {
	se.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, se.base()+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := se.client(token).Do(req)
	if err != nil {
		se.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestLegacySSESessionAttacks: the endpoint the gateway announces is the agent's alone. Another agent, a guessed or
// ended session, the tool server's own session in the query, or another query beside the gateway's: each refused
// before anything reaches the tool server.
func TestLegacySSESessionAttacks(t *testing.T) {
	t.Parallel()
	for _, hostRouted := range []bool{false, true} {
		t.Run(fmt.Sprintf("host-routed=%v", hostRouted), func(t *testing.T) {
			t.Parallel()
			se := newSSEEnv(t, hostRouted)
			s := se.openSession(tokenA)
			endpoint := s.endpoint
			if strings.Contains(endpoint, "sessionid") || !strings.Contains(endpoint, legacySessionParam+"=") {
				t.Fatalf("announced endpoint %q: want the gateway's session, never the tool server's", endpoint)
			}
			call := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{"text":"x"}}}`
			if code := se.postTo(tokenB, endpoint, call); code != http.StatusNotFound {
				t.Errorf("agent-b posting to agent-a's session: %d, want 404", code)
			}
			path, _, _ := strings.Cut(endpoint, "?")
			for _, q := range []string{legacySessionParam + "=guessed", legacySessionParam + "=", "sessionid=abc",
				strings.TrimPrefix(endpoint, path+"?") + "&sessionid=abc",
				strings.TrimPrefix(endpoint, path+"?") + "&" + strings.TrimPrefix(endpoint, path+"?")} {
				code := se.postTo(tokenA, path+"?"+q, call)
				// Path-routed, a query other than the gateway's session is not passed on (the server's URL is the
				// policy's): a plain Streamable HTTP POST, which this server does not take. Either way, no tool runs.
				if code/100 == 2 && q != "sessionid=abc" || hostRouted && code != http.StatusNotFound {
					t.Errorf("POST ?%s: %d", q, code)
				}
			}
			if se.sse.runs("read_file") != 0 {
				t.Fatalf("a refused message reached the tool server: %v", se.sse.ran)
			}
			if code := se.postTo(tokenA, endpoint, call); code != http.StatusAccepted {
				t.Errorf("agent-a posting to its own session: %d, want 202", code)
			}
			// The tool server runs a message after its 202, on the session: wait for it before ending the stream,
			// which would otherwise end the session under the call (seen in CI on a loaded machine).
			if !eventually(func() bool { return se.sse.runs("read_file") == 1 }) {
				t.Errorf("the tool server ran %v, want read_file once", se.sse.ran)
			}
			s.close()
			if !eventually(func() bool { return se.postTo(tokenA, endpoint, call) == http.StatusNotFound }) {
				t.Error("the session outlived its stream")
			}
		})
	}
}

// TestLegacySSEForeignEndpoint: a tool server that announces an endpoint on another host would have agents send
// their messages past the gateway; the gateway ends the stream instead.
func TestLegacySSEForeignEndpoint(t *testing.T) {
	t.Parallel()
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event: endpoint\ndata: http://elsewhere.example/messages?sessionid=1\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(evil.Close)
	e := newEnv(t, upstreamModes[0])
	e.pol.servers[0].URL = evil.URL + "/sse"
	if err := e.gw.SetPolicy(e.pol); err != nil {
		t.Fatal(err)
	}
	se := &sseEnv{env: e}
	client := mcp.NewClient(&mcp.Implementation{Name: "legacy-agent", Version: "v1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cs, err := client.Connect(ctx, &mcp.SSEClientTransport{Endpoint: se.url(), HTTPClient: se.client(tokenA)}, nil); err == nil {
		cs.Close()
		t.Fatal("connected through an endpoint on another host")
	}
}

// sseSession is an HTTP+SSE session opened through the gateway by raw HTTP, after the MCP handshake: its endpoint,
// the data of the message events that arrive on its stream, and how to end the stream.
type sseSession struct {
	endpoint string
	events   chan string
	close    func() // ends the stream
}

func (se *sseEnv) openSession(token string) *sseSession {
	se.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	se.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, se.url(), nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := se.client(token).Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		se.t.Fatalf("GET %s: %v %v", se.url(), resp, err)
	}
	s := &sseSession{events: make(chan string, 64), close: cancel}
	endpoint := make(chan string, 1)
	go func() {
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		var event string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				close(s.events)
				return
			}
			line = strings.TrimSpace(line)
			if v, ok := strings.CutPrefix(line, "event:"); ok {
				event = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "data:"); ok {
				if event == "endpoint" {
					endpoint <- strings.TrimSpace(v)
				} else {
					s.events <- strings.TrimSpace(v)
				}
			}
		}
	}()
	select {
	case s.endpoint = <-endpoint:
	case <-time.After(10 * time.Second):
		se.t.Fatal("no endpoint event")
	}
	for _, m := range []string{
		`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
	} {
		if code := se.postTo(token, s.endpoint, m); code != http.StatusAccepted {
			se.t.Fatalf("handshake: %d", code)
		}
	}
	<-s.events // the answer to initialize
	return s
}

// TestAttacksRefusedOverHTTPSSE sends every raw attack of TestAttacksRefusedOverRawHTTP as a message of an HTTP+SSE
// session: each is refused with its rule — in the POST's answer, or on the stream with the POST accepted — audited,
// never reaches a tool, and the session still serves.
func TestAttacksRefusedOverHTTPSSE(t *testing.T) {
	t.Parallel()
	for _, tc := range rawAttacks() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			se := newSSEEnv(t, false)
			s := se.openSession(tokenA)
			req, _ := http.NewRequest(http.MethodPost, se.base()+s.endpoint, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusAccepted {
				select {
				case ev := <-s.events:
					body = []byte(ev)
				case <-time.After(10 * time.Second):
					t.Fatal("POST accepted, and no answer on the stream")
				}
			} else if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d or 202 with the refusal on the stream (%s)", resp.StatusCode, tc.status, body)
			}
			code, rule := rpcErrorOf(t, body)
			if code != tc.code || rule != tc.rule {
				t.Errorf("error code %d rule %q, want %d %q (%s)", code, rule, tc.code, tc.rule, body)
			}
			if !se.aud.hasDeny(tc.rule) {
				t.Errorf("no deny record for %s: %s", tc.rule, se.aud.dump())
			}
			se.sse.mu.Lock()
			ran := len(se.sse.ran)
			se.sse.mu.Unlock()
			if ran != 0 {
				t.Errorf("tools ran: %v", se.sse.ran)
			}
			// The session still serves: an allowed call runs, its answer on the stream.
			if code := se.postTo(tokenA, s.endpoint, echoCall); code != http.StatusAccepted {
				t.Fatalf("an allowed call after the attack: %d", code)
			}
			select {
			case ev := <-s.events:
				if !strings.Contains(ev, "echo: hi") {
					t.Errorf("the allowed call's answer: %s", ev)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no answer to the allowed call")
			}
		})
	}
}

// TestLegacySSEReferenceServer: the gateway in front of a server that is not written with the Go SDK — the MCP
// reference server from npm, in its HTTP+SSE mode (endpoint /message?sessionId=...) — through the Go SDK's HTTP+SSE
// client: the tool list is filtered on the stream, an allowed call is answered by the server, a forbidden one is
// refused; then the raw attack suite on one session, each refused with its rule, the session serving afterwards.
func TestLegacySSEReferenceServer(t *testing.T) {
	if testing.Short() {
		t.Skip("installs the reference server from npm")
	}
	ref := mcptest.StartEverythingSSE(t)
	e := newEnv(t, upstreamModes[0])
	e.pol.servers[0].URL = ref.URL
	e.pol.grants[grantKey(agentA, "tools", "echo")] = policy.Allow // the reference server's echo takes {message}
	if err := e.gw.SetPolicy(e.pol); err != nil {
		t.Fatal(err)
	}
	se := &sseEnv{env: e}
	cs, err := se.connectSSE(tokenA)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tool, err := range cs.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tool.Name)
	}
	if !slices.Contains(names, "echo") || slices.ContainsFunc(names, func(n string) bool { return n != "echo" && n != "read_file" && n != "deploy" }) {
		t.Errorf("tools on the stream %q: want only those agent-a may call", names)
	}
	res, err := callTool(cs, "echo", map[string]any{"message": "through the gateway"})
	if err != nil || res.IsError || !strings.Contains(resultText(t, res), "through the gateway") {
		t.Fatalf("echo: %v %+v", err, res)
	}
	if _, err := callTool(cs, "get-sum", map[string]any{"a": 1, "b": 2}); err == nil {
		t.Error("a tool agent-a may not call was answered")
	}
	s := se.openSession(tokenA)
	for _, tc := range rawAttacks() {
		if tc.token != tokenA || tc.header["Mcp-Session-Id"] != "" {
			continue // authentication and Streamable HTTP sessions: covered by TestAttacksRefusedOverHTTPSSE
		}
		req, _ := http.NewRequest(http.MethodPost, se.base()+s.endpoint, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		resp, err := se.client(tc.token).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusAccepted {
			ev, ok := nextAnswer(s, 10*time.Second)
			if !ok {
				t.Fatalf("%s: POST accepted, and no answer on the stream", tc.name)
			}
			body = []byte(ev)
		}
		if code, rule := rpcErrorOf(t, body); code != tc.code || rule != tc.rule {
			t.Errorf("%s: error code %d rule %q, want %d %q (%s)", tc.name, code, rule, tc.code, tc.rule, body)
		}
	}
	call := `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"message":"after"}}}`
	if code := se.postTo(tokenA, s.endpoint, call); code != http.StatusAccepted {
		t.Fatalf("an allowed call after the attacks: %d", code)
	}
	ev, ok := nextAnswer(s, 10*time.Second)
	if !ok || !strings.Contains(ev, "after") {
		t.Errorf("the allowed call's answer after the attacks: %q", ev)
	}
}

// nextAnswer is the next answer on an HTTP+SSE session's stream, past the messages the server sends of its own
// (notifications such as tools/list_changed, which the reference server sends when a session starts).
func nextAnswer(s *sseSession, within time.Duration) (string, bool) {
	deadline := time.After(within)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return "", false
			}
			var msg map[string]json.RawMessage
			if json.Unmarshal([]byte(ev), &msg) != nil || msg["method"] == nil {
				return ev, true
			}
		case <-deadline:
			return "", false
		}
	}
}

// TestLegacySSEStreamNotRead: an agent that opens its HTTP+SSE stream and stops reading it while answers pile up
// loses that session once a write to it has waited StreamWriteTimeout: the relay does not hang, a POST for the
// session is then refused at once, and another agent's session is served throughout.
func TestLegacySSEStreamNotRead(t *testing.T) {
	t.Parallel()
	sse := newSSEUpstream(t)
	e := newEnv(t, upstreamModes[0], func(e *env) { e.opts.StreamWriteTimeout = time.Second })
	e.pol.servers[0].URL = sse.URL + "/sse"
	if err := e.gw.SetPolicy(e.pol); err != nil {
		t.Fatal(err)
	}
	se := &sseEnv{env: e, sse: sse}
	// agent-a reads its stream's endpoint event and nothing after it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, se.url(), nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := se.client(tokenA).Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %v %v", resp, err)
	}
	defer resp.Body.Close()
	br := bufio.NewReaderSize(resp.Body, 512)
	var endpoint string
	for endpoint == "" {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "data:"); ok {
			endpoint = strings.TrimSpace(v)
		}
	}
	for _, msg := range []string{
		`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"stops-reading","version":"1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
	} {
		if code := se.postTo(tokenA, endpoint, msg); code != http.StatusAccepted {
			t.Fatalf("handshake: %d", code)
		}
	}
	b := se.openSession(tokenB)
	// Answers of 512 KiB each, unread, fill the connection's buffers; the session must end, not hang.
	big := strings.Repeat("x", 512<<10)
	call := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"` + big + `"}}}`
	client := se.client(tokenA)
	client.Timeout = 20 * time.Second
	deadline := time.Now().Add(60 * time.Second)
	status := http.StatusAccepted
	for status == http.StatusAccepted {
		if time.Now().After(deadline) {
			t.Fatal("the unread stream's session still accepts calls after a minute")
		}
		req, _ := http.NewRequest(http.MethodPost, se.base()+endpoint, strings.NewReader(call))
		req.Header.Set("Content-Type", "application/json")
		r, err := client.Do(req)
		if err != nil {
			t.Fatalf("a POST for the unread stream's session hung: %v", err)
		}
		r.Body.Close()
		status = r.StatusCode
	}
	if status != http.StatusNotFound {
		t.Errorf("the session's POSTs end with %d, want 404 once the session is gone", status)
	}
	t.Logf("%d answers of 512 KiB piled up before the session ended", sse.runs("echo"))
	// agent-b was served throughout.
	if code := se.postTo(tokenB, b.endpoint, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"read_file","arguments":{"text":"x"}}}`); code != http.StatusAccepted {
		t.Fatalf("agent-b's call: %d", code)
	}
	if ev, ok := nextAnswer(b, 10*time.Second); !ok || !strings.Contains(ev, "read_file done") {
		t.Errorf("agent-b's answer: %q", ev)
	}
}
