package plan

import "testing"

func TestCheckTelemetryOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, endpoint string
		ok             bool
		port           int32
	}{
		{"valid-none", "", true, 0},
		{"valid-in-cluster", "http://otel-collector.observability:4318", true, 4318},
		{"valid-https-default-port", "https://otlp.example.com", true, 443},
		{"valid-http-default-port", "http://collector", true, 80},
		{"invalid-no-scheme", "otel-collector:4318", false, 0},
		{"invalid-grpc-scheme", "grpc://collector:4317", false, 0},
		{"invalid-port", "http://collector:99999", false, 0},
		{"invalid-no-host", "http://:4318", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := CheckTelemetryOptions(Options{OTLPEndpoint: tc.endpoint})
			if (err == nil) != tc.ok {
				t.Fatalf("CheckTelemetryOptions(%q) = %v", tc.endpoint, err)
			}
			if tc.ok && tc.endpoint != "" {
				if p := otlpPort(tc.endpoint); p != tc.port {
					t.Errorf("port %d, want %d", p, tc.port)
				}
			}
		})
	}
}
