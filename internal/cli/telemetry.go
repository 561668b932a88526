package cli

import (
	"context"
	"time"

	"github.com/agops/agops/internal/telemetry"
)

// startTracing sets up trace export as the OTEL_* variables say (docs/telemetry.md: off unless they name a
// collector); stop flushes the spans, for at most a few seconds.
func startTracing(ctx context.Context, service string) (stop func(), err error) {
	shutdown, err := telemetry.Setup(ctx, service)
	if err != nil {
		return nil, err
	}
	return func() {
		flush, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = shutdown(flush)
	}, nil
}

// withTracing runs run between startTracing and its stop.
func withTracing(ctx context.Context, service string, run func(context.Context) error) error {
	stop, err := startTracing(ctx, service)
	if err != nil {
		return err
	}
	defer stop()
	return run(ctx)
}
