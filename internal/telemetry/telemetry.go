// Package telemetry owns tracing setup: it installs OpenTelemetry's global TracerProvider, exporting spans over OTLP
// HTTP, when the standard OTEL_* variables ask for it, and nothing otherwise. Export is off by default; the spans the
// gateway and the agent runs make then cost nothing. docs/telemetry.md names every span.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Setup installs a global TracerProvider exporting to OTLP over HTTP when the environment asks for it:
// OTEL_TRACES_EXPORTER=otlp, or OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set; and
// OTEL_SDK_DISABLED=true turns it off whatever else says. Otherwise it installs nothing and shutdown does nothing.
// The exporter reads the other OTEL_EXPORTER_OTLP_* variables itself; OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES name the resource (serviceName when they do not). Bad values are errors.
func Setup(ctx context.Context, serviceName string) (shutdown func(context.Context) error, err error) {
	none := func(context.Context) error { return nil }
	on, err := enabled(os.Getenv)
	if err != nil || !on {
		return none, err
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", serviceName)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return none, fmt.Errorf("telemetry: OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return none, fmt.Errorf("telemetry: OTLP exporter: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return tp.Shutdown, nil
}

// enabled reads the variables that turn export on, and refuses the values this package cannot honour.
func enabled(getenv func(string) string) (bool, error) {
	var errs []error
	disabled := strings.TrimSpace(getenv("OTEL_SDK_DISABLED"))
	switch strings.ToLower(disabled) {
	case "", "false":
	case "true":
		return false, nil
	default:
		errs = append(errs, fmt.Errorf("OTEL_SDK_DISABLED=%q: want true or false", disabled))
	}
	on := false
	switch exporter := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); exporter {
	case "none":
		return false, errors.Join(errs...)
	case "otlp":
		on = true
	case "":
	default:
		errs = append(errs, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: only otlp (or none) is supported", exporter))
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			continue
		}
		on = true
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s=%q: want an http:// or https:// URL such as http://collector:4318", name, v))
		}
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
		if v := strings.TrimSpace(getenv(name)); v != "" && v != "http/protobuf" {
			errs = append(errs, fmt.Errorf("%s=%q: only http/protobuf is supported", name, v))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return false, fmt.Errorf("telemetry: %w", err)
	}
	return on, nil
}
