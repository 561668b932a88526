package policy

import (
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/agops/agops/internal/specyaml"
)

// maxPolicyBytes bounds a policy document.
const maxPolicyBytes = 8 << 20

// limits bound a policy document: 8 MiB, and 200,000 YAML nodes once aliases are expanded, so that a few kilobytes
// of nested aliases cannot grow into millions of grants.
var limits = specyaml.Limits{MaxBytes: maxPolicyBytes, MaxNodes: 200_000}

// ValidationError lists every problem of a policy document, in document order, one line each:
// "policy.yaml:12: spec.teams[0].name: message". Parse and Load return it for any document they reject.
type ValidationError = specyaml.ValidationError

// Problem is one thing wrong with a policy document: its field path (e.g. "spec.teams[0].grants[1].when"), line
// and message.
type Problem = specyaml.Problem

// Built-in defaults (spec.defaults overrides them).
const (
	defaultApprovalTimeout = 5 * time.Minute
	maxApprovalTimeout     = 24 * time.Hour
)

// Policy is a validated fleet policy with every expression compiled. It is immutable, and safe for concurrent use.
type Policy struct {
	name     string
	servers  []Server
	kinds    map[string]string   // server name → mcp | http
	subjects map[string]*subject // by agent identity
	rules    []*rule             // document order
	byServer map[string][]*rule  // the rules whose servers match, per server
	maxArgs  int
	warnings []Problem // document order
}

// subject is everything that applies to one agent: its own entry merged with its team's.
type subject struct {
	agent    string
	team     string
	limits   Limits
	guidance []Fragment
	grants   []*grant            // the agent's own first, then the team's, each in document order
	byServer map[string][]*grant // grants by server name
}

// grant is a compiled grants[] entry.
type grant struct {
	id      string // "teams[research].grants[0]"
	field   string // "spec.teams[0].grants[0]"
	server  string
	tools   []string // names and patterns
	routes  []route
	when    *program // nil: always
	approve bool
	timeout time.Duration
}

// rule is a compiled fleet rule.
type rule struct {
	name    string
	id      string // "rules[no-path-traversal]"
	servers []string
	tools   []string // nil: not limited by tool
	routes  []route  // nil: not limited by route
	deny    *program
	message string
}

type route struct{ method, path string }

// Parse validates a policy document and compiles it. Any problem makes it fail with a *ValidationError listing all
// of them, one per line with its field path.
func Parse(data []byte) (*Policy, error) {
	var ps specyaml.Problems
	var doc document
	if !specyaml.Decode(data, &doc, limits, &ps) {
		return nil, ps.Err()
	}
	// Validate what could be decoded too, so that one run reports everything; a field that could not be decoded
	// already has its problem, and what validation says about it (or inside it) would only repeat it.
	decoded := ps.Len()
	p := build(&doc, &ps)
	ps.DropUnder(decoded)
	if err := ps.Err(); err != nil {
		return nil, err
	}
	slices.SortStableFunc(p.warnings, func(a, b Problem) int { return a.Line - b.Line })
	return p, nil
}

// Load reads and parses a policy file. Problems name the file: "policy.yaml:12: spec.teams[0].name: ...".
func Load(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPolicyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading policy %s: %w", path, err)
	}
	p, err := Parse(data)
	if ve, ok := err.(*ValidationError); ok {
		ve.File = path
	}
	return p, err
}

// Warnings lists what the policy's expressions probably get wrong although they are valid: a loop that sees only
// the top level of args, an argument compared with a number on one side only. One line each with its field path,
// line and a hint naming the helper to use, in document order (docs/policy.md, "Pitfalls"). They do not stop Parse.
func (p *Policy) Warnings() []Problem { return slices.Clone(p.warnings) }

// WarningLines formats warnings as agops prints them: "policy.yaml:12: warning: spec.rules[0].deny: message".
func WarningLines(file string, ws []Problem) []string {
	out := make([]string, 0, len(ws))
	for _, w := range ws {
		at := file
		if w.Line > 0 {
			at = fmt.Sprintf("%s:%d", file, w.Line)
		}
		w.Line = 0
		out = append(out, at+": warning: "+w.String())
	}
	return out
}

// Name is metadata.name.
func (p *Policy) Name() string { return p.name }

// Servers lists the tool servers in document order.
func (p *Policy) Servers() []Server { return slices.Clone(p.servers) }

// Agents lists every agent identity the policy knows (team members and spec.agents), sorted.
func (p *Policy) Agents() []string {
	out := make([]string, 0, len(p.subjects))
	for a := range p.subjects {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// Guidance is the agent's guidance: its team's fragments in the team's order, then its own that the team does
// not already give. False when the policy does not know the agent.
func (p *Policy) Guidance(agent string) (Guidance, bool) {
	if p == nil {
		return Guidance{}, false
	}
	s, ok := p.subjects[agent]
	if !ok {
		return Guidance{}, false
	}
	return Guidance{Agent: s.agent, Team: s.team, Fragments: slices.Clone(s.guidance)}, true
}
