package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agops/agops/internal/policy"
)

// serve runs h behind NewServer on a free loopback port.
func serve(t *testing.T, h http.Handler, to Timeouts) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(ln.Addr().String(), h, to)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// A client that never finishes its headers is cut off by the header timeout; the gateway keeps serving.
func TestSlowClientHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[3])
	addr := serve(t, e.gw.Handler(), Timeouts{ReadHeader: 100 * time.Millisecond})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /mcp/tools HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer "); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(conn); err != nil {
		t.Fatalf("the slow connection was not closed by the server: %v", err)
	}
	if n := e.up.toolCalls.Load(); n != 0 {
		t.Fatalf("%d calls reached the upstream", n)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/mcp/tools", strings.NewReader(echoCall))
	req.Header.Set("Authorization", "Bearer "+tokenA)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after a slow client: status %d", resp.StatusCode)
	}
}

// A client that sends its headers and then trickles the body gets 408, audited.
func TestSlowClientBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[3], func(e *env) { e.opts.BodyReadTimeout = 100 * time.Millisecond })
	addr := serve(t, e.gw.Handler(), Timeouts{})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /mcp/tools HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", tokenA, len(echoCall), echoCall[:10])
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if code, rule := rpcErrorOf(t, body); resp.StatusCode != http.StatusRequestTimeout || code != CodeSlowClient ||
		rule != "gateway:slow-client" {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if !e.aud.hasDeny("gateway:slow-client") || e.up.toolCalls.Load() != 0 {
		t.Fatalf("not audited, or forwarded: %s", e.aud.dump())
	}
	e.stillServes()
}

func TestPlainHTTP(t *testing.T) {
	t.Parallel()
	var seen *http.Request
	web := newHTTPUpstream(t, &seen)
	e := newEnv(t, upstreamModes[3], func(e *env) {
		e.pol.servers = append(e.pol.servers, policy.Server{Name: "web", URL: web + "/base/", Kind: "http"})
		e.pol.grants[grantKey(agentA, "web", "GET /items/1")] = policy.Allow
	})
	get := func(path string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tokenA)
		req.Header.Set("Cookie", "session=secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/http/web/items/1?q=1"); code != http.StatusOK || body != "item" {
		t.Fatalf("allowed GET: %d %s", code, body)
	}
	if seen.URL.Path != "/base/items/1" || seen.URL.RawQuery != "q=1" || seen.Header.Get(agentHeader) != agentA ||
		seen.Header.Get("Authorization") != "" || seen.Header.Get("Cookie") != "" {
		t.Errorf("upstream saw %s?%s headers %v", seen.URL.Path, seen.URL.RawQuery, seen.Header)
	}
	for path, want := range map[string]int{
		"/http/web/items/2":      http.StatusForbidden,
		"/http/web/items%2F1":    http.StatusBadRequest,
		"/http/tools/items/1":    http.StatusNotFound, // an MCP server is not a plain HTTP one
		"/http/web/items/1/%2e":  http.StatusBadRequest,
		"/http/web/items/..;/1":  http.StatusBadRequest, // "/1" to a server with path parameters
		"/http/web/items\\..\\1": http.StatusBadRequest,
		"/http/web/items;x=1/1":  http.StatusBadRequest,
	} {
		if code, body := get(path); code != want {
			t.Errorf("%s: status %d, want %d (%s)", path, code, want, body)
		}
	}
	// A header that makes some frameworks run another method than the one judged.
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/http/web/items/1", nil)
	req.Header.Set("Authorization", "Bearer "+tokenA)
	req.Header.Set("X-HTTP-Method-Override", "DELETE")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("method override: %v %v", err, resp)
	}
	if len(e.aud.find("result", "")) != 1 || !e.aud.hasDeny("default-deny") {
		t.Errorf("audit: %s", e.aud.dump())
	}
}

func newHTTPUpstream(t *testing.T, seen **http.Request) string {
	t.Helper()
	srv := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*seen = r.Clone(r.Context())
		io.WriteString(w, "item")
	}))
	return srv
}

func TestGuidanceHealthAndMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[3], func(e *env) {
		e.pol.guides[agentA] = policy.Guidance{Agent: agentA, Team: "lab",
			Fragments: []policy.Fragment{{Name: "tone", Version: 2, Text: "be brief"}}}
	})
	e.stillServes()
	get := func(base, path, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(e.srv.URL, "/guidance", tokenA); code != 200 || !strings.Contains(body, `"be brief"`) {
		t.Errorf("own guidance: %d %s", code, body)
	}
	if code, _ := get(e.srv.URL, "/guidance", ""); code != http.StatusUnauthorized {
		t.Errorf("anonymous guidance: %d", code)
	}
	if code, _ := get(e.srv.URL, "/guidance", tokenB); code != http.StatusNotFound {
		t.Errorf("no guidance: %d", code)
	}
	for _, base := range []string{e.srv.URL, e.admin.URL} {
		if code, _ := get(base, "/healthz", ""); code != 200 {
			t.Errorf("healthz: %d", code)
		}
		if code, body := get(base, "/readyz", ""); code != 200 {
			t.Errorf("readyz: %d %s", code, body)
		}
	}
	if code, _ := get(e.admin.URL, "/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("metrics without a token: %d", code)
	}
	_, metrics := get(e.admin.URL, "/metrics", approverTokens["alice"])
	for _, want := range []string{
		`agops_gateway_calls_total{decision="allow",server="tools",tool="echo"} 1`,
		`agops_gateway_call_duration_seconds_count{server="tools"} 1`,
		`agops_gateway_pending_approvals 0`,
		`agops_gateway_audit_append_duration_seconds_count`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if code, _ := get(e.srv.URL, "/metrics", ""); code != http.StatusNotFound {
		t.Errorf("metrics on the agents' listener: %d", code)
	}
}

func TestNotReadyWithoutPolicy(t *testing.T) {
	t.Parallel()
	gw, err := New(Options{Authenticator: writeTokens(t), AdminAuthenticator: writeApprovers(t), Audit: &memAudit{},
		ApprovalDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	srv := newTestServer(t, gw.Handler())
	resp, err := http.Get(srv + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz without a policy: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, srv+"/mcp/tools", strings.NewReader(echoCall))
	req.Header.Set("Authorization", "Bearer "+tokenA)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("call without a policy: %d", resp.StatusCode)
	}
	if _, err := New(Options{}); err == nil || strings.Count(err.Error(), "required") != 4 {
		t.Errorf("New with nothing: %v", err)
	}
}
