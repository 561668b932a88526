package policy

import (
	"fmt"
	"time"

	"github.com/agops/agops/internal/specyaml"
)

// The document's identity.
const (
	APIVersion = "agops.dev/v1alpha1"
	Kind       = "FleetPolicy"
)

// document is the YAML document as written. Field names are the yaml tags; docs/policy.schema.json lists the same
// fields (schema_test.go keeps the two in step).
type document struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Metadata   metadata `yaml:"metadata"`
	Spec       spec     `yaml:"spec"`
}

type metadata struct {
	Name string `yaml:"name"`
}

type spec struct {
	Servers  []serverSpec   `yaml:"servers"`
	Guidance []fragmentSpec `yaml:"guidance"`
	Teams    []teamSpec     `yaml:"teams"`
	Agents   []agentSpec    `yaml:"agents"`
	Rules    []ruleSpec     `yaml:"rules"`
	Defaults defaultsSpec   `yaml:"defaults"`
}

type serverSpec struct {
	Name    string   `yaml:"name"`
	URL     string   `yaml:"url"`
	Kind    string   `yaml:"kind"`    // mcp (default) or http
	Members []string `yaml:"members"` // an aggregate: the MCP servers whose tools it serves, instead of a URL
}

type fragmentSpec struct {
	Name    string `yaml:"name"`
	Version *int   `yaml:"version"` // absent: 1
	Text    string `yaml:"text"`
}

type teamSpec struct {
	Name     string      `yaml:"name"`
	Agents   []string    `yaml:"agents"`
	Guidance []string    `yaml:"guidance"`
	Limits   *limitsSpec `yaml:"limits"`
	Grants   []grantSpec `yaml:"grants"`
}

// agentSpec adds to (or, for an agent in no team, is all of) what an agent may do.
type agentSpec struct {
	Name     string      `yaml:"name"`
	Guidance []string    `yaml:"guidance"`
	Limits   *limitsSpec `yaml:"limits"`
	Grants   []grantSpec `yaml:"grants"`
}

// limitsSpec has pointers so that an agent can override one field of its team's limits, including with 0 (none).
type limitsSpec struct {
	CallsPerMinute *int   `yaml:"callsPerMinute"`
	CallsPerDay    *int64 `yaml:"callsPerDay"`
	TokensPerDay   *int64 `yaml:"tokensPerDay"`
}

type grantSpec struct {
	Server   string        `yaml:"server"`
	Tools    []string      `yaml:"tools"`
	Routes   []routeSpec   `yaml:"routes"`
	When     string        `yaml:"when"`
	Approval *approvalSpec `yaml:"approval"`
}

type routeSpec struct {
	Method string `yaml:"method"`
	Path   string `yaml:"path"`
}

// approvalSpec is written `approval: {timeout: 10m}`, `approval: {}` or `approval: true`.
type approvalSpec struct {
	Timeout duration `yaml:"timeout"`
}

// FromBool implements specyaml.BoolShorthand: `approval: true` is `approval: {}`.
func (*approvalSpec) FromBool() {}

type ruleSpec struct {
	Name    string      `yaml:"name"`
	Servers []string    `yaml:"servers"`
	Tools   []string    `yaml:"tools"`
	Routes  []routeSpec `yaml:"routes"`
	Deny    string      `yaml:"deny"`
	Message string      `yaml:"message"`
}

type defaultsSpec struct {
	ApprovalTimeout duration `yaml:"approvalTimeout"`
	MaxArgsBytes    int      `yaml:"maxArgsBytes"`
}

// duration is a time.Duration written as "90s", "10m", "1h30m".
type duration time.Duration

// DecodeScalar implements specyaml.Scalar.
func (d *duration) DecodeScalar(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as 90s or 10m, got %s", quote(s))
	}
	*d = duration(v)
	return nil
}

// quote is specyaml.Quote: messages and decisions echo what was written, at most 40 runes of it.
func quote(s string) string { return specyaml.Quote(s) }
