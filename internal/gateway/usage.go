package gateway

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/agops/agops/internal/policy"
)

// AgentUsage is one agent's use of its daily budgets today (since midnight UTC by the gateway's clock), as
// GET /usage on the admin listener reports it, with the limits those calls count against.
//
// Each replica counts the calls it served itself, in memory (restored from the audit at start, see
// RestoreBudgets): with several replicas, ask each one, and know that an agent's budget is enforced per replica.
type AgentUsage struct {
	Agent string `json:"agent"`
	Day   string `json:"day"` // the UTC day counted, 2026-12-07
	// Calls are the tool calls admitted today, Tokens the tokens their results reported.
	Calls  int64 `json:"calls"`
	Tokens int64 `json:"tokens"`
	// InFlight are the agent's requests this replica holds now.
	InFlight int         `json:"inFlight"`
	Limits   UsageLimits `json:"limits"`
}

// UsageLimits are the limits an agent's calls count against (zero: none).
type UsageLimits struct {
	// From the policy, after the agent's own limits replaced its team's; InPolicy is false when the loaded policy
	// does not name the agent (or cannot say), and these are then zero.
	InPolicy       bool  `json:"inPolicy"`
	CallsPerMinute int   `json:"callsPerMinute"`
	CallsPerDay    int64 `json:"callsPerDay"`
	TokensPerDay   int64 `json:"tokensPerDay"`
	// The gateway's own, the same for every agent (Options.MaxConcurrentPerAgent, MaxRequestsPerMinute).
	MaxConcurrent     int `json:"maxConcurrent"`
	RequestsPerMinute int `json:"requestsPerMinute"`
}

// Usage returns today's use of every agent the replica at BaseURL counted or its policy names, sorted by agent.
// It reports only that replica's own counts.
func (c *AdminClient) Usage(ctx context.Context) ([]AgentUsage, error) {
	var out []AgentUsage
	if err := c.do(ctx, http.MethodGet, "/usage", nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// limitsPolicy is what a policy may offer beyond Policy for GET /usage (*policy.Policy does).
type limitsPolicy interface {
	Limits(agent string) (policy.Limits, bool)
	Agents() []string
}

// serveUsage serves GET /usage: every agent this replica counted calls or tokens for today, and every agent the
// policy names, with their limits.
func (g *Gateway) serveUsage(w http.ResponseWriter, r *http.Request) {
	if _, ok := g.admin(w, r, humansAndPeers); !ok {
		return
	}
	writeJSON(w, http.StatusOK, g.usage(g.now()))
}

func (g *Gateway) usage(now time.Time) []AgentUsage {
	byAgent := g.countedToday(now)
	var lp limitsPolicy
	if st := g.policy.Load(); st != nil && st.p != nil {
		lp, _ = st.p.(limitsPolicy)
	}
	if lp != nil {
		for _, a := range lp.Agents() {
			if _, ok := byAgent[a]; !ok {
				byAgent[a] = &AgentUsage{Agent: a}
			}
		}
	}
	g.gate.mu.Lock()
	for a, u := range byAgent {
		u.InFlight = g.gate.inFlight[a]
	}
	g.gate.mu.Unlock()
	out := make([]AgentUsage, 0, len(byAgent))
	for _, u := range byAgent {
		u.Day = now.UTC().Format(time.DateOnly)
		u.Limits = UsageLimits{MaxConcurrent: g.gate.maxFlight, RequestsPerMinute: int(g.gate.perMinute)}
		if lp != nil {
			l, ok := lp.Limits(u.Agent)
			u.Limits.InPolicy, u.Limits.CallsPerMinute, u.Limits.CallsPerDay, u.Limits.TokensPerDay =
				ok, l.CallsPerMinute, l.CallsPerDay, l.TokensPerDay
		}
		out = append(out, *u)
	}
	slices.SortFunc(out, func(a, b AgentUsage) int { return strings.Compare(a.Agent, b.Agent) })
	return out
}

// countedToday copies the limiter's counts for today.
func (g *Gateway) countedToday(now time.Time) map[string]*AgentUsage {
	today := dayOf(now)
	out := map[string]*AgentUsage{}
	g.limits.mu.Lock()
	defer g.limits.mu.Unlock()
	for a, u := range g.limits.agents {
		if u.day == today && (u.calls > 0 || u.tokens > 0) {
			out[a] = &AgentUsage{Agent: a, Calls: u.calls, Tokens: u.tokens}
		}
	}
	return out
}
