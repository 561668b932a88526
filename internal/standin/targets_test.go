package standin

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestParsePorts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     []Port
		wantErr  string
	}{
		{"valid-list", "8080/TCP,5432,53/udp", []Port{{8080, tcp}, {5432, tcp}, {53, udp}}, ""},
		{"valid-duplicates-dropped", "80,80/TCP, 80/UDP", []Port{{80, tcp}, {80, udp}}, ""},
		{"valid-empty", "", nil, ""},
		{"valid-any-port", "0/TCP,0/TCP", []Port{{0, tcp}, {0, tcp}}, ""},
		{"invalid-sctp", "9899/SCTP", nil, "TCP and UDP"},
		{"invalid-number", "http", nil, "not a port"},
		{"invalid-too-large", "70000", nil, "not a port"},
		{"invalid-negative", "-1", nil, "not a port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParsePorts(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePorts(%q) error = %v, want one mentioning %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParsePorts(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseProbes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     []Target
		wantErr  bool
	}{
		{"valid-one", "shop/api=api.shop.svc.cluster.local:8000/TCP",
			[]Target{{Addr: "api.shop.svc.cluster.local:8000", Protocol: tcp, Source: "probe", Workload: "shop/api", Port: 8000}}, false},
		{"valid-mapped-port-and-udp", "ns/gw=mcp.ns.svc.cluster.local:8811/TCP@8080, ns/dns=dns:53/udp",
			[]Target{{Addr: "mcp.ns.svc.cluster.local:8811", Protocol: tcp, Source: "probe", Workload: "ns/gw", Port: 8080},
				{Addr: "dns:53", Protocol: udp, Source: "probe", Workload: "ns/dns", Port: 53}}, false},
		{"valid-no-protocol", "ns/a=a:80", []Target{{Addr: "a:80", Protocol: tcp, Source: "probe", Workload: "ns/a", Port: 80}}, false},
		{"valid-kind-in-name", "ns/Job/a=a:80/TCP", []Target{{Addr: "a:80", Protocol: tcp, Source: "probe", Workload: "ns/Job/a", Port: 80}}, false},
		{"valid-empty", "", nil, false},
		{"invalid-no-workload", "a:80/TCP", nil, true},
		{"invalid-workload-without-namespace", "a=a:80/TCP", nil, true},
		{"invalid-no-port", "ns/a=a/TCP", nil, true},
		{"invalid-port-zero", "ns/a=a:0/TCP", nil, true},
		{"invalid-container-port", "ns/a=a:80/TCP@x", nil, true},
		{"invalid-protocol", "ns/a=a:80/SCTP", nil, true},
		{"invalid-empty-host", "ns/a=:80", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseProbes(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseProbes(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseProbes(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

// TestProbeStringRoundTrip: the transform writes Target.String, the stand-in reads it with ParseProbes.
func TestProbeStringRoundTrip(t *testing.T) {
	t.Parallel()
	for _, want := range []Target{
		{Addr: "api.shop.svc.cluster.local:8000", Protocol: tcp, Source: "probe", Workload: "shop/api", Port: 8000},
		{Addr: "mcp.ns.svc.cluster.local:8811", Protocol: tcp, Source: "probe", Workload: "ns/gw", Port: 8080},
		{Addr: "dns.ns.svc.cluster.local:53", Protocol: udp, Source: "probe", Workload: "ns/dns", Port: 53},
	} {
		got, err := ParseProbes(want.String())
		if err != nil || len(got) != 1 || got[0] != want {
			t.Errorf("ParseProbes(%q) = %+v, %v; want %+v", want.String(), got, err, want)
		}
	}
}

func TestConfigTargets(t *testing.T) {
	t.Parallel()
	env := []string{
		"DATABASE_URL=postgres://app:s3cret@postgres:5432/app",
		"CACHE_URL=redis://:p@ss/word@redis/0",
		"TEMPORAL_ADDRESS=temporal:7233",
		"DB_HOST=mysql", "DB_PORT=3306",
		"QDRANT_URL=http://qdrant",
		"THING_URL=foo://thing/x",
		"SELF_URL=http://localhost:8000/healthz",
		"BIND=0.0.0.0:9000",
		"LOOP=127.0.0.1:6000",
		"REDIS_PASSWORD=redis:6379",
		"API_TOKEN=tok:1234",
		"KUBERNETES_PORT=tcp://10.43.0.1:443",
		"POD_NAME=api-0",
		"START=12:30",
		"VERSION=1.5:3",
		"AGENT_MODEL=llama3.2:3b",
		"ZZ_SAME=postgres:5432",
		"EMPTY=",
		"NOEQUALS",
	}
	args := []string{"python", "-m", "worker", "--broker", "amqp://guest:guest@rabbit", "--peer=10.0.0.7:7000", "--self", "localhost:8000"}
	targets, self := ConfigTargets(env, args)
	want := []Target{
		{Addr: "redis:6379", Protocol: tcp, Source: "config:CACHE_URL", Port: 6379},
		{Addr: "postgres:5432", Protocol: tcp, Source: "config:DATABASE_URL", Port: 5432},
		{Addr: "mysql:3306", Protocol: tcp, Source: "config:DB_HOST", Port: 3306},
		{Addr: "qdrant:80", Protocol: tcp, Source: "config:QDRANT_URL", Port: 80},
		{Addr: "temporal:7233", Protocol: tcp, Source: "config:TEMPORAL_ADDRESS", Port: 7233},
		{Addr: "rabbit:5672", Protocol: tcp, Source: "config:args", Port: 5672},
		{Addr: "10.0.0.7:7000", Protocol: tcp, Source: "config:args", Port: 7000},
	}
	if !reflect.DeepEqual(targets, want) {
		t.Errorf("targets:\n got %+v\nwant %+v", targets, want)
	}
	wantSelf := []Target{
		{Addr: "0.0.0.0:9000", Protocol: tcp, Source: "config:BIND", Port: 9000},
		{Addr: "127.0.0.1:6000", Protocol: tcp, Source: "config:LOOP", Port: 6000},
		{Addr: "localhost:8000", Protocol: tcp, Source: "config:SELF_URL", Port: 8000},
	}
	if !reflect.DeepEqual(self, wantSelf) {
		t.Errorf("self:\n got %+v\nwant %+v", self, wantSelf)
	}
	all := fmt.Sprintf("%+v %+v", targets, self)
	for _, secret := range []string{"s3cret", "p@ss", "word", "guest", "tok", "1234", "10.43.0.1"} {
		if strings.Contains(all, secret) {
			t.Errorf("the targets hold %q: %s", secret, all)
		}
	}
}

func TestConfigTargetsBounded(t *testing.T) {
	t.Parallel()
	var env []string
	for i := range 200 {
		env = append(env, fmt.Sprintf("PEER_%03d=host%d:80", i, i))
	}
	targets, self := ConfigTargets(env, nil)
	if len(targets)+len(self) != maxConfigTargets {
		t.Errorf("%d targets from 200 variables, want the bound %d", len(targets)+len(self), maxConfigTargets)
	}
}

func TestPlausibleHost(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"postgres": true, "api.shop.svc.cluster.local": true, "10.0.0.7": true, "kafka-1": true, "mcp_tools": true,
		"12": false, "1.5": false, "a..b": false, "-x": false, "x.": false, "": false,
	} {
		if got := plausibleHost(host); got != want {
			t.Errorf("plausibleHost(%q) = %v, want %v", host, got, want)
		}
	}
}

// FuzzParseProbes: the --probe parser never panics, and what it accepts is written back (Target.String) to the
// same targets.
func FuzzParseProbes(f *testing.F) {
	for _, s := range []string{
		"shop/api=api.shop.svc.cluster.local:8000/TCP", "ns/gw=mcp:8811/TCP@8080,ns/dns=dns:53/udp", "ns/a=[::1]:80",
		"a=b", "=:/@", "ns/a=a:80/TCP@0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := ParseProbes(s)
		if err != nil {
			return
		}
		for _, want := range ts {
			got, err := ParseProbes(want.String())
			if err != nil || len(got) != 1 || got[0] != want {
				t.Fatalf("%+v written as %q reads back as %+v, %v", want, want.String(), got, err)
			}
		}
	})
}
