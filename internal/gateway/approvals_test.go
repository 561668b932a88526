package gateway

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agops/agops/internal/policy"
)

type callResult struct {
	res *mcp.CallToolResult
	err error
}

// deployAsync starts agent A's approval-gated call.
func (e *env) deployAsync(ctx context.Context, target string) <-chan callResult {
	cs := e.connect(tokenA)
	ch := make(chan callResult, 1)
	go func() {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "deploy", Arguments: map[string]any{"text": target}})
		ch <- callResult{res, err}
	}()
	return ch
}

// decide decides approval id as approver by (one of approverTokens), authenticated by by's token.
func (e *env) decide(id string, approve bool, by string) int {
	tok, ok := approverTokens[by]
	if !ok {
		e.t.Fatalf("no approver token for %q", by)
	}
	return e.adminAs(tok, http.MethodPost, "/approvals/"+id, fmt.Sprintf(`{"approve": %t}`, approve), nil)
}

func wait(t *testing.T, ch <-chan callResult) callResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the call never returned")
		return callResult{}
	}
}

func TestApprovalApproved(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[0])
	ch := e.deployAsync(t.Context(), "prod")
	views := e.waitPending(1)
	v := views[0]
	if v.Agent != agentA || v.Tool != "deploy" || !strings.HasPrefix(v.ArgsDigest, "sha256:") {
		t.Errorf("pending approval %+v", v)
	}
	if code := e.decide(v.ID, true, agentA); code != http.StatusForbidden {
		t.Errorf("self-approval: status %d", code)
	}
	if e.up.runs("deploy") != 0 {
		t.Fatal("the call ran before approval")
	}
	if code := e.decide(v.ID, true, "alice"); code != http.StatusOK {
		t.Fatalf("approve: status %d", code)
	}
	r := wait(t, ch)
	if r.err != nil || resultText(t, r.res) != "deploy done" {
		t.Fatalf("approved call: %v", r.err)
	}
	if code := e.decide(v.ID, true, "alice"); code != http.StatusConflict {
		t.Errorf("deciding twice: status %d", code)
	}
	var approved, allowed bool
	for _, rec := range e.aud.records() {
		approved = approved || rec.Event == "approval" && rec.Decision == "approved" && strings.Contains(rec.Reason, "alice")
		allowed = allowed || rec.Event == "decision" && rec.Decision == "allow" && rec.ApprovalID == v.ID
	}
	if !approved || !allowed || len(e.aud.find("approval", "approval")) != 1 {
		t.Errorf("approval steps not audited: %s", e.aud.dump())
	}
}

func TestApprovalRejected(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[1], withLimits(policy.Limits{CallsPerDay: 1}))
	ch := e.deployAsync(t.Context(), "prod")
	v := e.waitPending(1)[0]
	if code := e.decide(v.ID, false, "bob"); code != http.StatusOK {
		t.Fatalf("reject: status %d", code)
	}
	r := wait(t, ch)
	if rpcCode(r.err) != CodeApproval || !strings.Contains(r.err.Error(), "rejected by bob") {
		t.Fatalf("rejected call: %v", r.err)
	}
	if e.up.runs("deploy") != 0 || !e.aud.hasDeny("approval:rejected") {
		t.Fatalf("rejected call ran or was not audited: %s", e.aud.dump())
	}
	// The rejected call gave its place in the daily budget back.
	e.stillServes()
}

func TestApprovalTimesOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[3], func(e *env) { e.pol.timeout = 200 * time.Millisecond })
	r := wait(t, e.deployAsync(t.Context(), "prod"))
	if rpcCode(r.err) != CodeApproval || !e.aud.hasDeny("approval:expired") {
		t.Fatalf("timed-out call: %v", r.err)
	}
	if len(e.aud.find("approval", "expired")) != 1 || e.up.runs("deploy") != 0 {
		t.Errorf("expiry not audited or the call ran: %s", e.aud.dump())
	}
	e.waitPending(0)
	e.stillServes()
}

// An approval survives a restart, is used by the retried call, and is not used twice.
func TestApprovalSurvivesRestartAndIsUsedOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[0], func(e *env) { e.pol.timeout = time.Minute })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	first := e.deployAsync(ctx, "prod")
	v := e.waitPending(1)[0]
	cancel() // the agent gives up waiting
	if r := wait(t, first); r.err == nil {
		t.Fatal("the call returned without approval")
	}
	if !eventually(func() bool { return e.aud.hasDeny("approval:abandoned") }) {
		t.Errorf("abandoned wait not audited")
	}

	e.start() // a new gateway on the same approval directory
	if got := e.waitPending(1)[0]; got.ID != v.ID {
		t.Fatalf("after restart pending %s, want %s", got.ID, v.ID)
	}
	if code := e.decide(v.ID, true, "alice"); code != http.StatusOK {
		t.Fatalf("approve after restart: %d", code)
	}
	r := wait(t, e.deployAsync(t.Context(), "prod"))
	if r.err != nil {
		t.Fatalf("retry after restart: %v", r.err)
	}
	if e.up.runs("deploy") != 1 {
		t.Fatalf("deploy ran %d times", e.up.runs("deploy"))
	}

	// Replaying the same call asks again; nobody answers; it is denied.
	e.pol.timeout = 200 * time.Millisecond
	r = wait(t, e.deployAsync(t.Context(), "prod"))
	if rpcCode(r.err) != CodeApproval || e.up.runs("deploy") != 1 {
		t.Fatalf("replayed call: %v, deploy ran %d times", r.err, e.up.runs("deploy"))
	}
	// A different call does not use someone else's approval.
	data, err := os.ReadFile(filepath.Join(e.opts.ApprovalDir, v.ID+".json"))
	if err != nil || !strings.Contains(string(data), `"state": "used"`) {
		t.Errorf("approval file: %s %v", data, err)
	}
}

func TestApprovalFollowsTheOldPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[3])
	ch := e.deployAsync(t.Context(), "prod")
	v := e.waitPending(1)[0]
	strict := newPolicy(e.up.URL)
	strict.grants = map[string]policy.Verdict{}
	if err := e.gw.SetPolicy(strict); err != nil {
		t.Fatal(err)
	}
	e.decide(v.ID, true, "alice")
	if r := wait(t, ch); r.err != nil {
		t.Fatalf("in-flight call under the old policy: %v", r.err)
	}
	if _, err := callTool(e.connect(tokenA), "echo", nil); rpcCode(err) != CodeDenied {
		t.Fatalf("new call under the new policy: %v", err)
	}
}

func TestApprovalAdminAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[3])
	for _, tc := range []struct{ body, id string }{
		{`{"by": "alice"}`, "ap_x"},
		{`{"approve": true, "by": "alice", "extra": 1}`, "ap_x"},
		{`not json`, "ap_x"},
	} {
		if code := e.adminDo(http.MethodPost, "/approvals/"+tc.id, tc.body, nil); code != http.StatusBadRequest {
			t.Errorf("%s: status %d", tc.body, code)
		}
	}
	if code := e.decide("ap_unknown", true, "alice"); code != http.StatusNotFound {
		t.Errorf("unknown approval: status %d", code)
	}
}

func TestApprovalAdminAuthenticator(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[3], func(e *env) { e.opts.AdminAuthenticator = writeTokens(t) })
	if code := e.adminDo(http.MethodGet, "/approvals", "", nil); code != http.StatusUnauthorized {
		t.Errorf("unauthenticated admin: status %d", code)
	}
	ch := e.deployAsync(t.Context(), "prod")
	var v []Approval
	deadline := time.Now().Add(5 * time.Second)
	for len(v) == 0 && time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, e.admin.URL+"/approvals", nil)
		req.Header.Set("Authorization", "Bearer "+tokenB)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = decodeJSON(resp, &v)
		time.Sleep(10 * time.Millisecond)
	}
	if len(v) != 1 {
		t.Fatal("no pending approval")
	}
	// The approver is whoever the admin authenticator says, whatever the body claims.
	req, _ := http.NewRequest(http.MethodPost, e.admin.URL+"/approvals/"+v[0].ID,
		strings.NewReader(`{"approve": true, "by": "someone-else"}`))
	req.Header.Set("Authorization", "Bearer "+tokenA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("agent approving its own call through the admin API: status %d", resp.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodPost, e.admin.URL+"/approvals/"+v[0].ID, strings.NewReader(`{"approve": true}`))
	req.Header.Set("Authorization", "Bearer "+tokenB)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if r := wait(t, ch); resp.StatusCode != http.StatusOK || r.err != nil {
		t.Fatalf("approved by %s: status %d, call %v", agentB, resp.StatusCode, r.err)
	}
}
