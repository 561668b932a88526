package gateway

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/agops/agops/internal/audit"
)

// agentGate bounds what one authenticated agent can make the gateway hold whatever its policy says: requests in
// flight at once (each holds a goroutine, a body and an upstream connection; streams included) and requests per
// minute on the agents' listener (every MCP message counts: initialize, tools/list and notifications too, so that an
// agent cannot open thousands of upstream sessions). The policy's own limits (calls per minute and per day, tokens)
// apply to tools/call on top.
type agentGate struct {
	mu         sync.Mutex
	inFlight   map[string]int
	buckets    map[string]*bucket
	maxFlight  int
	perMinute  float64
	lastTrim   time.Time
	bucketIdle time.Duration
}

type bucket struct {
	tokens float64
	filled time.Time
}

func newAgentGate(maxFlight, perMinute int) *agentGate {
	return &agentGate{inFlight: map[string]int{}, buckets: map[string]*bucket{}, maxFlight: maxFlight,
		perMinute: float64(perMinute), bucketIdle: 10 * time.Minute}
}

// enter admits one request of agent at now, or says which limit it hits; leave must be called once it is over.
func (a *agentGate) enter(agent string, now time.Time) (leave func(), rule, reason string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.inFlight[agent] >= a.maxFlight {
		return nil, "limits:concurrency", fmt.Sprintf("%d requests of this agent are in flight already", a.maxFlight)
	}
	b := a.buckets[agent]
	if b == nil {
		b = &bucket{tokens: a.perMinute, filled: now}
		a.buckets[agent] = b
	}
	b.tokens = min(a.perMinute, b.tokens+now.Sub(b.filled).Minutes()*a.perMinute)
	b.filled = now
	if b.tokens < 1 {
		return nil, "limits:requestsPerMinute", fmt.Sprintf("more than %.0f requests per minute", a.perMinute)
	}
	b.tokens--
	a.inFlight[agent]++
	a.trim(now)
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.inFlight[agent]--; a.inFlight[agent] <= 0 {
			delete(a.inFlight, agent)
		}
	}, "", ""
}

// trim forgets the buckets of agents idle long enough for theirs to be full; the lock is held.
func (a *agentGate) trim(now time.Time) {
	if now.Sub(a.lastTrim) < a.bucketIdle {
		return
	}
	a.lastTrim = now
	for agent, b := range a.buckets {
		if now.Sub(b.filled) > a.bucketIdle && a.inFlight[agent] == 0 {
			delete(a.buckets, agent)
		}
	}
}

// admitAgent applies the agent gate to an authenticated request; it answers 429 and returns false when a limit is
// hit. The refusals are audited, the first few of a window one by one and the rest in aggregate (per agent).
func (g *Gateway) admitAgent(w http.ResponseWriter, r *http.Request, agent string) (leave func(), ok bool) {
	leave, rule, reason := g.gate.enter(agent, g.now())
	if leave != nil {
		return leave, true
	}
	requestID := requestIDFrom(r.Context())
	g.metrics.rejected.WithLabelValues(rule).Inc()
	if g.limitFlood.admit(agent) {
		_ = g.appendAudit(context.WithoutCancel(r.Context()), audit.Record{
			Time: g.now(), Event: "decision", RequestID: requestID, Caller: agent, Remote: r.RemoteAddr,
			Server: r.PathValue("server"), Method: r.Method, Path: r.URL.Path, Decision: "deny", Rule: rule, Reason: reason,
		})
	}
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Connection", "close")
	writeRPCError(w, nil, newRPCError(http.StatusTooManyRequests, CodeLimited, rule, reason), requestID)
	return nil, false
}
