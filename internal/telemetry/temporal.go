package telemetry

import (
	"fmt"

	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
)

// TemporalInterceptor is the Temporal SDK's OpenTelemetry tracing interceptor on otel's global TracerProvider: set on
// a worker, every workflow and activity is a span ("RunWorkflow:agent.TeamRun", "RunActivity:agent.ModelCall"…);
// set on the client that starts runs, a run's trace begins at "StartWorkflow:agent.TeamRun". It costs nothing
// while no provider is installed.
func TemporalInterceptor() (interceptor.Interceptor, error) {
	i, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{
		DisableQueryTracing: true, // runs are queried for their status every few seconds
	})
	if err != nil {
		return nil, fmt.Errorf("telemetry: Temporal tracing interceptor: %w", err)
	}
	return i, nil
}

// TemporalClientInterceptor is the client half of TemporalInterceptor, for the client that starts runs: a worker
// built on that client does not take it as its own (workers get theirs from internal/agent/worker), so no
// workflow is traced twice.
func TemporalClientInterceptor() (interceptor.ClientInterceptor, error) {
	i, err := TemporalInterceptor()
	if err != nil {
		return nil, err
	}
	return &clientOnly{i: i}, nil
}

type clientOnly struct {
	interceptor.ClientInterceptorBase
	i interceptor.ClientInterceptor
}

func (c *clientOnly) InterceptClient(next interceptor.ClientOutboundInterceptor) interceptor.ClientOutboundInterceptor {
	return c.i.InterceptClient(next)
}
