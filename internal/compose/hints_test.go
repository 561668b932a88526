package compose_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/agops/agops/internal/compose"
)

func int32p(n int32) *int32 { return &n }

func TestHintsValid(t *testing.T) {
	t.Parallel()
	p := load(t, compose.Options{ProjectDir: td("valid-hints")})
	tests := []struct {
		service string
		check   func(t *testing.T, h compose.ServiceHints)
	}{
		{"dns", func(t *testing.T, h compose.ServiceHints) {
			wantEqual(t, "kind", h.Kind, "DaemonSet")
			want := []compose.PortHint{{Port: 53, Protocol: "tcp"}, {Port: 53, Protocol: "udp"}, {Port: 8080, Protocol: "tcp"}, {Port: 9153, Protocol: "tcp"}}
			if !reflect.DeepEqual(h.Ports, want) {
				t.Errorf("ports = %+v, want %+v", h.Ports, want)
			}
		}},
		{"db", func(t *testing.T, h compose.ServiceHints) {
			wantEqual(t, "kind", h.Kind, "StatefulSet")
			if h.Replicas == nil || *h.Replicas != 3 {
				t.Errorf("replicas = %v, want 3", h.Replicas)
			}
			if h.Storage == nil || *h.Storage != (compose.StorageHint{Size: "20Gi", Class: "fast", AccessMode: "ReadWriteOncePod"}) {
				t.Errorf("storage = %+v", h.Storage)
			}
			if h.Probe == nil || h.Probe.HTTP == nil || h.Probe.HTTP.Path != "/healthz" || h.Probe.HTTP.Port != 8080 ||
				h.Probe.InitialDelay != 5 || h.Probe.Period != 10 {
				t.Errorf("probe = %+v", h.Probe)
			}
		}},
		{"npu", func(t *testing.T, h compose.ServiceHints) {
			wantEqual(t, "kind", h.Kind, "Job")
			if h.Accelerator == nil || *h.Accelerator != (compose.AcceleratorHint{Resource: "vendor.com/npu", Count: 2, RuntimeClass: "npu"}) {
				t.Errorf("accelerator = %+v", h.Accelerator)
			}
			if h.Probe == nil || h.Probe.TCP != 9000 {
				t.Errorf("probe = %+v, want tcp 9000", h.Probe)
			}
			if !reflect.DeepEqual(h.Replicas, int32p(0)) {
				t.Errorf("replicas = %v, want 0 (set, not absent)", h.Replicas)
			}
		}},
		{"agent", func(t *testing.T, h compose.ServiceHints) {
			wantEqual(t, "runtime", h.Runtime, compose.RuntimeAgops)
			wantEqual(t, "taskQueue", h.TaskQueue, "research/v2")
		}},
		{"own-agent", func(t *testing.T, h compose.ServiceHints) {
			wantEqual(t, "runtime", h.Runtime, compose.RuntimeOwn)
			wantEqual(t, "taskQueue", h.TaskQueue, "")
		}},
		{"plain", func(t *testing.T, h compose.ServiceHints) {
			if !reflect.DeepEqual(h, compose.ServiceHints{}) {
				t.Errorf("hints = %+v, want none", h)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			t.Parallel()
			h, err := compose.Hints(service(t, p, tt.service))
			if err != nil {
				t.Fatalf("Hints: %v", err)
			}
			tt.check(t, h)
		})
	}
	t.Run("volume", func(t *testing.T) {
		t.Parallel()
		h, err := compose.VolumeHint("models", p.Volumes["models"])
		if err != nil {
			t.Fatalf("VolumeHint: %v", err)
		}
		if h != (compose.VolumeHints{Size: "50Gi", Class: "fast"}) {
			t.Errorf("volume hints = %+v", h)
		}
	})
}

func TestHintsInvalid(t *testing.T) {
	t.Parallel()
	p := load(t, compose.Options{ProjectDir: td("invalid-hints")})
	tests := []struct {
		service string
		want    []string
	}{
		{"unknown-field", []string{`unknown field "replica"`}},
		{"bad-kind", []string{"kind", `"Pod"`, "Deployment, StatefulSet, DaemonSet, Job"}},
		{"port-too-big", []string{"port 70000", "1-65535"}},
		{"port-bad-proto", []string{"53/icmp", `"icmp"`}},
		{"port-not-number", []string{"port http", "1-65535"}},
		{"port-zero", []string{"port 0", "1-65535"}},
		{"negative-replicas", []string{"replicas", "negative"}},
		{"replicas-string", []string{"replicas: must be an integer, not a string"}},
		{"storage-list", []string{"storage: must be a mapping, not a list"}},
		{"probe-exec-string", []string{"probe.exec: must be a list, not a string"}},
		{"not-a-map", []string{"x-agops: must be a mapping, not a string"}},
		{"bad-bind", []string{"bind[/data]", `"nfs"`}},
		{"bad-size", []string{"storage.size", `"lots"`}},
		{"bad-access-mode", []string{"storage.accessMode", `"Shared"`}},
		{"named-user-hint", []string{"user", `"nobody"`, "numeric"}},
		{"bad-accelerator", []string{"accelerator.resource", `"npu"`}},
		{"two-probes", []string{"probe", "exactly one"}},
		{"bad-runtime", []string{"runtime", `"docker"`, "agops, own"}},
		{"runtime-not-worker", []string{"runtime", "role agent-worker only"}},
		{"queue-own-runtime", []string{"taskQueue", "not runtime: own"}},
		{"queue-not-worker", []string{"taskQueue", "role agent-worker"}},
		{"queue-with-space", []string{"taskQueue", `"my queue"`, "without spaces"}},
		{"queue-flag", []string{"taskQueue", `"--help"`, "not starting with -"}},
		{"queue-system", []string{"taskQueue", `"/_sys/research"`}},
		{"queue-number", []string{"taskQueue: must be a string, not a number"}},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			t.Parallel()
			_, err := compose.Hints(service(t, p, tt.service))
			if err == nil {
				t.Fatal("Hints succeeded, want an error")
			}
			msg := err.Error()
			t.Log(msg)
			if strings.Contains(msg, "Go ") {
				t.Errorf("error speaks of Go types: %s", msg)
			}
			for _, w := range append([]string{`service "` + tt.service + `"`, "x-agops"}, tt.want...) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans several lines: %q", msg)
			}
		})
	}
	t.Run("volume", func(t *testing.T) {
		t.Parallel()
		_, err := compose.VolumeHint("bad-volume", p.Volumes["bad-volume"])
		if err == nil || !strings.Contains(err.Error(), `volume "bad-volume"`) || !strings.Contains(err.Error(), `unknown field "sizee"`) {
			t.Errorf("VolumeHint error = %v, want one naming the volume and the unknown field", err)
		}
	})
}
