package activities

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/agops/agops/internal/llm"
	"github.com/agops/agops/internal/team"
)

// Tracing (docs/telemetry.md): inside the activity spans of the Temporal tracing interceptor, a model call is a
// GenAI client span "chat {model}" and a tool call an MCP client span "tools/call {tool}"; the requests to the
// gateway carry its traceparent, so that the gateway's spans join the run's trace. Spans carry names and token
// counts, never messages, arguments or keys.

const tracerName = "github.com/agops/agops/internal/agent/activities"

// tracer is otel's global one: it does nothing until telemetry.Setup installs a provider.
func tracer() trace.Tracer { return otel.Tracer(tracerName) }

// startChat starts the span of one model call.
func startChat(ctx context.Context, m team.Model) (context.Context, trace.Span) {
	return tracer().Start(ctx, "chat "+m.Model, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("gen_ai.operation.name", "chat"),
		attribute.String("gen_ai.request.model", m.Model),
		attribute.String("agops.model", m.Name)))
}

// endChat records what the model answered (token counts and finish reason only), or its error.
func endChat(span trace.Span, resp llm.Response, err error) {
	defer span.End()
	if err != nil {
		span.SetAttributes(attribute.String("error.type", "model"))
		span.SetStatus(codes.Error, "model call failed")
		return
	}
	if resp.Model != "" {
		span.SetAttributes(attribute.String("gen_ai.response.model", resp.Model))
	}
	if resp.FinishReason != "" {
		span.SetAttributes(attribute.StringSlice("gen_ai.response.finish_reasons", []string{resp.FinishReason}))
	}
	if resp.Usage.PromptTokens > 0 || resp.Usage.CompletionTokens > 0 {
		span.SetAttributes(attribute.Int64("gen_ai.usage.input_tokens", resp.Usage.PromptTokens),
			attribute.Int64("gen_ai.usage.output_tokens", resp.Usage.CompletionTokens))
	}
}

// startToolCall starts the MCP client span of one tool call through the gateway.
func startToolCall(ctx context.Context, server, tool string) (context.Context, trace.Span) {
	return tracer().Start(ctx, "tools/call "+tool, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("mcp.method.name", "tools/call"),
		attribute.String("gen_ai.operation.name", "execute_tool"),
		attribute.String("gen_ai.tool.name", tool),
		attribute.String("agops.server", server)))
}

// endToolCall records how the call ended.
func endToolCall(span trace.Span, out Outcome, err error) {
	defer span.End()
	switch {
	case err != nil:
		span.SetAttributes(attribute.String("error.type", "gateway"))
		span.SetStatus(codes.Error, "tool call failed")
	case out.ApprovalID != "":
		span.SetAttributes(attribute.String("agops.approval.id", out.ApprovalID))
	case out.IsError:
		span.SetAttributes(attribute.String("error.type", "tool_error"))
		span.SetStatus(codes.Error, "the tool reported an error")
	}
}

// injectTrace writes the W3C traceparent of ctx's span into h.
func injectTrace(ctx context.Context, h http.Header) {
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(h))
}
