package gateway_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agops/agops/internal/audit"
	"github.com/agops/agops/internal/gateway"
	"github.com/agops/agops/internal/mcptest"
)

const (
	devToken    = "dev-token-0123456789abcdef"
	workerToken = "worker-token-0123456789abcdef"
)

// bearer adds a token to every request, and sends every connection to addr whatever host the URL names (so that a
// client can call the tool server by its own name, as it does in the cluster).
type bearer struct {
	token string
	base  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}

func clientTo(addr, token string) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: bearer{token: token, base: tr}}
}

// TestRealPeers runs the gateway (as agops gateway does) with the example's fleet policy in front of the real MCP
// reference server from npm, and drives it with the Go SDK's client and with the MCP Inspector: the tool list is
// filtered, allowed calls work, forbidden ones are refused with the rule, an approval-gated call proceeds once
// approved, the tool is reachable by its own name, and the audit log verifies.
func TestRealPeers(t *testing.T) {
	server := mcptest.StartEverything(t)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte(devToken+" local/dev-agent\n"+workerToken+" ai-lab-ai-lab/agent-worker\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	root, _ := filepath.Abs("../..")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan [2]net.Addr, 1)
	auditLog := filepath.Join(dir, "audit.jsonl")
	done := make(chan error, 1)
	go func() {
		done <- gateway.Run(ctx, gateway.RunOptions{
			PolicyFile: filepath.Join(root, "examples", "ai-lab", "policy.yaml"), Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0",
			AuditLog: auditLog, ApprovalDir: filepath.Join(dir, "approvals"), Auth: "static", TokensFile: tokens,
			AdminTokensFile: filepath.Join(dir, "approvers"), CreateAdminTokens: true, AdminName: "alice",
			HostRoutes: map[string]string{"mcp-tools": "mcp-tools"}, Upstreams: map[string]string{"mcp-tools": server.URL},
			Ready: func(p, a net.Addr) { ready <- [2]net.Addr{p, a} },
		})
	}()
	var addrs [2]net.Addr
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("gateway: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the gateway did not start")
	}
	proxy, admin := addrs[0].String(), addrs[1].String()
	cctx, ccancel := context.WithTimeout(ctx, 2*time.Minute)
	defer ccancel()

	connect := func(token, endpoint string) *mcp.ClientSession {
		t.Helper()
		c := mcp.NewClient(&mcp.Implementation{Name: "agops-test", Version: "v1"}, nil)
		s, err := c.Connect(cctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: clientTo(proxy, token), MaxRetries: -1}, nil)
		if err != nil {
			t.Fatalf("connect %s: %v", endpoint, err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	text := func(r *mcp.CallToolResult) string {
		var b strings.Builder
		for _, c := range r.Content {
			if tc, ok := c.(*mcp.TextContent); ok {
				b.WriteString(tc.Text)
			}
		}
		return b.String()
	}

	// The Go SDK's client, by path.
	dev := connect(devToken, "http://gateway/mcp/mcp-tools")
	list, err := dev.ListTools(cctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range list.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"echo", "get-sum"}) {
		t.Errorf("tools/list for local/dev-agent = %v, want only echo and get-sum (the real server has more)", names)
	}
	res, err := dev.CallTool(cctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "hello"}})
	if err != nil || !strings.Contains(text(res), "Echo: hello") {
		t.Errorf("echo: %v %+v", err, res)
	}
	for _, tc := range []struct {
		tool string
		args map[string]any
		rule string
	}{
		{"get-sum", map[string]any{"a": 5000, "b": 1}, "default-deny"}, // the argument rule
		{"get-env", nil, "default-deny"},                               // not granted
		{"Echo", map[string]any{"message": "x"}, "invalid-call"},       // case look-alike
		{"echo", map[string]any{"message": "../../etc/passwd"}, "rules[no-path-traversal]"},
	} {
		_, err := dev.CallTool(cctx, &mcp.CallToolParams{Name: tc.tool, Arguments: tc.args})
		if err == nil || !strings.Contains(err.Error(), "denied by") {
			t.Errorf("%s %v: err = %v, want a refusal", tc.tool, tc.args, err)
		} else if !strings.Contains(err.Error(), tc.rule) && tc.rule != "invalid-call" {
			t.Errorf("%s: refusal %q does not name %s", tc.tool, err, tc.rule)
		}
	}

	// The tool's own name, as callers in the cluster use it.
	byName := connect(devToken, "http://mcp-tools:8811/mcp")
	if res, err := byName.CallTool(cctx, &mcp.CallToolParams{Name: "get-sum", Arguments: map[string]any{"a": 2, "b": 3}}); err != nil || !strings.Contains(text(res), "5") {
		t.Errorf("get-sum by the tool's name: %v %+v", err, res)
	}

	// An approval-gated call waits until a human approves it on the admin listener.
	worker := connect(workerToken, "http://gateway/mcp/mcp-tools")
	approved := make(chan error, 1)
	go func() {
		_, err := worker.CallTool(cctx, &mcp.CallToolParams{Name: "trigger-long-running-operation", Arguments: map[string]any{"duration": 1, "steps": 1}})
		approved <- err
	}()
	approverToken, _, err := gateway.FirstToken(filepath.Join(dir, "approvers"))
	if err != nil {
		t.Fatal(err)
	}
	ac := &gateway.AdminClient{BaseURL: "http://" + admin, Token: approverToken}
	id := waitForApproval(t, cctx, ac)
	if a, err := ac.Decide(cctx, id, true, ""); err != nil || a.DecidedBy != "alice" {
		t.Fatalf("approving: %v %+v", err, a)
	}
	if err := <-approved; err != nil {
		t.Errorf("the approved call failed: %v", err)
	}

	// The MCP Inspector's command line, through the gateway.
	npm, err := mcptest.Install(cctx)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + proxy + "/mcp/mcp-tools"
	out, err := mcptest.Inspector(cctx, npm, url, "--transport", "http", "--header", "Authorization: Bearer "+devToken,
		"--method", "tools/call", "--tool-name", "echo", "--tool-arg", "message=inspected")
	if err != nil || !strings.Contains(string(out), "Echo: inspected") {
		t.Errorf("inspector echo: %v\n%s", err, out)
	}
	out, err = mcptest.Inspector(cctx, npm, url, "--transport", "http", "--header", "Authorization: Bearer "+devToken,
		"--method", "tools/call", "--tool-name", "get-sum", "--tool-arg", "a=5000", "b=1")
	if !strings.Contains(fmt.Sprint(string(out), err), "denied by default-deny") {
		t.Errorf("inspector get-sum 5000: want a refusal naming the rule, got %v\n%s", err, out)
	}
	// A tool outside the caller's scope is not even listed: the Inspector cannot find it.
	out, err = mcptest.Inspector(cctx, npm, url, "--transport", "http", "--header", "Authorization: Bearer "+devToken,
		"--method", "tools/call", "--tool-name", "get-env")
	if err == nil || !strings.Contains(fmt.Sprint(string(out), err), "not found") {
		t.Errorf("inspector get-env: want it unknown to the client, got %v\n%s", err, out)
	}
	out, _ = mcptest.Inspector(cctx, npm, url, "--transport", "http", "--header", "Authorization: Bearer wrong-token-0123456789",
		"--method", "tools/list")
	if strings.Contains(string(out), `"echo"`) {
		t.Errorf("inspector with a wrong token listed tools:\n%s", out)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("gateway: %v", err)
	}
	sum, err := audit.VerifyFile(auditLog)
	if err != nil {
		t.Fatalf("audit verify: %v", err)
	}
	if sum.Decisions["deny"] < 5 || sum.Decisions["approved"] != 1 || sum.Events["result"] < 4 {
		t.Errorf("audit summary:\n%s\nwant at least 5 denials, 1 approval and 4 results", sum)
	}
}

// waitForApproval polls the admin listener until one approval is pending and returns its id.
func waitForApproval(t *testing.T, ctx context.Context, admin *gateway.AdminClient) string {
	t.Helper()
	for {
		if list, err := admin.Pending(ctx); err == nil && len(list) == 1 {
			return list[0].ID
		}
		select {
		case <-ctx.Done():
			t.Fatal(fmt.Errorf("no pending approval: %w", ctx.Err()))
		case <-time.After(100 * time.Millisecond):
		}
	}
}
