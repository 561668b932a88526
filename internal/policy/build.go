package policy

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/agops/agops/internal/specyaml"
)

// maxArgsBytesCap bounds spec.defaults.maxArgsBytes.
const maxArgsBytesCap = 64 << 20

// builder validates a decoded document and compiles it into a Policy, reporting every problem it finds.
type builder struct {
	ps        *specyaml.Problems
	p         *Policy
	fragments map[string]Fragment
	timeout   time.Duration // default approval timeout
}

func build(doc *document, ps *specyaml.Problems) *Policy {
	b := &builder{ps: ps, fragments: map[string]Fragment{}, p: &Policy{
		name: doc.Metadata.Name, kinds: map[string]string{}, subjects: map[string]*subject{}, byServer: map[string][]*rule{},
	}}
	b.header(doc)
	b.defaults(doc.Spec.Defaults)
	b.servers(doc.Spec.Servers)
	b.guidance(doc.Spec.Guidance)
	b.rules(doc.Spec.Rules)
	b.teams(doc.Spec.Teams)
	b.agents(doc.Spec.Agents)
	return b.p
}

func (b *builder) header(doc *document) {
	if doc.APIVersion != APIVersion {
		b.ps.Add("apiVersion", "want %q, got %s", APIVersion, quote(doc.APIVersion))
	}
	if doc.Kind != Kind {
		b.ps.Add("kind", "want %q, got %s", Kind, quote(doc.Kind))
	}
	b.name("metadata.name", doc.Metadata.Name)
}

// name checks a name of a server, team, fragment or rule.
func (b *builder) name(path, name string) bool {
	switch {
	case name == "":
		b.ps.Add(path, "required")
	case !nameRE.MatchString(name):
		b.ps.Add(path, "%s is not a valid name: letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63", quote(name))
	default:
		return true
	}
	return false
}

// unique reports a name seen before in the same list.
func (b *builder) unique(seen map[string]string, path, name string) {
	if first, dup := seen[name]; dup {
		b.ps.Add(path, "duplicate name %q (first at %s)", name, first)
		return
	}
	seen[name] = path
}

func (b *builder) defaults(d defaultsSpec) {
	b.timeout = defaultApprovalTimeout
	if d.ApprovalTimeout != 0 {
		b.timeout = b.approvalTimeout("spec.defaults.approvalTimeout", time.Duration(d.ApprovalTimeout))
	}
	b.p.maxArgs = defaultMaxArgsBytes
	switch {
	case d.MaxArgsBytes < 0 || d.MaxArgsBytes > maxArgsBytesCap:
		b.ps.Add("spec.defaults.maxArgsBytes", "must be between 1 and %d (0: the default, %d)", maxArgsBytesCap, defaultMaxArgsBytes)
	case d.MaxArgsBytes > 0:
		b.p.maxArgs = d.MaxArgsBytes
	}
}

func (b *builder) approvalTimeout(path string, d time.Duration) time.Duration {
	if d <= 0 || d > maxApprovalTimeout {
		b.ps.Add(path, "must be positive and at most 24h, got %s", d)
		return defaultApprovalTimeout
	}
	return d
}

func (b *builder) servers(list []serverSpec) {
	seen := map[string]string{}
	for i, s := range list {
		path := fmt.Sprintf("spec.servers[%d]", i)
		if b.name(path+".name", s.Name) {
			b.unique(seen, path+".name", s.Name)
		}
		kind := s.Kind
		switch kind {
		case "":
			kind = "mcp"
		case "mcp", "http":
		default:
			b.ps.Add(path+".kind", "want mcp or http, got %s", quote(s.Kind))
		}
		if len(s.Members) > 0 {
			if kind != "mcp" {
				b.ps.Add(path+".kind", "an aggregate (members) is an MCP server, got %s", quote(s.Kind))
			}
			if s.URL != "" {
				b.ps.Add(path+".url", "an aggregate (members) has no URL: the gateway serves it, from its members")
			}
			b.p.kinds[s.Name] = aggregateKind
			b.p.servers = append(b.p.servers, Server{Name: s.Name, Kind: "mcp", Members: slices.Clone(s.Members)})
			continue
		}
		b.serverURL(path+".url", s.URL)
		b.p.kinds[s.Name] = kind
		b.p.servers = append(b.p.servers, Server{Name: s.Name, URL: s.URL, Kind: kind})
	}
	// Members are MCP servers with a URL of their own, each named once, once all servers are known.
	for i, s := range list {
		seen := map[string]bool{}
		for j, m := range s.Members {
			path := fmt.Sprintf("spec.servers[%d].members[%d]", i, j)
			kind, known := b.p.kinds[m]
			switch {
			case !known:
				b.ps.Add(path, "unknown server %s (spec.servers has: %s)", quote(m), b.known(b.serverNames()))
			case m == s.Name || kind == aggregateKind:
				b.ps.Add(path, "%s is an aggregate: members are MCP servers with a URL", quote(m))
			case kind != "mcp":
				b.ps.Add(path, "%s is an HTTP server: members are MCP servers", quote(m))
			case seen[m]:
				b.ps.Add(path, "%s is named twice", quote(m))
			}
			seen[m] = true
		}
	}
}

// aggregateKind is the kind the builder records for an aggregate (Server.Members): no call is judged against it.
const aggregateKind = "aggregate"

func (b *builder) serverURL(path, raw string) {
	if raw == "" {
		b.ps.Add(path, "required")
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		b.ps.Add(path, "not a URL: %s", quote(raw))
	case u.Scheme != "http" && u.Scheme != "https":
		b.ps.Add(path, "want an http:// or https:// URL, got %s", quote(raw))
	case u.Host == "" || u.Hostname() == "":
		b.ps.Add(path, "the URL has no host")
	case u.User != nil:
		b.ps.Add(path, "the URL must not carry credentials")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		b.ps.Add(path, "the URL must not have a #fragment")
	}
}

func (b *builder) guidance(list []fragmentSpec) {
	seen := map[string]string{}
	for i, f := range list {
		path := fmt.Sprintf("spec.guidance[%d]", i)
		if b.name(path+".name", f.Name) {
			b.unique(seen, path+".name", f.Name)
		}
		version := 1
		if f.Version != nil {
			version = *f.Version
		}
		if version < 1 {
			b.ps.Add(path+".version", "must be 1 or more, got %d", version)
		}
		if strings.TrimSpace(f.Text) == "" {
			b.ps.Add(path+".text", "required")
		}
		b.fragments[f.Name] = Fragment{Name: f.Name, Version: version, Text: f.Text}
	}
}

// fragmentList resolves guidance references in order, after have (the team's), skipping those have already holds.
func (b *builder) fragmentList(path string, names []string, have []Fragment) []Fragment {
	out := slices.Clone(have)
	listed := map[string]bool{}
	for i, n := range names {
		at := fmt.Sprintf("%s[%d]", path, i)
		if listed[n] {
			b.ps.Add(at, "fragment %s listed twice", quote(n))
			continue
		}
		listed[n] = true
		f, ok := b.fragments[n]
		if !ok {
			b.ps.Add(at, "unknown guidance fragment %s (spec.guidance has: %s)", quote(n), b.known(b.fragmentNames()))
			continue
		}
		if !slices.ContainsFunc(out, func(g Fragment) bool { return g.Name == n }) {
			out = append(out, f)
		}
	}
	return out
}

func (b *builder) fragmentNames() []string {
	var out []string
	for n := range b.fragments {
		out = append(out, n)
	}
	return out
}

// known lists names for an error message.
func (b *builder) known(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	slices.Sort(names)
	if len(names) > 8 {
		names = append(names[:8:8], "...")
	}
	return strings.Join(names, ", ")
}

func (b *builder) limits(path string, l *limitsSpec, into *Limits) {
	if l == nil {
		return
	}
	if l.CallsPerMinute != nil {
		into.CallsPerMinute = int(b.nonNegative(path+".callsPerMinute", int64(*l.CallsPerMinute)))
	}
	if l.CallsPerDay != nil {
		into.CallsPerDay = b.nonNegative(path+".callsPerDay", *l.CallsPerDay)
	}
	if l.TokensPerDay != nil {
		into.TokensPerDay = b.nonNegative(path+".tokensPerDay", *l.TokensPerDay)
	}
}

func (b *builder) nonNegative(path string, n int64) int64 {
	if n < 0 {
		b.ps.Add(path, "must not be negative (0: no limit), got %d", n)
		return 0
	}
	return n
}
