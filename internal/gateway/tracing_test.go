package gateway

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/agops/agops/internal/telemetry"
	"github.com/agops/agops/internal/telemetry/otlptest"
)

const (
	agentTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	agentSpanID  = "00f067aa0ba902b7"
	secretArg    = "secret-argument-value-8d1f"
)

// exportTo sends the process's spans to a new OTLP receiver through telemetry.Setup and the real OTLP HTTP exporter,
// as the OTEL_* variables say; flush sends what is batched. Tests using it cannot run in parallel.
func exportTo(t *testing.T, service string) (rc *otlptest.Receiver, flush func()) {
	t.Helper()
	rc = otlptest.Start(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rc.URL)
	t.Setenv("OTEL_SERVICE_NAME", service)
	tp, prop := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	shutdown, err := telemetry.Setup(context.Background(), "agops-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = shutdown(context.Background())
		otel.SetTracerProvider(tp)
		otel.SetTextMapPropagator(prop)
	})
	return rc, func() {
		if err := shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTraceOfGovernedCall follows one allowed call (continuing the agent's traceparent) and one approval-gated call
// through a real gateway to an OTLP receiver: the span tree of docs/telemetry.md, and no argument value anywhere.
func TestTraceOfGovernedCall(t *testing.T) {
	rc, flush := exportTo(t, "agops-gateway")
	e := newEnv(t, upstreamModes[3])
	resp, body := e.post(tokenA, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"`+secretArg+`"}}}`,
		map[string]string{"Traceparent": "00-" + agentTraceID + "-" + agentSpanID + "-01"})
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("echo: "+secretArg)) {
		t.Fatalf("call: %d %s", resp.StatusCode, body)
	}
	upstreamTP := e.up.headers.Get("Traceparent")
	ch := e.deployAsync(context.Background(), secretArg)
	e.decide(e.waitPending(1)[0].ID, true, "alice")
	if r := wait(t, ch); r.err != nil {
		t.Fatal(r.err)
	}
	flush()
	spans := rc.Spans()

	server := only(t, spans, "tools/call echo", tracepb.Span_SPAN_KIND_SERVER, agentTraceID)
	if server.ParentID != agentSpanID || server.Service != "agops-gateway" {
		t.Errorf("server span: parent %s (want the agent's %s), service %q", server.ParentID, agentSpanID, server.Service)
	}
	wantAttrs(t, server, map[string]string{"mcp.method.name": "tools/call", "gen_ai.tool.name": "echo",
		"gen_ai.operation.name": "execute_tool", "jsonrpc.request.id": "7", "agops.agent": agentA,
		"agops.decision": "allow", "agops.server": "tools",
		"agops.rule": "agents[" + agentA + "].grants[echo]"})
	for _, name := range []string{spanAuthenticate, spanDecide} {
		if s := only(t, spans, name, tracepb.Span_SPAN_KIND_INTERNAL, agentTraceID); s.ParentID != server.SpanID {
			t.Errorf("%s: parent %s, want the server span %s", name, s.ParentID, server.SpanID)
		}
	}
	audits := childrenNamed(spans, server.SpanID, spanAuditWrite)
	if len(audits) != 2 || audits[0].Attrs["agops.audit.event"] == audits[1].Attrs["agops.audit.event"] {
		t.Errorf("audit writes under the call: %+v, want a decision and a result", audits)
	}
	up := only(t, spans, "tools/call echo", tracepb.Span_SPAN_KIND_CLIENT, agentTraceID)
	if up.ParentID != server.SpanID {
		t.Errorf("upstream span's parent %s, want %s", up.ParentID, server.SpanID)
	}
	if want := "00-" + agentTraceID + "-" + up.SpanID + "-01"; upstreamTP != want {
		t.Errorf("the tool server got traceparent %q, want %q", upstreamTP, want)
	}

	deploy := only(t, spans, "tools/call deploy", tracepb.Span_SPAN_KIND_SERVER, "")
	wait := childrenNamed(spans, deploy.SpanID, spanApprovalWait)
	if len(wait) != 1 || wait[0].Attrs["agops.approval.id"] == "" || deploy.Attrs["agops.approval.id"] != wait[0].Attrs["agops.approval.id"] {
		t.Errorf("approval wait spans %+v, call span attributes %v", wait, deploy.Attrs)
	}
	for _, raw := range rc.Raw() {
		if bytes.Contains(raw, []byte(secretArg)) || bytes.Contains(raw, []byte(tokenA)) {
			t.Fatal("an exported span carries an argument value or a token")
		}
	}
}

// TestTraceOfRefusals: an unknown token and a denied call end their spans with the rule as error.type.
func TestTraceOfRefusals(t *testing.T) {
	rc, flush := exportTo(t, "agops-gateway")
	e := newEnv(t, upstreamModes[3])
	e.post("unknown-token-0123456789abcdef", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}`, nil)
	e.post(tokenB, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"`+secretArg+`"}}}`, nil)
	flush()
	spans := rc.Spans()
	auth := only(t, spans, "POST /mcp/{server}", tracepb.Span_SPAN_KIND_SERVER, "")
	wantAttrs(t, auth, map[string]string{"agops.decision": "deny", "error.type": "gateway:authentication"})
	denied := only(t, spans, "tools/call echo", tracepb.Span_SPAN_KIND_SERVER, "")
	if denied.Status != tracepb.Status_STATUS_CODE_ERROR || denied.Attrs["agops.decision"] != "deny" ||
		denied.Attrs["error.type"] == "" {
		t.Errorf("denied call: status %v, attributes %v", denied.Status, denied.Attrs)
	}
	if n := len(otlptest.Named(spans, "tools/call echo")); n != 1 {
		t.Errorf("%d spans named tools/call echo: a denied call reached the tool server", n)
	}
}

// only returns the one span named name of kind (in trace traceID, if given).
func only(t *testing.T, spans []otlptest.Span, name string, kind tracepb.Span_SpanKind, traceID string) otlptest.Span {
	t.Helper()
	var found []otlptest.Span
	for _, s := range otlptest.Named(spans, name) {
		if s.Kind == kind && (traceID == "" || s.TraceID == traceID) {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s spans named %q, want 1; spans:\n%s", len(found), kind, name, otlptest.Dump(spans))
	}
	return found[0]
}

func childrenNamed(spans []otlptest.Span, parent, name string) []otlptest.Span {
	var out []otlptest.Span
	for _, s := range otlptest.Named(spans, name) {
		if s.ParentID == parent {
			out = append(out, s)
		}
	}
	return out
}

func wantAttrs(t *testing.T, s otlptest.Span, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if s.Attrs[k] != v {
			t.Errorf("span %q: %s = %q, want %q (all: %v)", s.Name, k, s.Attrs[k], v, s.Attrs)
		}
	}
}
