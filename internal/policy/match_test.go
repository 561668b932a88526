package policy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/agops/agops/internal/specyaml"
)

func TestMatchGlob(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"search", "search", true},
		{"search", "Search", false},
		{"search", "search ", false},
		{"search", "searc", false},
		{"*", "", true},
		{"*", "anything at all", true},
		{"fetch_*", "fetch_", true},
		{"fetch_*", "fetch_page", true},
		{"fetch_*", "fetch", false},
		{"fetch_*", "xfetch_page", false},
		{"*_report", "weekly_report", true},
		{"*_report", "weekly_report_x", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"a**c", "abbc", true},
		{"*a*a*a*a*a*b", strings.Repeat("a", 200), false}, // linear, not exponential
		{"fetch_*", "fetch_\u0455", true},                 // a pattern covers what it says
		{"s*h", "s\u200bh", true},
	} {
		if got := matchGlob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("matchGlob(%q, %q) = %t, want %t", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestMatchPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, p string
		want       bool
	}{
		{"/v1/tickets", "/v1/tickets", true},
		{"/v1/tickets", "/v1/tickets/", false},
		{"/v1/tickets/*", "/v1/tickets/42", true},
		{"/v1/tickets/*", "/v1/tickets/", true},
		{"/v1/tickets/*", "/v1/tickets/42/comments", false},
		{"/v1/tickets/*", "/v1/tickets", false},
		{"/v1/*/comments", "/v1/42/comments", true},
		{"/v1/t-*", "/v1/t-1", true},
		{"/v1/**", "/v1/a", true},
		{"/v1/**", "/v1/a/b/c", true},
		{"/v1/**", "/v1", false},
		{"/**", "/", true},
		{"/**", "/x/y", true},
		{"/", "/", true},
		{"/", "/x", false},
		{"relative", "relative", false},
	} {
		if got := matchPath(tc.pattern, tc.p); got != tc.want {
			t.Errorf("matchPath(%q, %q) = %t, want %t", tc.pattern, tc.p, got, tc.want)
		}
	}
}

func TestValidationErrorFormat(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("apiVersion: agops.dev/v1alpha1\nkind: FleetPolicy\nmetadata: {name: many}\nspec:\n  teams:\n")
	for i := range 150 {
		fmt.Fprintf(&b, "    - {name: t%d, agents: [ns/a]}\n", i)
	}
	_, err := Parse([]byte(b.String()))
	ve, ok := err.(*ValidationError)
	if !ok || len(ve.Problems) != specyaml.MaxProblems || ve.Omitted != 49 {
		t.Fatalf("want %d problems and 49 omitted, got %v", specyaml.MaxProblems, err)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != specyaml.MaxProblems+1 || lines[len(lines)-1] != "... and 49 more problems" ||
		lines[0] != `line 7: spec.teams[1].agents[0]: agent "ns/a" is already listed at spec.teams[0].agents[0]: an agent is in at most one team` {
		t.Errorf("unexpected lines: first %q, last %q", lines[0], lines[len(lines)-1])
	}
}
