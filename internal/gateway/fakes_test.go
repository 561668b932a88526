package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agops/agops/internal/audit"
	"github.com/agops/agops/internal/policy"
)

// fakePolicy grants exact (agent, server, tool) triples; anything else is default-deny. It records every call it
// judged, byte-exact.
type fakePolicy struct {
	servers []policy.Server
	grants  map[string]policy.Verdict // "agent|server|tool" or "agent|server|METHOD /path"
	limits  map[string]policy.Limits  // by agent
	timeout time.Duration             // ApprovalTimeout of approval decisions
	// denyArgs, when it returns a rule, denies a call its grant would allow.
	denyArgs func(policy.Call) string
	guides   map[string]policy.Guidance

	mu   sync.Mutex
	seen []policy.Call
}

func grantKey(agent, server, tool string) string { return agent + "|" + server + "|" + tool }

func (p *fakePolicy) Decide(c policy.Call) policy.Decision {
	p.mu.Lock()
	p.seen = append(p.seen, c)
	p.mu.Unlock()
	what := c.Tool
	if what == "" {
		what = c.Method + " " + c.Path
	}
	key := grantKey(c.Agent, c.Server, what)
	v, ok := p.grants[key]
	if !ok {
		return policy.Decision{Verdict: policy.Deny, Rule: "default-deny", Reason: "nothing grants this call"}
	}
	if p.denyArgs != nil {
		if rule := p.denyArgs(c); rule != "" {
			return policy.Decision{Verdict: policy.Deny, Rule: rule, Reason: "arguments refused"}
		}
	}
	return policy.Decision{Verdict: v, Rule: fmt.Sprintf("agents[%s].grants[%s]", c.Agent, what),
		Reason: "granted", Limits: p.limits[c.Agent], ApprovalTimeout: p.timeout}
}

func (p *fakePolicy) Allowed(agent, server, tool string) bool {
	v, ok := p.grants[grantKey(agent, server, tool)]
	return ok && v != policy.Deny
}

func (p *fakePolicy) Guidance(agent string) (policy.Guidance, bool) {
	g, ok := p.guides[agent]
	return g, ok
}

func (p *fakePolicy) Servers() []policy.Server { return p.servers }

func (p *fakePolicy) calls() []policy.Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]policy.Call(nil), p.seen...)
}

// memAudit is an Appender keeping records in memory; it fails while fail is set.
type memAudit struct {
	mu   sync.Mutex
	recs []audit.Record
	fail atomic.Bool
}

var errDiskFull = errors.New("disk full")

func (a *memAudit) Append(_ context.Context, r audit.Record) error {
	if a.fail.Load() {
		return errDiskFull
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recs = append(a.recs, r)
	return nil
}

func (a *memAudit) records() []audit.Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]audit.Record(nil), a.recs...)
}

// find returns the records matching event and decision (either may be empty).
func (a *memAudit) find(event, decision string) []audit.Record {
	var out []audit.Record
	for _, r := range a.records() {
		if (event == "" || r.Event == event) && (decision == "" || r.Decision == decision) {
			out = append(out, r)
		}
	}
	return out
}

// hasDeny reports whether a deny record with rule (prefix) exists.
func (a *memAudit) hasDeny(rule string) bool {
	for _, r := range a.find("decision", "deny") {
		if strings.HasPrefix(r.Rule, rule) {
			return true
		}
	}
	return false
}

func (a *memAudit) dump() string {
	b, _ := json.MarshalIndent(a.records(), "", " ")
	return string(b)
}

// noopAudit accepts everything at once (for benchmarks).
type noopAudit struct{}

func (noopAudit) Append(context.Context, audit.Record) error { return nil }

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
