package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agops/agops/internal/policy"
)

const (
	tokenA = "token-of-agent-a-0123456789"
	tokenB = "token-of-agent-b-0123456789"
	agentA = "lab/agent-a"
	agentB = "lab/agent-b"
)

// upstreamMode is how the real MCP tool server answers.
type upstreamMode struct {
	name      string
	json      bool // application/json instead of text/event-stream
	stateless bool // sessionless: the 2026-07-28 protocol
}

var upstreamModes = []upstreamMode{
	{name: "sse-stateful"},
	{name: "json-stateful", json: true},
	{name: "sse-stateless", stateless: true},
	{name: "json-stateless", json: true, stateless: true},
}

// upstreamServer is a real go-sdk MCP server counting the tool calls that reach it.
type upstreamServer struct {
	*httptest.Server
	toolCalls atomic.Int64 // POST bodies holding a tools/call
	mu        sync.Mutex
	ran       map[string]int // tool → runs
	headers   http.Header    // of the last tools/call POST
	body      []byte         // of the last tools/call POST
	slowGate  chan struct{}  // the tool "slow" answers once it is closed (releaseSlow)
	slowOnce  sync.Once
	slowIn    chan string // the text of each call of "slow" that arrived
}

type echoIn struct {
	Text string `json:"text"`
}

func newUpstream(t testing.TB, mode upstreamMode) *upstreamServer {
	t.Helper()
	u := &upstreamServer{ran: map[string]int{}, slowGate: make(chan struct{}), slowIn: make(chan string, 16)}
	srv := mcp.NewServer(&mcp.Implementation{Name: "tools", Version: "v1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "slow", Description: "echoes <text> once released; counts a run at the end"},
		func(ctx context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
			u.slowIn <- in.Text
			select {
			case <-u.slowGate:
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
			u.count("slow")
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "slow: " + in.Text}}}, nil, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "echo", Description: "echoes <text>"},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
			u.count("echo")
			return &mcp.CallToolResult{
				Meta:    mcp.Meta{"usage": map[string]any{"totalTokens": 7}},
				Content: []mcp.Content{&mcp.TextContent{Text: "echo: " + in.Text}},
			}, nil, nil
		})
	for _, name := range []string{"read_file", "delete_all", "deploy"} {
		mcp.AddTool(srv, &mcp.Tool{Name: name},
			func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
				u.count(name)
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + " done"}}}, nil, nil
			})
	}
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
		&mcp.StreamableHTTPOptions{JSONResponse: mode.json, Stateless: mode.stateless})
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if bytes.Contains(body, []byte(`"tools/call"`)) {
			u.toolCalls.Add(1)
			u.mu.Lock()
			u.headers, u.body = r.Header.Clone(), body
			u.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstreamServer) count(tool string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.ran[tool]++
}

// lastBody is the body of the last tools/call POST that reached the server.
func (u *upstreamServer) lastBody() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return string(u.body)
}

// releaseSlow lets every call of "slow", running or to come, answer.
func (u *upstreamServer) releaseSlow() { u.slowOnce.Do(func() { close(u.slowGate) }) }

func (u *upstreamServer) runs(tool string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.ran[tool]
}

// env is a gateway in front of a real upstream, with fakes for the policy and the audit log.
type env struct {
	t     *testing.T
	up    *upstreamServer
	pol   *fakePolicy
	aud   *memAudit
	gw    *Gateway
	srv   *httptest.Server
	admin *httptest.Server
	opts  Options
}

func newPolicy(upURL string) *fakePolicy {
	return &fakePolicy{
		servers: []policy.Server{{Name: "tools", URL: upURL, Kind: "mcp"}},
		grants: map[string]policy.Verdict{
			grantKey(agentA, "tools", "echo"):      policy.Allow,
			grantKey(agentA, "tools", "read_file"): policy.Allow,
			grantKey(agentA, "tools", "deploy"):    policy.Approve,
			grantKey(agentB, "tools", "read_file"): policy.Allow,
		},
		limits:  map[string]policy.Limits{},
		timeout: 2 * time.Second,
		guides:  map[string]policy.Guidance{},
	}
}

func writeTokens(t testing.TB) *StaticTokens {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens")
	data := "# test agents\n" + tokenA + " " + agentA + "\n" + tokenB + " " + agentB + "\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := NewStaticTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// The approvers of the tests' admin listener, by identity: two humans, and the agents' own identities (an agent
// that also holds an approver token must still not approve its own calls).
var approverTokens = map[string]string{
	"alice":   "approver-token-alice-0123456789",
	"bob":     "approver-token-bob-0123456789",
	agentA:    "approver-token-agent-a-0123456789",
	agentB:    "approver-token-agent-b-0123456789",
	"Carol.Q": "approver-token-carol-0123456789",
	// A console: it decides in the name of the person each request names.
	"console:ops": "approver-token-console-ops-0123456789",
}

// peerToken is the token the tests' replicas share.
const peerToken = "peer-token-of-the-replicas-0123456789"

func writeApprovers(t testing.TB) *StaticTokens {
	t.Helper()
	path := filepath.Join(t.TempDir(), "approvers")
	var data strings.Builder
	for who, tok := range approverTokens {
		data.WriteString(tok + " " + who + "\n")
	}
	if err := os.WriteFile(path, []byte(data.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := NewStaticTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func newEnv(t *testing.T, mode upstreamMode, tweak ...func(*env)) *env {
	t.Helper()
	e := &env{t: t, up: newUpstream(t, mode), aud: &memAudit{}}
	e.pol = newPolicy(e.up.URL)
	e.opts = Options{
		Authenticator: writeTokens(t), Audit: e.aud, ApprovalDir: t.TempDir(), IdempotencyDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), AdminAuthenticator: writeApprovers(t),
	}
	for _, f := range tweak {
		f(e)
	}
	e.opts.Policy = e.pol
	e.start()
	return e
}

// start (re)starts a gateway on e.opts: a restart keeps the approval and idempotency directories.
func (e *env) start() {
	e.t.Helper()
	if e.srv != nil { // as if the process died: streams and waits are cut
		e.srv.CloseClientConnections()
		e.srv.Close()
		e.admin.Close()
	}
	gw, err := New(e.opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.gw = gw
	e.srv = httptest.NewServer(gw.Handler())
	e.admin = httptest.NewServer(gw.AdminHandler())
	e.t.Cleanup(e.srv.Close)
	e.t.Cleanup(e.admin.Close)
}

func (e *env) mcpURL() string { return e.srv.URL + "/mcp/tools" }

// bearer adds a token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// connect opens an MCP client session through the gateway with token.
func (e *env) connect(token string) *mcp.ClientSession {
	e.t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "v1"}, nil)
	tr := &mcp.StreamableClientTransport{
		Endpoint: e.mcpURL(), MaxRetries: -1,
		HTTPClient: &http.Client{Transport: bearer{token, http.DefaultTransport}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, tr, nil)
	if err != nil {
		e.t.Fatalf("connect: %v", err)
	}
	e.t.Cleanup(func() { cs.Close() })
	return cs
}

func callTool(cs *mcp.ClientSession, name string, args map[string]any) (*mcp.CallToolResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
}

// rpcCode returns the JSON-RPC error code in err, or 0.
func rpcCode(err error) int64 {
	var we *jsonrpc.Error
	if errors.As(err, &we) {
		return we.Code
	}
	return 0
}

func resultText(t testing.TB, res *mcp.CallToolResult) string {
	t.Helper()
	if res == nil || len(res.Content) != 1 {
		t.Fatalf("result %+v: want one content", res)
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		t.Fatalf("content %T: want text", res.Content[0])
	}
	return tc.Text
}

// post sends a raw body to the gateway's MCP route.
func (e *env) post(token, body string, header map[string]string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.mcpURL(), strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

// rpcErrorOf decodes a JSON-RPC error body.
func rpcErrorOf(t testing.TB, body []byte) (code int, rule string) {
	t.Helper()
	var m struct {
		Error struct {
			Code int `json:"code"`
			Data struct {
				Rule string `json:"rule"`
			} `json:"data"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body %q is not a JSON-RPC error: %v", body, err)
	}
	return m.Error.Code, m.Error.Data.Rule
}

// stillServes checks that agent A's allowed call still works.
func (e *env) stillServes() {
	e.t.Helper()
	cs := e.connect(tokenA)
	res, err := callTool(cs, "echo", map[string]any{"text": "still here"})
	if err != nil {
		e.t.Fatalf("gateway stopped serving: %v", err)
	}
	if got := resultText(e.t, res); got != "echo: still here" {
		e.t.Fatalf("got %q", got)
	}
}

// adminDo sends an admin request and decodes the JSON answer into out (if non-nil).
func (e *env) adminDo(method, path, body string, out any) int {
	e.t.Helper()
	return e.adminAs(approverTokens["alice"], method, path, body, out)
}

// adminAs calls the admin API with token ("" sends none).
func (e *env) adminAs(token, method, path, body string, out any) int {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.admin.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			e.t.Fatal(err)
		}
	}
	return resp.StatusCode
}

// waitPending polls the admin API until n approvals are pending.
func (e *env) waitPending(n int) []Approval {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var views []Approval
		e.adminDo(http.MethodGet, "/approvals", "", &views)
		if len(views) == n {
			return views
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d approvals pending, want %d", len(views), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func clientWithToken(token string) *http.Client {
	return &http.Client{Transport: bearer{token, http.DefaultTransport}}
}

func decodeJSON(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// eventually polls cond for up to five seconds: for what the gateway does after the client has its answer.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func newTestServer(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
