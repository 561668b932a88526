package console

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agops/agops/internal/gateway"
	"github.com/agops/agops/internal/mcptest"
)

// The people of the test console's users file, and the agent of the test gateway.
const (
	agentID      = "lab/worker"
	agentToken   = "agent-token-of-lab-worker-0123456789"
	consoleToken = "console-token-of-the-tests-0123456789"
	aliceToken   = "alice-approver-token-0123456789"
	victorToken  = "victor-viewer-token-0123456789"
	workerToken  = "worker-as-a-person-token-0123456789" // the agent's own identity, signed in as an approver
)

const testPolicy = `apiVersion: agops.dev/v1alpha1
kind: FleetPolicy
metadata: {name: console-test}
spec:
  servers:
    - {name: tools, url: %s, kind: mcp}
  agents:
    - name: lab/worker
      limits: {callsPerDay: 1000}
      grants:
        - {server: tools, tools: [echo]}
        - server: tools
          tools: [read_file]
          approval: {timeout: 2m}
`

// stack is a real gateway (its own process's code: gateway.Run) in front of a real MCP server, with the console
// in front of its admin listener and reading its audit log.
type stack struct {
	t       *testing.T
	dir     string
	gwURL   string // agents' listener
	admin   string
	console *httptest.Server
	srv     *Server
	tools   *mcptest.GoServer
}

func newStack(t *testing.T, mutate ...func(*Options)) *stack {
	t.Helper()
	st := &stack{t: t, dir: t.TempDir(), tools: mcptest.StartGoServer(t)}
	write := func(name, data string) string {
		p := filepath.Join(st.dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	policyFile := write("policy.yaml", fmt.Sprintf(testPolicy, st.tools.URL))
	write("tokens", agentToken+" "+agentID+"\n")
	write("admin-tokens", consoleToken+" console:test\n"+aliceToken+" alice\n")
	users := write("users", aliceToken+" alice approver\n"+victorToken+" victor viewer\n"+workerToken+" "+agentID+" approver\n")
	auditLog := filepath.Join(st.dir, "audit.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- gateway.Run(ctx, gateway.RunOptions{PolicyFile: policyFile, Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0",
			AuditLog: auditLog, ApprovalDir: auditLog + ".approvals", Auth: "static", TokensFile: filepath.Join(st.dir, "tokens"),
			AdminTokensFile: filepath.Join(st.dir, "admin-tokens"), AuditKey: auditLog + ".key",
			Ready: func(p, a net.Addr) { ready <- [2]net.Addr{p, a} }})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("the gateway did not stop")
		}
	})
	select {
	case a := <-ready:
		st.gwURL, st.admin = "http://"+a[0].String(), "http://"+a[1].String()
	case err := <-done:
		t.Fatalf("gateway: %v", err)
	}
	su, err := NewStaticUsers(users)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Gateway: &gateway.AdminClient{BaseURL: st.admin, Token: consoleToken}, AuditLog: auditLog,
		AuditKey: auditLog + ".pub", PolicyFile: policyFile, SignIns: []TokenSignIn{su}, OneTime: NewOneTimeTokens()}
	for _, m := range mutate {
		m(&o)
	}
	st.srv, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	st.console = httptest.NewServer(st.srv.Handler())
	t.Cleanup(st.console.Close)
	return st
}

// callAsync makes the agent's call of tool through the gateway; the result arrives on the channel.
func (st *stack) callAsync(tool string, args map[string]any) <-chan error {
	ch := make(chan error, 1)
	go func() {
		hc := &http.Client{Transport: bearer{agentToken, http.DefaultTransport}}
		c := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: st.gwURL + "/mcp/tools", HTTPClient: hc}, nil)
		if err != nil {
			ch <- err
			return
		}
		defer cs.Close()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
		if err == nil && res.IsError {
			err = fmt.Errorf("tool error: %v", res.Content)
		}
		ch <- err
	}()
	return ch
}

type bearer struct {
	token string
	rt    http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.rt.RoundTrip(r)
}

// browser is a person's HTTP client with cookies, as a browser on the console's own pages sends requests.
type browser struct {
	t    *testing.T
	st   *stack
	http *http.Client
}

func (st *stack) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: st.t, st: st, http: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// signIn posts a token to the sign-in form; it returns the status.
func (b *browser) signIn(token string) int {
	b.t.Helper()
	code, _ := b.post("/login", url.Values{"token": {token}}, nil)
	return code
}

// get returns a page's status and body.
func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.http.Get(b.st.console.URL + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// post sends a form as the console's own pages do (Origin set), with extra headers; it returns status and the
// redirect's flash message or the body.
func (b *browser) post(path string, form url.Values, header http.Header) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.st.console.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.st.console.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if loc := resp.Header.Get("Location"); loc != "" {
		if u, err := url.Parse(loc); err == nil && u.Query().Get("flash") != "" {
			return resp.StatusCode, u.Query().Get("flash")
		}
		return resp.StatusCode, loc
	}
	return resp.StatusCode, string(body)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the session's CSRF token from a page.
func (b *browser) csrf() string {
	b.t.Helper()
	_, body := b.get("/approvals")
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no CSRF token on the page:\n%s", body)
	}
	return m[1]
}

// waitHeld waits until the approvals page lists n held calls and returns their IDs.
func (b *browser) waitHeld(n int) []string {
	b.t.Helper()
	re := regexp.MustCompile(`data-id="(ap_[^"]+)"`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := b.get("/approvals/live")
		var ids []string
		for _, m := range re.FindAllStringSubmatch(body, -1) {
			ids = append(ids, m[1])
		}
		if len(ids) == n {
			return ids
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%d held calls, want %d:\n%s", len(ids), n, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
