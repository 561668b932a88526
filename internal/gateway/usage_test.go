package gateway

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/agops/agops/internal/policy"
)

// usagePolicy grants agent A echo under daily budgets, and names agent B with limits of its own.
const usagePolicy = `apiVersion: agops.dev/v1alpha1
kind: FleetPolicy
metadata: {name: usage}
spec:
  servers: [{name: tools, url: %q}]
  teams:
    - name: lab
      agents: [lab/agent-a, lab/agent-b]
      limits: {callsPerDay: 100, tokensPerDay: 1000}
      grants: [{server: tools, tools: [echo]}]
  agents:
    - {name: lab/agent-b, limits: {callsPerMinute: 5}}
`

func TestUsage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[0]) // every result reports 7 tokens
	p, err := policy.Parse(fmt.Appendf(nil, usagePolicy, e.up.URL))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.gw.SetPolicy(p); err != nil {
		t.Fatal(err)
	}
	callEcho(t, e, 3)

	got, err := (&AdminClient{BaseURL: e.admin.URL, Token: approverTokens["alice"]}).Usage(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Agent != agentA || got[1].Agent != agentB {
		t.Fatalf("usage %+v, want agents A and B", got)
	}
	a, b := got[0], got[1]
	if a.Calls != 3 || a.Tokens != 21 || a.Day != e.gw.now().UTC().Format("2006-01-02") {
		t.Errorf("agent A: %+v, want 3 calls and 21 tokens today", a)
	}
	wantA := UsageLimits{InPolicy: true, CallsPerDay: 100, TokensPerDay: 1000,
		MaxConcurrent: e.gw.gate.maxFlight, RequestsPerMinute: int(e.gw.gate.perMinute)}
	if a.Limits != wantA || wantA.MaxConcurrent == 0 || wantA.RequestsPerMinute == 0 {
		t.Errorf("agent A limits %+v, want %+v", a.Limits, wantA)
	}
	if b.Calls != 0 || b.Tokens != 0 || !b.Limits.InPolicy || b.Limits.CallsPerMinute != 5 || b.Limits.CallsPerDay != 100 {
		t.Errorf("agent B: %+v, want no use under its own override", b)
	}
}

// TestUsageWithoutPolicyLimits: a policy that cannot say an agent's limits still gets the counts.
func TestUsageWithoutPolicyLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[3])
	callEcho(t, e, 2)
	var got []AgentUsage
	if status := e.adminDo(http.MethodGet, "/usage", "", &got); status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	if len(got) != 1 || got[0].Agent != agentA || got[0].Calls != 2 || got[0].Limits.InPolicy {
		t.Errorf("usage %+v, want agent A's 2 calls, limits not from the policy", got)
	}
}

func TestUsageNeedsAnAdmin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[3])
	for _, token := range []string{"", tokenA, "not-a-token-0123456789"} {
		_, err := (&AdminClient{BaseURL: e.admin.URL, Token: token}).Usage(t.Context())
		if !isStatus(err, http.StatusUnauthorized) {
			t.Errorf("token %q: %v, want 401", token, err)
		}
	}
}
