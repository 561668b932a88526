package e2e

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"

	"github.com/agops/agops/internal/agent"
	"github.com/agops/agops/internal/agent/runs"
	"github.com/agops/agops/internal/devserver"
	"github.com/agops/agops/internal/llmtest"
	"github.com/agops/agops/internal/telemetry"
	"github.com/agops/agops/internal/telemetry/otlptest"
)

const traceSecret = "secret-argument-value-51c7"

const tracedTeam = `apiVersion: agops.dev/v1alpha1
kind: AgentTeam
metadata: {name: traced}
spec:
  models:
    m: {baseURL: MODEL_URL, model: scripted}
  agents:
    - name: researcher
      role: researches
      instructions: You are the researcher.
      tools: [tools/echo]
  flow:
    sequence: [researcher]
`

// TestRunTrace: one run, started by a client with the tracing interceptor, reaches an OTLP receiver through the real
// exporter as one trace: the workflows, the activities, the model call's GenAI span, the tool call's MCP span and,
// below it, the gateway's spans of that call. No argument value is exported.
func TestRunTrace(t *testing.T) {
	rc := otlptest.Start(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rc.URL) // and not OTEL_TRACES_EXPORTER: the embedded server reads that one
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	tp, prop := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	shutdown, err := telemetry.Setup(context.Background(), "agops-e2e")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = shutdown(context.Background())
		otel.SetTracerProvider(tp)
		otel.SetTextMapPropagator(prop)
	})
	l := newLab(t, llmtest.Script{
		{Agent: "You are the researcher", AfterTool: "tools__echo", Content: "done", Usage: [2]int64{40, 5}},
		{Agent: "You are the researcher", ToolCalls: []llmtest.Call{{Name: "tools__echo", Args: `{"text":"` + traceSecret + `"}`}},
			Usage: [2]int64{30, 4}},
	})
	l.startWorker()
	ti, err := telemetry.TemporalClientInterceptor()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(client.Options{HostPort: l.temporal.HostPort(), Logger: devserver.QuietLogger(),
		Interceptors: []interceptor.ClientInterceptor{ti}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	id, err := runs.Start(ctx, c, l.team(tracedTeam), "trace me", runs.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := runs.Result(ctx, c, id); err != nil || !strings.Contains(res.Output, "done") {
		t.Fatalf("run: %+v %v", res, err)
	}
	runWorkflow := "RunWorkflow:" + agent.TeamRunWorkflow
	spans := rc.WaitFor(t, 20*time.Second, func(s []otlptest.Span) bool {
		return len(otlptest.Named(s, runWorkflow)) == 1 && len(otlptest.Named(s, "tools/call echo")) >= 3
	})

	root := one(t, spans, "StartWorkflow:"+agent.TeamRunWorkflow, tracepb.Span_SPAN_KIND_CLIENT, "")
	if root.ParentID != "" {
		t.Errorf("the run's trace does not begin at its start: parent %s", root.ParentID)
	}
	trace := root.TraceID
	if s := one(t, spans, runWorkflow, tracepb.Span_SPAN_KIND_SERVER, trace); s.ParentID != root.SpanID {
		t.Errorf("%s: parent %s, want %s", runWorkflow, s.ParentID, root.SpanID)
	}
	one(t, spans, "RunWorkflow:"+agent.AgentTaskWorkflow, tracepb.Span_SPAN_KIND_SERVER, trace)

	byID := map[string]otlptest.Span{}
	for _, s := range spans {
		byID[s.SpanID] = s
	}
	parentName := func(s otlptest.Span) string { return byID[s.ParentID].Name }

	chats := otlptest.Named(spans, "chat scripted")
	if len(chats) != 2 {
		t.Fatalf("%d chat spans, want 2:\n%s", len(chats), otlptest.Dump(spans))
	}
	for _, s := range chats {
		if s.TraceID != trace || parentName(s) != "RunActivity:"+agent.ModelCallActivity {
			t.Errorf("chat span in trace %s under %q", s.TraceID, parentName(s))
		}
		if s.Attrs["gen_ai.operation.name"] != "chat" || s.Attrs["gen_ai.request.model"] != "scripted" ||
			s.Attrs["gen_ai.usage.input_tokens"] == "" || s.Attrs["gen_ai.usage.output_tokens"] == "" {
			t.Errorf("chat span attributes %v", s.Attrs)
		}
	}
	var toolClient, gwServer, gwUpstream otlptest.Span
	for _, s := range otlptest.Named(spans, "tools/call echo") {
		switch {
		case s.Scope == "github.com/agops/agops/internal/agent/activities":
			toolClient = s
		case s.Kind == tracepb.Span_SPAN_KIND_SERVER:
			gwServer = s
		default:
			gwUpstream = s
		}
	}
	if toolClient.TraceID != trace || parentName(toolClient) != "RunActivity:"+agent.ToolCallActivity {
		t.Errorf("the tool call's span: trace %s, under %q", toolClient.TraceID, parentName(toolClient))
	}
	if gwServer.TraceID != trace || gwServer.ParentID != toolClient.SpanID {
		t.Errorf("the gateway's span of the call: trace %s parent %s, want %s under %s", gwServer.TraceID,
			gwServer.ParentID, trace, toolClient.SpanID)
	}
	if gwServer.Attrs["agops.decision"] != "allow" || gwServer.Attrs["agops.agent"] != workerAgent {
		t.Errorf("the gateway's span attributes %v", gwServer.Attrs)
	}
	if gwUpstream.ParentID != gwServer.SpanID {
		t.Errorf("the upstream call's span: parent %s, want %s", gwUpstream.ParentID, gwServer.SpanID)
	}
	for _, name := range []string{"agops.authenticate", "agops.policy.decide", "agops.audit.write"} {
		found := false
		for _, s := range otlptest.Named(spans, name) {
			found = found || s.ParentID == gwServer.SpanID
		}
		if !found {
			t.Errorf("no %s span under the gateway's span of the call", name)
		}
	}
	for _, raw := range rc.Raw() {
		if bytes.Contains(raw, []byte(traceSecret)) || bytes.Contains(raw, []byte(workerToken)) {
			t.Fatal("an exported span carries an argument value or a token")
		}
	}
}

// one returns the one span named name of kind (in trace traceID, if given).
func one(t *testing.T, spans []otlptest.Span, name string, kind tracepb.Span_SpanKind, traceID string) otlptest.Span {
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
