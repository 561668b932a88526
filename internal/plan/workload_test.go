package plan

import (
	"slices"
	"testing"
)

func TestFindCycle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		graph map[string][]string
		// want is the cycle expected, first node repeated at the end; nil means none.
		want []string
	}{
		{"valid-empty", map[string][]string{}, nil},
		{"valid-no-edges", map[string][]string{"a": nil, "b": nil}, nil},
		{"valid-chain", map[string][]string{"a": {"b"}, "b": {"c"}, "c": nil}, nil},
		{"valid-diamond", map[string][]string{"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": nil}, nil},
		{"valid-edge-to-unknown-node", map[string][]string{"a": {"ghost"}}, nil},
		{"invalid-self-loop", map[string][]string{"a": {"a"}}, []string{"a", "a"}},
		{"invalid-two-cycle", map[string][]string{"a": {"b"}, "b": {"a"}}, []string{"a", "b", "a"}},
		{"invalid-three-cycle", map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"a"}}, []string{"a", "b", "c", "a"}},
		{"invalid-cycle-behind-a-tail", map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"d"}, "d": {"b"}}, []string{"b", "c", "d", "b"}},
		{"invalid-cycle-after-diamond", map[string][]string{"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": {"e"}, "e": {"c"}}, []string{"d", "e", "c", "d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			nodes := sortedKeys(tt.graph)
			got := findCycle(nodes, func(n string) []string { return tt.graph[n] })
			if !slices.Equal(got, tt.want) {
				t.Errorf("findCycle(%v) = %v, want %v", tt.graph, got, tt.want)
			}
			if got != nil {
				for i := 0; i+1 < len(got); i++ {
					if !slices.Contains(tt.graph[got[i]], got[i+1]) {
						t.Errorf("cycle %v uses %s -> %s, which is not an edge", got, got[i], got[i+1])
					}
				}
			}
		})
	}
}

func TestFindCycleLongChain(t *testing.T) {
	t.Parallel()
	// A long chain must not be a problem for a linear-time search (compose-go's own is quadratic).
	const n = 20000
	nodes := make([]string, n)
	for i := range nodes {
		nodes[i] = "s" + itoa(i)
	}
	edges := func(s string) []string {
		i := atoi(s[1:])
		if i+1 < n {
			return []string{nodes[i+1]}
		}
		return nil
	}
	if got := findCycle(nodes, edges); got != nil {
		t.Errorf("findCycle(chain) = %v, want nil", got)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestRestartBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     *int32 // nil: not a Job restart policy
	}{
		{"valid-no", "no", int32Ptr(0)},
		{"valid-on-failure", "on-failure", int32Ptr(6)},
		{"valid-on-failure-count", "on-failure:3", int32Ptr(3)},
		{"valid-on-failure-zero", "on-failure:0", int32Ptr(0)},
		{"valid-on-failure-huge-is-capped", "on-failure:99999999", int32Ptr(1 << 20)},
		{"invalid-on-failure-negative", "on-failure:-1", int32Ptr(6)},
		{"invalid-on-failure-not-a-number", "on-failure:many", int32Ptr(6)},
		{"invalid-always", "always", nil},
		{"invalid-unless-stopped", "unless-stopped", nil},
		{"invalid-empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := restartBackoff(tt.in)
			switch {
			case got == nil && tt.want == nil:
			case got == nil || tt.want == nil || *got != *tt.want:
				t.Errorf("restartBackoff(%q) = %v, want %v", tt.in, deref(got), deref(tt.want))
			}
		})
	}
}

func deref(p *int32) any {
	if p == nil {
		return "nil"
	}
	return *p
}
