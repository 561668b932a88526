package telemetry

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/agops/agops/internal/telemetry/otlptest"
)

func TestEnabled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, wantErr string
		env           map[string]string
		want          bool
	}{
		{name: "valid-nothing-set"},
		{name: "valid-exporter-otlp", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, want: true},
		{name: "valid-endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, want: true},
		{name: "valid-traces-endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://c/v1/traces"}, want: true},
		{name: "valid-disabled-wins", env: map[string]string{"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "otlp"}},
		{name: "valid-exporter-none", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}},
		{name: "invalid-exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "jaeger"}, wantErr: "only otlp"},
		{name: "invalid-endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, wantErr: "http:// or https://"},
		{name: "invalid-protocol", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, wantErr: "http/protobuf"},
		{name: "invalid-disabled", env: map[string]string{"OTEL_SDK_DISABLED": "yes"}, wantErr: "OTEL_SDK_DISABLED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := enabled(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("enabled = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// restoreGlobals puts back otel's globals after a test that calls Setup.
func restoreGlobals(t *testing.T) {
	tp, prop := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	t.Cleanup(func() { otel.SetTracerProvider(tp); otel.SetTextMapPropagator(prop) })
}

func TestSetupOffByDefault(t *testing.T) {
	for _, k := range []string{"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED"} {
		t.Setenv(k, "")
	}
	restoreGlobals(t)
	before := otel.GetTracerProvider()
	shutdown, err := Setup(context.Background(), "agops-test")
	if err != nil {
		t.Fatal(err)
	}
	if otel.GetTracerProvider() != before {
		t.Fatal("Setup installed a TracerProvider with export off")
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSetupBadValue(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url")
	restoreGlobals(t)
	if _, err := Setup(context.Background(), "agops-test"); err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_ENDPOINT") {
		t.Fatalf("err = %v, want one naming OTEL_EXPORTER_OTLP_ENDPOINT", err)
	}
}

// TestSetupExports sends one span to a receiver through the real OTLP HTTP exporter, named as the environment says.
func TestSetupExports(t *testing.T) {
	rc := otlptest.Start(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rc.URL)
	t.Setenv("OTEL_SERVICE_NAME", "from-env")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test")
	restoreGlobals(t)
	shutdown, err := Setup(context.Background(), "agops-test")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider); !ok {
		t.Fatalf("global TracerProvider is %T", otel.GetTracerProvider())
	}
	if _, ok := otel.GetTextMapPropagator().(propagation.TextMapPropagator); !ok {
		t.Fatal("no propagator")
	}
	_, span := otel.Tracer("test").Start(context.Background(), "one")
	span.End()
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := otlptest.Named(rc.Spans(), "one")
	if len(spans) != 1 || spans[0].Service != "from-env" {
		t.Fatalf("spans:\n%s", otlptest.Dump(rc.Spans()))
	}
}
