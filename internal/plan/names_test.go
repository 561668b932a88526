package plan

import (
	"strings"
	"testing"
)

func TestDNS1035(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 70)
	tests := []struct {
		name, in, want string
	}{
		{"valid-plain", "web", "web"},
		{"valid-digits-and-dashes", "web-2", "web-2"},
		{"valid-underscores", "my_service_name", "my-service-name"},
		{"valid-dots", "api.v1.internal", "api-v1-internal"},
		{"valid-uppercase", "MyService", "myservice"},
		{"valid-mixed-punctuation-collapses", "a__b..c-_d", "a-b-c-d"},
		{"valid-leading-and-trailing-punctuation", "_web_", "web"},
		{"valid-non-ascii", "café", "caf"},
		{"invalid-leading-digit", "1password", "s-1password"},
		{"invalid-only-digits", "123", "s-123"},
		{"invalid-leading-digit-after-punctuation", "_9lives", "s-9lives"},
		{"invalid-too-long", long, long[:63]},
		{"invalid-too-long-with-prefix", "1" + long, "s-1" + long[:60]},
		{"invalid-too-long-cut-at-dash", strings.Repeat("a", 62) + "_bc", strings.Repeat("a", 62)},
		{"invalid-empty", "", "s"},
		{"invalid-only-punctuation", "___", "s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := dns1035(tt.in)
			if got != tt.want {
				t.Errorf("dns1035(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if !isDNS1035(got) {
				t.Errorf("dns1035(%q) = %q is not a DNS-1035 label", tt.in, got)
			}
		})
	}
}

// isDNS1035 checks the label rules independently of dns1035: 1-63 characters of [a-z0-9-], starting with a letter,
// ending with a letter or digit.
func isDNS1035(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] < 'a' || s[0] > 'z' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func TestUnique(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 63)
	type call struct{ kind, name, want string }
	tests := []struct {
		name  string
		calls []call
	}{
		{"valid-no-collision", []call{{"name", "web", "web"}, {"name", "db", "db"}}},
		{"valid-collisions-count-up", []call{
			{"name", "web", "web"}, {"name", "web", "web-2"}, {"name", "web", "web-3"},
		}},
		{"valid-kinds-are-separate", []call{
			{"configmap", "web-env", "web-env"}, {"secret", "web-env", "web-env"}, {"configmap", "web-env", "web-env-2"},
		}},
		{"valid-suffix-already-taken", []call{
			{"name", "web-2", "web-2"}, {"name", "web", "web"}, {"name", "web", "web-3"},
		}},
		{"invalid-long-name-is-shortened", []call{
			{"pvc", long, long}, {"pvc", long, long[:61] + "-2"}, {"pvc", long, long[:61] + "-3"},
		}},
		{"invalid-long-name-shortened-before-dash", []call{
			{"pvc", strings.Repeat("y", 60) + "-zz", strings.Repeat("y", 60) + "-zz"},
			{"pvc", strings.Repeat("y", 60) + "-zz", strings.Repeat("y", 60) + "-2"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pl := &planner{used: map[string]bool{}}
			for i, c := range tt.calls {
				got := pl.unique(c.kind, c.name)
				if got != c.want {
					t.Errorf("call %d: unique(%q, %q) = %q, want %q", i, c.kind, c.name, got, c.want)
				}
				if len(got) > 63 {
					t.Errorf("call %d: unique(%q, %q) = %q is %d characters, more than 63", i, c.kind, c.name, got, len(got))
				}
				if !pl.used[c.kind+"/"+got] {
					t.Errorf("call %d: %s/%s is not marked as taken", i, c.kind, got)
				}
			}
		})
	}
}
