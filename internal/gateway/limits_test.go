package gateway

import (
	"slices"
	"testing"
	"time"

	"github.com/agops/agops/internal/audit"
	"github.com/agops/agops/internal/policy"
)

func withClock(c *fakeClock) func(*env) { return func(e *env) { e.opts.Clock = c.Now } }

func withLimits(l policy.Limits) func(*env) {
	return func(e *env) { e.pol.limits[agentA] = l }
}

// expectLimited calls echo as agent A and wants the limit rule.
func expectLimited(t *testing.T, e *env, rule string) {
	t.Helper()
	_, err := callTool(e.connect(tokenA), "echo", map[string]any{"text": "x"})
	if rpcCode(err) != CodeLimited {
		t.Fatalf("error %v, want limit %s", err, rule)
	}
	if !e.aud.hasDeny(rule) {
		t.Fatalf("no deny record for %s", rule)
	}
	if _, err := callTool(e.connect(tokenB), "read_file", nil); err != nil {
		t.Fatalf("another agent is affected: %v", err)
	}
}

func callEcho(t *testing.T, e *env, n int) {
	t.Helper()
	cs := e.connect(tokenA)
	for i := range n {
		if _, err := callTool(cs, "echo", map[string]any{"text": "x"}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
}

func TestCallsPerDay(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)}
	e := newEnv(t, upstreamModes[3], withClock(clock), withLimits(policy.Limits{CallsPerDay: 2}))
	callEcho(t, e, 2)
	expectLimited(t, e, "limits:callsPerDay")
	before := e.up.runs("echo")
	clock.Advance(time.Hour) // past midnight UTC
	callEcho(t, e, 1)
	if e.up.runs("echo") != before+1 {
		t.Error("a new day did not reset the budget")
	}
}

func TestCallsPerMinute(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	e := newEnv(t, upstreamModes[3], withClock(clock), withLimits(policy.Limits{CallsPerMinute: 2}))
	callEcho(t, e, 2)
	expectLimited(t, e, "limits:callsPerMinute")
	clock.Advance(30 * time.Second) // refills one call
	callEcho(t, e, 1)
	expectLimited(t, e, "limits:callsPerMinute")
}

func TestTokensPerDay(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[0], withLimits(policy.Limits{TokensPerDay: 10}))
	callEcho(t, e, 2) // 0 and 7 tokens used before each: both admitted; 14 after
	expectLimited(t, e, "limits:tokensPerDay")
}

func TestRestoreBudgets(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := &fakeClock{now: now}
	e := newEnv(t, upstreamModes[3], withClock(clock), withLimits(policy.Limits{CallsPerDay: 3, TokensPerDay: 100}))
	recs := []audit.Record{
		{Time: now.Add(-time.Hour), Event: "decision", Decision: "allow", Caller: agentA, Tool: "echo"},
		{Time: now.Add(-time.Hour), Event: "result", Caller: agentA, Tool: "echo", Tokens: 40},
		{Time: now.Add(-time.Minute), Event: "decision", Decision: "allow", Caller: agentA, Tool: "echo"},
		{Time: now.Add(-time.Minute), Event: "decision", Decision: "deny", Caller: agentA, Tool: "echo"},
		{Time: now.Add(-24 * time.Hour), Event: "decision", Decision: "allow", Caller: agentA, Tool: "echo"},
		{Time: now.Add(-time.Minute), Event: "approval", Decision: "approval", Caller: agentA, Tool: "deploy"},
	}
	if n := e.gw.RestoreBudgets(slices.Values(recs)); n != 3 {
		t.Errorf("counted %d records, want 3", n)
	}
	callEcho(t, e, 1)
	expectLimited(t, e, "limits:callsPerDay")
}

func TestLimiterReleaseAndRefill(t *testing.T) {
	t.Parallel()
	l := newLimiter()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	lim := policy.Limits{CallsPerMinute: 1, CallsPerDay: 1}
	r, err := l.reserve("a", lim, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.reserve("a", lim, now); err == nil {
		t.Fatal("second call admitted")
	}
	l.release(r)
	if _, err := l.reserve("a", lim, now); err != nil {
		t.Fatalf("released call not given back: %v", err)
	}
	if _, err := l.reserve("b", lim, now); err != nil {
		t.Fatalf("agents share limits: %v", err)
	}
}
