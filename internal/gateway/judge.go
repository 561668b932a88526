package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/agops/agops/internal/audit"
	"github.com/agops/agops/internal/policy"
)

// admit judges a call: policy, limits, approval, and finally the decision record. Only when admit returns no error
// may the call be forwarded; it then counts against the agent's limits, whatever the upstream answers.
func (g *Gateway) admit(ctx context.Context, c *call) *rpcError {
	d, ok := g.traceDecide(ctx, c)
	if !ok {
		g.log.Error("policy panicked", "request", c.requestID)
	}
	if derr := verdictDenial(d, ok); derr != nil {
		return g.deny(ctx, c, derr)
	}
	res, lerr := g.limits.reserve(c.c.Agent, d.Limits, g.now())
	if lerr != nil {
		return g.deny(ctx, c, lerr)
	}
	var approvalID string
	if d.Verdict == policy.Approve {
		id, aerr := g.traceApproval(ctx, c, d)
		if aerr != nil {
			g.limits.release(res)
			return g.deny(ctx, c, aerr)
		}
		approvalID = id
	}
	rec := c.record(g.now())
	rec.Event, rec.Decision, rec.Rule, rec.Reason, rec.ApprovalID = "decision", "allow", d.Rule, d.Reason, approvalID
	// A keyed call's started entry is made durable beside its decision record: the two wait for their group
	// commits at once, and the call is forwarded only once both are durable.
	var keyErr error
	var started sync.WaitGroup
	if c.key != nil {
		started.Go(func() { keyErr = g.keyStarted(c) })
	}
	err := g.appendAudit(ctx, rec)
	started.Wait()
	if err != nil {
		if c.key != nil && keyErr == nil {
			g.keyLost(c, 0, nil) // nothing was sent: free the key
		}
		g.limits.release(res)
		g.metrics.call(c.c.Server, c.c.Tool, "deny")
		return internalDenial("audit log unavailable")
	}
	if keyErr != nil {
		// Allowed, but not forwarded: the call cannot be protected from running twice.
		g.log.Error("idempotency store", "request", c.requestID, "err", keyErr)
		g.limits.release(res)
		return g.deny(ctx, c, internalDenial("idempotency store unavailable"))
	}
	g.metrics.call(c.c.Server, c.c.Tool, "allow")
	traceVerdict(ctx, "allow", d.Rule, approvalID)
	if g.log.Enabled(ctx, slog.LevelInfo) { // the arguments cost allocations even when nothing is logged
		g.log.Info("call allowed", "request", c.requestID, "agent", c.c.Agent, "server", c.c.Server, "tool", c.c.Tool,
			"method", c.c.Method, "path", c.c.Path, "rule", d.Rule, "approval", approvalID)
	}
	return nil
}

// verdictDenial is the refusal a decision calls for (ok false: the policy failed), nil when the call may go on.
func verdictDenial(d policy.Decision, ok bool) *rpcError {
	if !ok {
		return internalDenial("policy error")
	}
	switch d.Verdict {
	case policy.Allow, policy.Approve:
		return nil
	case policy.Deny:
		rule := d.Rule
		if rule == "" {
			rule = "policy"
		}
		return newRPCError(http.StatusOK, CodeDenied, rule, d.Reason)
	}
	return newRPCError(http.StatusOK, CodeDenied, "gateway:verdict", fmt.Sprintf("unknown verdict %q", d.Verdict))
}

// safeDecide asks the policy, turning a panic into a failure.
func safeDecide(p Policy, c policy.Call) (d policy.Decision, ok bool) {
	defer func() {
		if recover() != nil {
			d, ok = policy.Decision{}, false
		}
	}()
	return p.Decide(c), true
}

// safeAllowed asks the policy whether a tool may be listed; a panic hides the tool.
func safeAllowed(p Policy, agent, server, tool string) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return p.Allowed(agent, server, tool)
}

// deny audits and counts a denied call and returns e for the caller.
func (g *Gateway) deny(ctx context.Context, c *call, e *rpcError) *rpcError {
	rec := c.record(g.now())
	rec.Event, rec.Decision, rec.Rule, rec.Reason, rec.ApprovalID = "decision", "deny", e.Rule, e.Reason, e.ApprovalID
	_ = g.appendAudit(context.WithoutCancel(ctx), rec)
	g.metrics.call(c.c.Server, c.c.Tool, "deny")
	traceVerdict(ctx, "deny", e.Rule, e.ApprovalID)
	g.log.Info("call denied", "request", c.requestID, "agent", c.c.Agent, "server", c.c.Server, "tool", c.c.Tool,
		"method", c.c.Method, "path", c.c.Path, "rule", e.Rule, "reason", e.Reason)
	return e
}

// refuse audits a request refused before any call was judged (bad body, unknown server…) and answers it.
func (g *Gateway) refuse(w http.ResponseWriter, r *http.Request, id []byte, e *rpcError, tool string) {
	agent, requestID := agentFrom(r.Context()), requestIDFrom(r.Context())
	g.metrics.rejected.WithLabelValues(strings.TrimPrefix(e.Rule, "gateway:")).Inc()
	rec := audit.Record{
		Time: g.now(), Event: "decision", RequestID: requestID, Caller: agent, Remote: r.RemoteAddr,
		Server: r.PathValue("server"), Tool: tool, Method: r.Method, Path: r.URL.Path, Decision: "deny",
		Rule: e.Rule, Reason: e.Reason,
	}
	traceVerdict(r.Context(), "deny", e.Rule, "")
	_ = g.appendAudit(context.WithoutCancel(r.Context()), rec)
	g.log.Info("request refused", "request", requestID, "agent", agent, "server", rec.Server, "rule", e.Rule,
		"reason", e.Reason)
	writeRPCError(w, id, e, requestID)
}

// outcome is what the gateway learned from a forwarded call's response.
type outcome struct {
	status string // ok | error | upstream-error | timeout
	tokens int64
}

// recordResult audits the result of a forwarded call and counts its tokens.
// recordAnswered records the result of call c, which its tool server answered (msg for MCP, res for plain HTTP), and
// keeps the answer for c's key, if it has one: the two durable writes wait for their group commits at once.
func (g *Gateway) recordAnswered(ctx context.Context, c *call, o outcome, took time.Duration, msg []byte, res *HTTPAnswer) {
	if c.key == nil {
		g.recordResult(ctx, c, o, took)
		return
	}
	var kept sync.WaitGroup
	kept.Go(func() { g.keyAnswered(c, msg, res) })
	g.recordResult(ctx, c, o, took)
	kept.Wait()
}

func (g *Gateway) recordResult(ctx context.Context, c *call, o outcome, took time.Duration) {
	g.limits.addTokens(c.c.Agent, o.tokens, g.now())
	g.metrics.latency.WithLabelValues(c.c.Server).Observe(took.Seconds())
	if o.tokens > 0 {
		g.metrics.tokens.WithLabelValues(c.c.Server).Add(float64(o.tokens))
	}
	if o.status == "upstream-error" || o.status == "timeout" {
		g.metrics.upstreamErrs.WithLabelValues(c.c.Server).Inc()
	}
	rec := c.record(g.now())
	rec.Event, rec.Status, rec.DurationMS, rec.Tokens = "result", o.status, float64(took.Microseconds())/1000, o.tokens
	_ = g.appendAudit(context.WithoutCancel(ctx), rec)
	if g.log.Enabled(ctx, slog.LevelInfo) {
		g.log.Info("call finished", "request", c.requestID, "agent", c.c.Agent, "server", c.c.Server, "tool", c.c.Tool,
			"status", o.status, "ms", rec.DurationMS, "tokens", o.tokens)
	}
}
