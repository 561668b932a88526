package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agops/agops/internal/policy"
)

// headers adds fixed headers to every request.
type headers struct {
	h    http.Header
	next http.RoundTripper
}

func (t headers) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.h {
		r.Header[k] = v
	}
	return t.next.RoundTrip(r)
}

// connectNoWait opens an MCP client session as token whose calls do not wait for approvals.
func (e *env) connectNoWait(token string) *mcp.ClientSession {
	e.t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "workflow", Version: "v1"}, nil)
	tr := &mcp.StreamableClientTransport{
		Endpoint: e.mcpURL(), MaxRetries: -1,
		HTTPClient: &http.Client{Transport: headers{
			h: http.Header{HeaderApproval: {ApprovalNoWait}}, next: bearer{token, http.DefaultTransport},
		}},
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

// deployNoWait calls deploy and wants the pending answer; it returns the approval's ID.
func deployNoWait(t *testing.T, cs *mcp.ClientSession) string {
	t.Helper()
	_, err := callTool(cs, "deploy", map[string]any{"text": "prod"})
	id, ok := PendingApproval(err)
	code, data, _ := ErrorDataOf(err)
	if !ok || code != CodeApproval || data.Expires.IsZero() || !strings.Contains(err.Error(), id) {
		t.Fatalf("nowait call: %v (code %d, data %+v)", err, code, data)
	}
	return id
}

// A nowait call is answered at once with its approval; once approved, the identical call runs, once.
func TestApprovalNoWaitApproved(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[0], withLimits(policy.Limits{CallsPerDay: 2}),
		func(e *env) { e.pol.timeout = time.Hour })
	cs := e.connectNoWait(tokenA)
	id := deployNoWait(t, cs)
	if again := deployNoWait(t, cs); again != id {
		t.Errorf("the identical call asked again: %s, then %s", id, again)
	}
	if v := e.waitPending(1); v[0].ID != id {
		t.Fatalf("pending %s, want %s", v[0].ID, id)
	}
	if len(e.aud.find("approval", "approval")) != 1 || !e.aud.hasDeny(RuleApprovalPending) {
		t.Errorf("the request and the answers are not audited: %s", e.aud.dump())
	}
	if code := e.decide(id, true, "alice"); code != http.StatusOK {
		t.Fatalf("approve: %d", code)
	}
	res, err := callTool(cs, "deploy", map[string]any{"text": "prod"})
	if err != nil || resultText(t, res) != "deploy done" {
		t.Fatalf("the approved call: %v", err)
	}
	// Replaying the call needs a new approval.
	if replayed := deployNoWait(t, cs); replayed == id || e.up.runs("deploy") != 1 {
		t.Fatalf("replayed call: approval %s, deploy ran %d times", replayed, e.up.runs("deploy"))
	}
	// Pending answers did not count: the day's second call is left.
	if _, err := callTool(cs, "echo", map[string]any{"text": "x"}); err != nil {
		t.Fatalf("second call of the day: %v", err)
	}
	if _, err := callTool(cs, "echo", map[string]any{"text": "x"}); rpcCode(err) != CodeLimited {
		t.Fatalf("third call of the day: %v", err)
	}
}

// After a rejection or an expiry, the identical nowait call is told so, and does not ask again.
func TestApprovalNoWaitEnded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		end  func(e *env, clock *fakeClock, id string)
		rule string
	}{
		{name: "rejected", rule: "approval:rejected", end: func(e *env, _ *fakeClock, id string) {
			if code := e.decide(id, false, "bob"); code != http.StatusOK {
				e.t.Fatalf("reject: %d", code)
			}
		}},
		{name: "expired", rule: "approval:expired", end: func(_ *env, clock *fakeClock, _ string) {
			clock.Advance(2 * time.Minute)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := &fakeClock{now: time.Now()}
			e := newEnv(t, upstreamModes[3], withClock(clock), func(e *env) { e.pol.timeout = time.Minute })
			cs := e.connectNoWait(tokenA)
			tc.end(e, clock, deployNoWait(t, cs))
			for range 2 {
				_, err := callTool(cs, "deploy", map[string]any{"text": "prod"})
				if _, data, _ := ErrorDataOf(err); rpcCode(err) != CodeApproval || data.Rule != tc.rule {
					t.Fatalf("after the approval ended: %v", err)
				}
			}
			if e.up.runs("deploy") != 0 || len(e.aud.find("approval", "approval")) != 1 {
				t.Fatalf("deploy ran %d times; %s", e.up.runs("deploy"), e.aud.dump())
			}
			// Once the validity of the answer has passed, the call asks anew.
			clock.Advance(2 * time.Hour)
			deployNoWait(t, cs)
		})
	}
}

func TestPendingApprovalOtherErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[3])
	_, denied := callTool(e.connectNoWait(tokenA), "delete_all", nil)
	for _, err := range []error{nil, errors.New("plain"), denied} {
		if id, ok := PendingApproval(err); ok {
			t.Errorf("%v: pending approval %q", err, id)
		}
	}
	if code, data, ok := ErrorDataOf(denied); !ok || code != CodeDenied || data.Rule != "default-deny" || data.RequestID == "" {
		t.Errorf("data of a denial: %d %+v %v", code, data, ok)
	}
}

// What a durable workflow does: a keyed nowait call is answered pending; once approved, the identical call runs;
// its retries get the kept result instead of asking for a new approval.
func TestApprovalNoWaitWithKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[3], func(e *env) { e.pol.timeout = time.Hour })
	body := toolCallBody(1, "deploy", `{"text":"prod"}`)
	hdr := http.Header{HeaderApproval: {ApprovalNoWait}, HeaderIdempotencyKey: {"wf-9/deploy"}}
	r := e.mustCall(tokenA, body, hdr)
	if r.rule() != RuleApprovalPending || r.Error.Data.ApprovalID == "" {
		t.Fatalf("first call: %s %+v", r.text(), r.Error)
	}
	if code := e.decide(r.Error.Data.ApprovalID, true, "alice"); code != http.StatusOK {
		t.Fatalf("approve: %d", code)
	}
	for range 3 {
		if r := e.mustCall(tokenA, body, hdr); r.text() != "deploy done" {
			t.Fatalf("after approval: %s", r.text())
		}
	}
	if e.up.runs("deploy") != 1 || len(e.aud.find("approval", "approval")) != 1 || len(e.aud.find("decision", "replay")) != 2 {
		t.Fatalf("deploy ran %d times: %s", e.up.runs("deploy"), e.aud.dump())
	}
}
