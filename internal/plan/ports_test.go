package plan

import (
	"slices"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/agops/agops/internal/model"
)

func TestFindHostPorts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     []hostPort
	}{
		{"valid-url-with-port", "http://api:8080/v1", []hostPort{{"api", 8080}}},
		{"valid-url-default-port-http", "http://web", []hostPort{{"web", 80}}},
		{"valid-url-default-port-https", "https://web/path", []hostPort{{"web", 443}}},
		{"valid-url-default-port-postgres", "postgres://db/app", []hostPort{{"db", 5432}}},
		{"valid-url-scheme-case", "REDIS://cache", []hostPort{{"cache", 6379}}},
		{"valid-url-userinfo-and-port", "postgresql://app:s3cret@db:5433/app?sslmode=disable", []hostPort{{"db", 5433}}},
		{"valid-url-userinfo-no-port", "mysql://root:pw@mysql/app", []hostPort{{"mysql", 3306}}},
		{"valid-url-empty-user", "redis://:pw@cache:6380/0", []hostPort{{"cache", 6380}}},
		{"valid-url-inside-jdbc", "jdbc:postgresql://db:5432/app", []hostPort{{"db", 5432}}},
		{"valid-multiple-hosts", "mongodb://a:1,b:2", []hostPort{{"a", 1}, {"b", 2}}},
		{"valid-multiple-hosts-userinfo", "mongodb://u:p@m1:27017,m2:27018/db?replicaSet=rs", []hostPort{{"m1", 27017}, {"m2", 27018}}},
		{"valid-bare-host-port", "db:5432", []hostPort{{"db", 5432}}},
		{"valid-bare-after-equals", "host=db:5432", []hostPort{{"db", 5432}}},
		{"valid-bare-list", "kafka-1:9092,kafka-2:9093", []hostPort{{"kafka-1", 9092}, {"kafka-2", 9093}}},
		{"valid-bare-in-url-query", "http://proxy/?upstream=app:3000", []hostPort{{"proxy", 80}, {"app", 3000}}},
		{"invalid-unknown-scheme-without-port", "foo://thing/x", nil},
		{"invalid-port-zero", "db:0", nil},
		{"invalid-port-too-large", "db:99999", nil},
		{"invalid-url-port-too-large", "http://db:70000", nil},
		{"invalid-no-port", "db", nil},
		{"invalid-empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := findHostPorts(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("findHostPorts(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestSiblingPort(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) types.MappingWithEquals {
		m := types.MappingWithEquals{}
		for i := 0; i+1 < len(kv); i += 2 {
			v := kv[i+1]
			m[kv[i]] = &v
		}
		return m
	}
	tests := []struct {
		name       string
		env        types.MappingWithEquals
		key, value string
		want       int32
	}{
		{"valid-host-and-port", env("DB_HOST", "db", "DB_PORT", "5433"), "DB_HOST", "db", 5433},
		{"valid-hostname-suffix", env("REDIS_HOSTNAME", "cache", "REDIS_PORT", "6380"), "REDIS_HOSTNAME", "cache", 6380},
		{"valid-server-suffix", env("SMTP_SERVER", "mail", "SMTP_PORT", "2525"), "SMTP_SERVER", "mail", 2525},
		{"valid-address-suffix", env("API_ADDRESS", "api", "API_PORT", "9000"), "API_ADDRESS", "api", 9000},
		{"valid-lowercase-names", env("db_host", "db", "db_port", "5433"), "db_host", "db", 5433},
		{"invalid-no-port-variable", env("DB_HOST", "db"), "DB_HOST", "db", 0},
		{"invalid-port-not-a-number", env("DB_HOST", "db", "DB_PORT", "fivefour"), "DB_HOST", "db", 0},
		{"invalid-port-out-of-range", env("DB_HOST", "db", "DB_PORT", "70000"), "DB_HOST", "db", 0},
		{"invalid-port-unset", types.MappingWithEquals{"DB_HOST": ptr("db"), "DB_PORT": nil}, "DB_HOST", "db", 0},
		{"invalid-value-has-port", env("DB_HOST", "db:5432", "DB_PORT", "5433"), "DB_HOST", "db:5432", 0},
		{"invalid-value-is-url", env("DB_HOST", "http://db", "DB_PORT", "5433"), "DB_HOST", "http://db", 0},
		{"invalid-not-a-host-key", env("DB_NAME", "db", "DB_PORT", "5433"), "DB_NAME", "db", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := siblingPort(tt.env, tt.key, tt.value); got != tt.want {
				t.Errorf("siblingPort(%s=%s) = %d, want %d", tt.key, tt.value, got, tt.want)
			}
		})
	}
}

func ptr(s string) *string { return &s }

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
