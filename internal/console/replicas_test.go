package console

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agops/agops/internal/audit"
	"github.com/agops/agops/internal/gateway"
	"github.com/agops/agops/internal/mcptest"
	"github.com/agops/agops/internal/policy"
)

const replicasToken = "peer-token-of-the-two-replicas-0123456789"

// replica is one gateway replica of a pair, each with its own audit log and approvals, told of the other.
type replica struct {
	proxy, admin *httptest.Server
	log          string
}

// TestTwoReplicas: with the gateway's two replicas behind it (as in the cluster's ha overlay), a console that
// reaches only replica A lists a call held by replica B and decides it there in the person's name; B's audit log
// says who decided, through which console.
func TestTwoReplicas(t *testing.T) {
	t.Parallel()
	tools := mcptest.StartGoServer(t)
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pol, err := policy.Load(write("policy.yaml", fmt.Sprintf(testPolicy, tools.URL)))
	if err != nil {
		t.Fatal(err)
	}
	agents, err := gateway.NewStaticTokens(write("tokens", agentToken+" "+agentID+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	admins, err := gateway.NewStaticTokens(write("admin-tokens", consoleToken+" console:test\n"))
	if err != nil {
		t.Fatal(err)
	}
	var reps [2]*replica
	peersOf := func(i int) func(context.Context) []string {
		return func(context.Context) []string { return []string{reps[1-i].admin.URL} }
	}
	for i := range reps {
		logPath := filepath.Join(dir, fmt.Sprintf("audit-%d.jsonl", i))
		l, err := audit.Open(logPath)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		g, err := gateway.New(gateway.Options{Policy: pol, Authenticator: agents, AdminAuthenticator: admins, Audit: l, AuditLogPath: logPath,
			ApprovalDir: filepath.Join(dir, fmt.Sprintf("approvals-%d", i)), Peers: peersOf(i), PeerToken: replicasToken,
			WitnessDir: filepath.Join(dir, fmt.Sprintf("witness-%d", i))})
		if err != nil {
			t.Fatal(err)
		}
		reps[i] = &replica{proxy: httptest.NewServer(g.Handler()), admin: httptest.NewServer(g.AdminHandler()), log: logPath}
		t.Cleanup(reps[i].proxy.Close)
		t.Cleanup(reps[i].admin.Close)
	}
	st := &stack{t: t, gwURL: reps[1].proxy.URL, tools: tools}
	su, err := NewStaticUsers(write("users", aliceToken+" alice approver\n"))
	if err != nil {
		t.Fatal(err)
	}
	client := func(i int) *gateway.AdminClient {
		return &gateway.AdminClient{BaseURL: reps[i].admin.URL, Token: consoleToken}
	}
	st.srv, err = New(Options{Gateway: client(0), SignIns: []TokenSignIn{su},
		AuditReplicas: []AuditReplica{{Name: "gateway-0", Client: client(0)}, {Name: "gateway-1", Client: client(1)}}})
	if err != nil {
		t.Fatal(err)
	}
	st.console = httptest.NewServer(st.srv.Handler())
	t.Cleanup(st.console.Close)

	done := st.callAsync("read_file", map[string]any{"path": "held-on-b.txt"})
	alice := st.browser()
	alice.signIn(aliceToken)
	id := alice.waitHeld(1)[0]
	if _, page := alice.get("/approvals"); !strings.Contains(page, "held-on-b.txt") {
		t.Errorf("the call held by replica B is not shown:\n%s", page)
	}
	if code, flash := alice.post("/approvals/"+id, url.Values{"csrf": {alice.csrf()}, "decision": {"approve"},
		"reason": {"via A"}}, nil); code != http.StatusSeeOther || !strings.Contains(flash, "Approved") {
		t.Fatalf("approve through replica A: %d %q", code, flash)
	}
	if err := <-done; err != nil {
		t.Fatalf("the call held by B: %v", err)
	}
	data, err := os.ReadFile(reps[1].log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "approved by alice via console:test: via A") {
		t.Errorf("replica B's audit:\n%s", data)
	}
	// Each replica's log, read through its admin listener: B's has the call and the decision, A's neither.
	_, page := alice.get("/audit?log=gateway-1&decision=approved")
	if !strings.Contains(page, "approved by alice via console:test: via A") || !strings.Contains(page, "Chain verified") ||
		!strings.Contains(page, `href="/audit?log=gateway-0"`) {
		t.Errorf("replica B's log in the console:\n%s", page)
	}
	if _, page := alice.get("/audit?log=gateway-0"); strings.Contains(page, "held-on-b") || strings.Contains(page, "approved by") {
		t.Errorf("replica A's log shows B's records:\n%s", page)
	}
	rid := regexpFind(t, page, `/audit/call/(rq_[^"?]+)`)
	if _, call := alice.get("/audit/call/" + rid + "?log=gateway-1"); !strings.Contains(call, `id="result"`) || !strings.Contains(call, "approved by alice") {
		t.Errorf("the call's records from replica B:\n%s", call)
	}
	if code, _ := alice.get("/audit?log=gateway-9"); code != http.StatusOK {
		t.Errorf("an unknown log: %d", code)
	}
	// The admin listener's audit routes authenticate.
	for _, path := range []string{"/audit/records", "/audit/export"} {
		resp, err := http.Get(reps[1].admin.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d", path, resp.StatusCode)
		}
	}
}
