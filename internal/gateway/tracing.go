package gateway

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/agops/agops/internal/audit"
	"github.com/agops/agops/internal/policy"
)

// Tracing (docs/telemetry.md): one server span per request on the agents' listener, continuing the agent's W3C
// traceparent, named after the MCP method and tool once the body is read ("tools/call echo"); below it
// agops.authenticate, agops.policy.decide, agops.approval.wait (when the policy asks for one), agops.audit.write (each
// audit record) and a client span for the upstream call, whose traceparent the tool server receives. Spans carry
// names, identities, rules and IDs, never argument values, bodies, paths of plain HTTP calls, or tokens.

const tracerName = "github.com/agops/agops/internal/gateway"

// w3c reads and writes traceparent, whatever otel's global propagator is.
var w3c = propagation.TraceContext{}

// Span names other than the MCP ones ("{mcp.method.name} {gen_ai.tool.name}").
const (
	spanAuthenticate = "agops.authenticate"
	spanDecide       = "agops.policy.decide"
	spanApprovalWait = "agops.approval.wait"
	spanAuditWrite   = "agops.audit.write"
)

// reqTrace is the trace of one request on the agents' listener: its server span and what is known of the call.
type reqTrace struct {
	span   trace.Span
	method string // mcp.method.name, once the body is read
	tool   string // gen_ai.tool.name of a tools/call
}

type reqTraceKey struct{}

// traceOf returns the trace of the request ctx belongs to, nil outside one.
func traceOf(ctx context.Context) *reqTrace {
	rt, _ := ctx.Value(reqTraceKey{}).(*reqTrace)
	return rt
}

// startRequest starts the server span of a request on the agents' listener, as a child of the caller's traceparent.
func (g *Gateway) startRequest(r *http.Request) (*http.Request, *reqTrace) {
	ctx := w3c.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	route := r.Pattern
	if i := strings.IndexByte(route, ' '); i >= 0 {
		route = route[i+1:]
	}
	attrs := []attribute.KeyValue{attribute.String("http.request.method", r.Method),
		attribute.String("agops.request.id", requestIDFrom(r.Context()))}
	if route != "" {
		attrs = append(attrs, attribute.String("http.route", route))
	}
	if s := r.PathValue("server"); s != "" {
		attrs = append(attrs, attribute.String("agops.server", s))
	}
	ctx, span := g.tracer.Start(ctx, strings.TrimSpace(r.Method+" "+route),
		trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	rt := &reqTrace{span: span}
	return r.WithContext(context.WithValue(ctx, reqTraceKey{}, rt)), rt
}

// traceAuthenticate runs the authenticator under its own span.
func (g *Gateway) traceAuthenticate(r *http.Request) (string, error) {
	_, span := g.tracer.Start(r.Context(), spanAuthenticate)
	defer span.End()
	agent, err := g.opts.Authenticator.Authenticate(r)
	if err == nil && agent != "" {
		span.SetAttributes(attribute.String("agops.agent", agent))
		traceOf(r.Context()).span.SetAttributes(attribute.String("agops.agent", agent))
		return agent, nil
	}
	span.SetAttributes(attribute.String("error.type", "gateway:authentication"))
	span.SetStatus(codes.Error, "unauthenticated")
	return agent, err
}

// traceMessage names the request's span after the JSON-RPC message it carries.
func traceMessage(r *http.Request, msg message, tool string) {
	rt := traceOf(r.Context())
	if rt == nil || msg.Method == "" {
		return
	}
	rt.method, rt.tool = msg.Method, tool
	attrs := []attribute.KeyValue{attribute.String("mcp.method.name", msg.Method)}
	if len(msg.ID) > 0 {
		attrs = append(attrs, attribute.String("jsonrpc.request.id", strings.Trim(string(msg.ID), `"`)))
	}
	if sid := r.Header.Get("Mcp-Session-Id"); sid != "" {
		attrs = append(attrs, attribute.String("mcp.session.id", sid))
	}
	if v := r.Header.Get("Mcp-Protocol-Version"); v != "" {
		attrs = append(attrs, attribute.String("mcp.protocol.version", v))
	}
	if tool != "" {
		attrs = append(attrs, attribute.String("gen_ai.operation.name", "execute_tool"),
			attribute.String("gen_ai.tool.name", tool))
	}
	rt.span.SetAttributes(attrs...)
	rt.span.SetName(rt.name())
}

// name is "{mcp.method.name} {gen_ai.tool.name}", or the method alone.
func (rt *reqTrace) name() string {
	return strings.TrimSpace(rt.method + " " + rt.tool)
}

// traceDecide runs the policy under its own span.
func (g *Gateway) traceDecide(ctx context.Context, c *call) (policy.Decision, bool) {
	_, span := g.tracer.Start(ctx, spanDecide)
	defer span.End()
	d, ok := safeDecide(c.pol.p, c.c)
	if !ok {
		span.SetStatus(codes.Error, "policy error")
		return d, ok
	}
	span.SetAttributes(attribute.String("agops.decision", string(d.Verdict)), attribute.String("agops.rule", d.Rule))
	return d, ok
}

// traceApproval waits for an approval under its own span.
func (g *Gateway) traceApproval(ctx context.Context, c *call, d policy.Decision) (string, *rpcError) {
	ctx, span := g.tracer.Start(ctx, spanApprovalWait)
	defer span.End()
	id, aerr := g.awaitApproval(ctx, c, d)
	if aerr != nil {
		id = aerr.ApprovalID
		span.SetAttributes(attribute.String("agops.rule", aerr.Rule))
	}
	if id != "" {
		span.SetAttributes(attribute.String("agops.approval.id", id))
	}
	return id, aerr
}

// traceVerdict records the gateway's verdict on the request's span.
func traceVerdict(ctx context.Context, decision, rule, approvalID string) {
	rt := traceOf(ctx)
	if rt == nil {
		return
	}
	attrs := []attribute.KeyValue{attribute.String("agops.decision", decision), attribute.String("agops.rule", rule)}
	if approvalID != "" {
		attrs = append(attrs, attribute.String("agops.approval.id", approvalID))
	}
	if decision == "deny" {
		attrs = append(attrs, attribute.String("error.type", rule))
		rt.span.SetStatus(codes.Error, "denied by "+rule)
	}
	rt.span.SetAttributes(attrs...)
}

// traceAudit starts the span of one audit write inside a request; end records its error. Inside a request whose
// span records nothing (no tracer provider, or a trace not sampled) it starts none: its child would record nothing
// either, and two spans a call are a measurable part of the gateway's allocations.
func (g *Gateway) traceAudit(ctx context.Context, rec audit.Record) (context.Context, func(error)) {
	if rt := traceOf(ctx); rt == nil || !rt.span.IsRecording() {
		return ctx, noEnd
	}
	ctx, span := g.tracer.Start(ctx, spanAuditWrite, trace.WithAttributes(attribute.String("agops.audit.event", rec.Event)))
	if rec.Decision != "" {
		span.SetAttributes(attribute.String("agops.decision", rec.Decision))
	}
	if rec.Status != "" {
		span.SetAttributes(attribute.String("agops.status", rec.Status))
	}
	return ctx, func(err error) {
		if err != nil {
			span.SetAttributes(attribute.String("error.type", "audit"))
			span.SetStatus(codes.Error, "audit append failed")
		}
		span.End()
	}
}

func noEnd(error) {}

// tracingTransport makes a client span of every upstream request made inside a request's trace and sends the
// tool server its traceparent.
type tracingTransport struct {
	tracer trace.Tracer
	next   http.RoundTripper
}

func (t tracingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt := traceOf(req.Context())
	if rt == nil {
		return t.next.RoundTrip(req)
	}
	name := req.Method
	attrs := []attribute.KeyValue{attribute.String("http.request.method", req.Method)}
	if rt.method != "" {
		name = rt.name()
		attrs = append(attrs, attribute.String("mcp.method.name", rt.method))
		if rt.tool != "" {
			attrs = append(attrs, attribute.String("gen_ai.operation.name", "execute_tool"),
				attribute.String("gen_ai.tool.name", rt.tool))
		}
	}
	host, port, err := net.SplitHostPort(req.URL.Host)
	if err != nil {
		host = req.URL.Host
	}
	attrs = append(attrs, attribute.String("server.address", host))
	if p, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, attribute.Int("server.port", p))
	}
	ctx, span := t.tracer.Start(req.Context(), name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	defer span.End()
	if span.SpanContext().IsValid() {
		req = req.Clone(ctx)
		w3c.Inject(ctx, propagation.HeaderCarrier(req.Header))
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		span.SetAttributes(attribute.String("error.type", "transport"))
		span.SetStatus(codes.Error, "the tool server did not answer")
		return resp, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 500 {
		span.SetAttributes(attribute.String("error.type", strconv.Itoa(resp.StatusCode)))
		span.SetStatus(codes.Error, resp.Status)
	}
	return resp, nil
}
