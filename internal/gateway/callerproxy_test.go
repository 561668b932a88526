package gateway

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// proxyEnv is a gateway reached by the tool's own name ("tools", --host-route) and, in front of it, the caller
// proxy of an agent's pod, listening on a loopback address of its own as the pod's hostAliases would make it.
type proxyEnv struct {
	*env
	proxy     *CallerProxy
	srv       *httptest.Server // the proxy
	tokenFile string
}

func newProxyEnv(t *testing.T, mode upstreamMode, token string) *proxyEnv {
	t.Helper()
	e := newEnv(t, mode, func(e *env) { e.opts.HostRoutes = map[string]string{"tools": "tools"} })
	pe := &proxyEnv{env: e, tokenFile: filepath.Join(t.TempDir(), "token")}
	if token != "" {
		pe.writeToken(token)
	}
	p, err := NewCallerProxy(CallerProxyOptions{Gateway: e.srv.URL, TokenFile: pe.tokenFile, TokenRefresh: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	pe.proxy = p
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no second loopback address here: %v", err)
	}
	pe.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: p}}
	pe.srv.Start()
	t.Cleanup(pe.srv.Close)
	return pe
}

func (pe *proxyEnv) writeToken(token string) {
	pe.t.Helper()
	if err := os.WriteFile(pe.tokenFile, []byte(token+"\n"), 0o600); err != nil {
		pe.t.Fatal(err)
	}
}

// toolURL is the URL the agent keeps from Compose: the tool's name and port, which resolve to the proxy.
func (pe *proxyEnv) toolURL() string {
	_, port, _ := net.SplitHostPort(pe.srv.Listener.Addr().String())
	return "http://tools:" + port + "/mcp"
}

// agentClient dials "tools" at the proxy's address, as the pod's /etc/hosts makes every client do, and sends token
// if it is not empty (an unchanged agent sends none).
func (pe *proxyEnv) agentClient(token string) *http.Client {
	addr := pe.srv.Listener.Addr().String()
	tr := &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		if h, _, _ := net.SplitHostPort(a); h != "tools" {
			pe.t.Errorf("the agent dialed %s", a)
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	pe.t.Cleanup(tr.CloseIdleConnections)
	if token == "" {
		return &http.Client{Transport: tr}
	}
	return &http.Client{Transport: bearer{token, tr}}
}

func (pe *proxyEnv) connectAgent(token string) (*mcp.ClientSession, error) {
	client := mcp.NewClient(&mcp.Implementation{Name: "unchanged-agent", Version: "v1"}, nil)
	tr := &mcp.StreamableClientTransport{Endpoint: pe.toolURL(), MaxRetries: -1, HTTPClient: pe.agentClient(token)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, tr, nil)
	if err == nil {
		pe.t.Cleanup(func() { cs.Close() })
	}
	return cs, err
}

// An agent that sends no token calls its tool at the Compose URL; the gateway judges every call as the pod's
// identity, in every transport mode of the tool server.
func TestCallerProxyUnchangedAgent(t *testing.T) {
	t.Parallel()
	for _, mode := range upstreamModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			pe := newProxyEnv(t, mode, tokenA)
			cs, err := pe.connectAgent("")
			if err != nil {
				t.Fatal(err)
			}
			lr, err := cs.ListTools(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tool := range lr.Tools {
				names = append(names, tool.Name)
			}
			// agent-a may use echo and read_file, and deploy with approval: the list is filtered as for agent-a.
			if !slices.Contains(names, "echo") || slices.Contains(names, "delete_all") || slices.Contains(names, "slow") {
				t.Errorf("tools/list through the proxy: %v", names)
			}
			res, err := callTool(cs, "echo", map[string]any{"text": "hi"})
			if err != nil {
				t.Fatal(err)
			}
			if got := resultText(t, res); got != "echo: hi" {
				t.Errorf("result %q", got)
			}
			if _, err := callTool(cs, "delete_all", map[string]any{"text": "x"}); rpcCode(err) != CodeDenied {
				t.Errorf("a tool outside the agent's grants: %v, want denied", err)
			}
			if pe.up.runs("delete_all") != 0 {
				t.Error("the forbidden call reached the tool server")
			}
			allow, deny := pe.aud.find("decision", "allow"), pe.aud.find("decision", "deny")
			if len(allow) != 1 || allow[0].Caller != agentA || len(deny) != 1 || deny[0].Caller != agentA {
				t.Fatalf("audit, want one allow and one deny as %s: %s", agentA, pe.aud.dump())
			}
			pe.up.mu.Lock()
			h := pe.up.headers
			pe.up.mu.Unlock()
			if h.Get("Authorization") != "" || h.Get(agentHeader) != agentA {
				t.Errorf("the tool server got Authorization %q, %s %q", h.Get("Authorization"), agentHeader, h.Get(agentHeader))
			}
		})
	}
}

// An agent that sends a token of its own keeps being that agent: the proxy adds nothing.
func TestCallerProxyKeepsTheAgentsOwnToken(t *testing.T) {
	t.Parallel()
	pe := newProxyEnv(t, upstreamModes[0], tokenA)
	cs, err := pe.connectAgent(tokenB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := callTool(cs, "read_file", map[string]any{"text": "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := callTool(cs, "echo", map[string]any{"text": "x"}); rpcCode(err) != CodeDenied {
		t.Errorf("echo as %s: %v, want denied (only %s may)", agentB, err, agentA)
	}
	if d := pe.aud.find("decision", ""); len(d) != 2 || d[0].Caller != agentB || d[1].Caller != agentB {
		t.Errorf("decisions, want both as %s: %s", agentB, pe.aud.dump())
	}
	// A wrong token of its own is not replaced by the pod's: 401, as without the proxy.
	req, _ := http.NewRequest(http.MethodPost, pe.toolURL(), strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := pe.agentClient("not-a-token-of-anyone-0123").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong token of the agent's own: status %d, want 401", resp.StatusCode)
	}
}

// The kubelet replaces the token before it expires: the proxy sends the new one, and never forwards a call without
// one.
func TestCallerProxyTokenFile(t *testing.T) {
	t.Parallel()
	pe := newProxyEnv(t, upstreamModes[1], "")
	ping := func() (int, string) {
		req, _ := http.NewRequest(http.MethodPost, pe.toolURL(), strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{"text":"x"}}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
		resp, err := pe.agentClient("").Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	// No token file yet (the kubelet has not written it): refused in the pod, nothing reaches the gateway.
	if code, body := ping(); code != http.StatusServiceUnavailable || !strings.Contains(body, "no token for the agops gateway") {
		t.Errorf("without a token file: %d %s", code, body)
	}
	pe.writeToken("   ")
	if code, _ := ping(); code != http.StatusServiceUnavailable {
		t.Errorf("with an empty token file: %d, want 503", code)
	}
	if n := len(pe.aud.records()); n != 0 {
		t.Errorf("the gateway saw %d records of calls sent without a token", n)
	}
	pe.writeToken(tokenA)
	ping()
	pe.writeToken(tokenB) // rotated
	ping()
	d := pe.aud.find("decision", "")
	if len(d) != 2 || d[0].Caller != agentA || d[1].Caller != agentB {
		t.Errorf("decisions, want %s then %s: %s", agentA, agentB, pe.aud.dump())
	}
}

// The proxy lends the pod's identity to whoever reaches it, so it listens on loopback addresses only.
func TestCallerProxyListensOnLoopbackOnly(t *testing.T) {
	t.Parallel()
	p, err := NewCallerProxy(CallerProxyOptions{Gateway: "http://gw.example:8080", TokenFile: "/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	for _, addrs := range [][]string{nil, {"0.0.0.0:0"}, {":0"}, {"10.1.2.3:8811"}, {"localhost:8811"}, {"127.0.0.2:0", "[::]:0"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := p.Serve(ctx, addrs)
		cancel()
		if err == nil {
			t.Errorf("Serve(%q) served", addrs)
		}
	}
	for _, gw := range []string{"", "gw:8080", "ftp://gw:21", "http://gw:8080/mcp", "http://"} {
		if _, err := NewCallerProxy(CallerProxyOptions{Gateway: gw, TokenFile: "t"}); err == nil {
			t.Errorf("gateway %q accepted", gw)
		}
	}
	if _, err := NewCallerProxy(CallerProxyOptions{Gateway: "http://gw:8080"}); err == nil {
		t.Error("no token file accepted")
	}
}

// Serve binds every address before serving and ends with its context.
func TestCallerProxyServe(t *testing.T) {
	t.Parallel()
	pe := newProxyEnv(t, upstreamModes[1], tokenA)
	ln, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Skip(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pe.proxy.Serve(ctx, []string{addr}) }()
	var conn net.Conn
	for range 100 {
		if conn, err = net.Dial("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("the proxy does not listen on %s: %v", addr, err)
	}
	conn.Close()
	// A second proxy on the same address fails at once instead of serving some of its addresses.
	if err := pe.proxy.Serve(context.Background(), []string{addr}); err == nil {
		t.Error("a taken address served")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not end with its context")
	}
}
