package plan

import (
	"slices"
	"testing"

	"github.com/agops/agops/internal/model"
)

func TestExpandExpose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     []string
	}{
		{"valid-single", "8080", []string{"8080"}},
		{"valid-single-with-protocol", "53/udp", []string{"53/udp"}},
		{"valid-range", "8000-8002", []string{"8000", "8001", "8002"}},
		{"valid-range-with-protocol", "8000-8002/tcp", []string{"8000/tcp", "8001/tcp", "8002/tcp"}},
		{"valid-range-of-one", "9000-9000", []string{"9000"}},
		{"invalid-range-reversed", "9-8", []string{"9-8"}},
		{"invalid-range-not-numbers", "a-b", []string{"a-b"}},
		{"invalid-range-too-large", "1-5000", []string{"1-5000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := expandExpose(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("expandExpose(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParsePortProto(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in  string
		wantPort  int32
		wantProto model.Protocol
		wantErr   bool
	}{
		{"valid-port", "8080", 8080, model.TCP, false},
		{"valid-tcp", "80/tcp", 80, model.TCP, false},
		{"valid-udp", "53/udp", 53, model.UDP, false},
		{"valid-udp-uppercase", "53/UDP", 53, model.UDP, false},
		{"valid-sctp", "9899/sctp", 9899, model.SCTP, false},
		{"valid-empty-protocol", "80/", 80, model.TCP, false},
		{"valid-lowest", "1", 1, model.TCP, false},
		{"valid-highest", "65535", 65535, model.TCP, false},
		{"invalid-zero", "0", 0, "", true},
		{"invalid-too-large", "65536", 0, "", true},
		{"invalid-negative", "-1", 0, "", true},
		{"invalid-not-a-number", "http", 0, "", true},
		{"invalid-empty", "", 0, "", true},
		{"invalid-protocol", "80/quic", 0, "", true},
		{"invalid-range", "8000-8002", 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			port, proto, err := parsePortProto(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parsePortProto(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if port != tt.wantPort || proto != tt.wantProto {
				t.Errorf("parsePortProto(%q) = %d, %q; want %d, %q", tt.in, port, proto, tt.wantPort, tt.wantProto)
			}
		})
	}
}

func TestImageBase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"valid-official", "postgres", "postgres"},
		{"valid-tag", "postgres:16-alpine", "postgres"},
		{"valid-namespace", "bitnami/redis:7", "redis"},
		{"valid-registry-with-port", "registry.local:5000/team/app:1.0", "app"},
		{"valid-registry-with-port-no-tag", "localhost:5000/app", "app"},
		{"valid-digest", "ghcr.io/org/vllm-openai@sha256:0123abcd", "vllm-openai"},
		{"valid-tag-and-digest", "qdrant/qdrant:v1.9@sha256:0123abcd", "qdrant"},
		{"valid-uppercase", "Library/Redis:7", "redis"},
		{"invalid-empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := imageBase(tt.in); got != tt.want {
				t.Errorf("imageBase(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestImageRepo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"valid-hub", "temporalio/auto-setup:1.30.1", "temporalio/auto-setup"},
		{"valid-docker-io", "docker.io/temporalio/server:1.30", "temporalio/server"},
		{"valid-library", "docker.io/library/postgres:17", "postgres"},
		{"valid-registry-with-port", "registry.local:5000/temporalio/server", "temporalio/server"},
		{"valid-digest", "temporalio/admin-tools@sha256:0123abcd", "temporalio/admin-tools"},
		{"valid-uppercase", "TemporalIO/Server:1.30", "temporalio/server"},
		{"invalid-empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := imageRepo(tt.in); got != tt.want {
				t.Errorf("imageRepo(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
