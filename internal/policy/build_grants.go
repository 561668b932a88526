package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

func (b *builder) rules(list []ruleSpec) {
	seen := map[string]string{}
	for i, rs := range list {
		field := fmt.Sprintf("spec.rules[%d]", i)
		if b.name(field+".name", rs.Name) {
			b.unique(seen, field+".name", rs.Name)
		}
		r := &rule{
			name: rs.Name, id: "rules[" + rs.Name + "]", servers: rs.Servers, message: rs.Message,
			tools: b.toolList(field+".tools", rs.Tools), routes: b.routeList(field+".routes", rs.Routes),
		}
		if len(r.servers) == 0 {
			r.servers = []string{"*"}
		}
		if strings.TrimSpace(rs.Deny) == "" {
			b.ps.Add(field+".deny", "required: a CEL expression that is true for the calls to deny")
		} else {
			r.deny = b.expr(field+".deny", rs.Deny)
		}
		if strings.ContainsAny(rs.Message, "\r\n") {
			b.ps.Add(field+".message", "must be one line")
		}
		if r.message == "" {
			r.message = "denied by fleet rule " + rs.Name
		}
		b.ruleServers(field+".servers", r)
		b.p.rules = append(b.p.rules, r)
	}
}

// ruleServers indexes a rule under every server it names; a name or pattern that matches no server is a problem.
func (b *builder) ruleServers(field string, r *rule) {
	for i, pat := range r.servers {
		at := fmt.Sprintf("%s[%d]", field, i)
		if !isGlob(pat) && !nameRE.MatchString(pat) || isGlob(pat) && !nameRE.MatchString(strings.ReplaceAll(pat, "*", "x")) {
			b.ps.Add(at, "%s is neither a server name nor a pattern of one", quote(pat))
			continue
		}
		matched := false
		for _, s := range b.p.servers {
			if matchGlob(pat, s.Name) {
				matched = true
				if !slices.Contains(b.p.byServer[s.Name], r) {
					b.p.byServer[s.Name] = append(b.p.byServer[s.Name], r)
				}
			}
		}
		if !matched {
			b.ps.Add(at, "%s matches no server (spec.servers has: %s)", quote(pat), b.known(b.serverNames()))
		}
	}
}

func (b *builder) serverNames() []string {
	var out []string
	for _, s := range b.p.servers {
		out = append(out, s.Name)
	}
	return out
}

func (b *builder) expr(field, text string) *program {
	prg, err := compile(text)
	if err != nil {
		b.ps.Add(field, "%s", err)
		return prg
	}
	prg.warnings = lint(prg.ast, strings.HasSuffix(field, ".deny"))
	for _, w := range prg.warnings {
		b.p.warnings = append(b.p.warnings, Problem{Path: field, Line: b.ps.Line(field), Message: w})
	}
	return prg
}

// toolList checks tool names and patterns; nil stays nil (no tools listed).
func (b *builder) toolList(field string, tools []string) []string {
	for i, t := range tools {
		at := fmt.Sprintf("%s[%d]", field, i)
		if p := toolGlobProblem(t); p != "" {
			b.ps.Add(at, "%s: %s", quote(t), p)
		} else if slices.Contains(tools[:i], t) {
			b.ps.Add(at, "%s listed twice", quote(t))
		}
	}
	return tools
}

func (b *builder) routeList(field string, routes []routeSpec) []route {
	var out []route
	for i, r := range routes {
		at := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case r.Method == "":
			b.ps.Add(at+".method", "required: GET, POST, ... or * for any")
		case !methodRE.MatchString(r.Method):
			b.ps.Add(at+".method", "want an upper-case HTTP method (GET, POST, ...) or *, got %s", quote(r.Method))
		}
		if r.Path == "" {
			b.ps.Add(at+".path", "required, e.g. /v1/tickets/*")
		} else if p := pathGlobProblem(r.Path); p != "" {
			b.ps.Add(at+".path", "%s: %s", quote(r.Path), p)
		}
		out = append(out, route{method: r.Method, path: r.Path})
	}
	return out
}

// grant compiles one grants[] entry; id names it in decisions, field in problems.
func (b *builder) grant(field, id string, g grantSpec) *grant {
	out := &grant{id: id, field: field, server: g.Server, tools: b.toolList(field+".tools", g.Tools),
		routes: b.routeList(field+".routes", g.Routes)}
	kind, known := b.p.kinds[g.Server]
	switch {
	case g.Server == "":
		b.ps.Add(field+".server", "required")
	case !known:
		b.ps.Add(field+".server", "unknown server %s (spec.servers has: %s)", quote(g.Server), b.known(b.serverNames()))
	}
	switch {
	case len(g.Tools) == 0 && len(g.Routes) == 0:
		b.ps.Add(field, "a grant lists tools (for an MCP server) or routes (for an HTTP server)")
	case len(g.Tools) > 0 && len(g.Routes) > 0:
		b.ps.Add(field, "a grant lists tools or routes, not both")
	case known && kind == aggregateKind:
		b.ps.Add(field+".server", "%s is an aggregate: grant the tools of its members (%s)", quote(g.Server), strings.Join(b.membersOf(g.Server), ", "))
	case known && kind == "mcp" && len(g.Routes) > 0:
		b.ps.Add(field+".routes", "server %q is an MCP server: grant tools", g.Server)
	case known && kind == "http" && len(g.Tools) > 0:
		b.ps.Add(field+".tools", "server %q is an HTTP server: grant routes", g.Server)
	}
	if g.When != "" {
		out.when = b.expr(field+".when", g.When)
	}
	if g.Approval != nil {
		out.approve, out.timeout = true, b.timeout
		if g.Approval.Timeout != 0 {
			out.timeout = b.approvalTimeout(field+".approval.timeout", time.Duration(g.Approval.Timeout))
		}
	}
	return out
}

func (b *builder) grants(field, owner string, list []grantSpec) []*grant {
	var out []*grant
	for i, g := range list {
		out = append(out, b.grant(fmt.Sprintf("%s.grants[%d]", field, i), fmt.Sprintf("%s.grants[%d]", owner, i), g))
	}
	return out
}

// identity checks an agent identity.
func (b *builder) identity(field, id string) bool {
	if identityRE.MatchString(id) {
		return true
	}
	b.ps.Add(field, "%s is not an agent identity: namespace/name of a ServiceAccount, or a static identity such as local/dev-agent", quote(id))
	return false
}

func (b *builder) teams(list []teamSpec) {
	seen, memberOf := map[string]string{}, map[string]string{}
	for i, t := range list {
		field := fmt.Sprintf("spec.teams[%d]", i)
		if b.name(field+".name", t.Name) {
			b.unique(seen, field+".name", t.Name)
		}
		grants := b.grants(field, "teams["+t.Name+"]", t.Grants)
		var lim Limits
		b.limits(field+".limits", t.Limits, &lim)
		frags := b.fragmentList(field+".guidance", t.Guidance, nil)
		for j, a := range t.Agents {
			at := fmt.Sprintf("%s.agents[%d]", field, j)
			if !b.identity(at, a) {
				continue
			}
			if first, dup := memberOf[a]; dup {
				b.ps.Add(at, "agent %q is already listed at %s: an agent is in at most one team", a, first)
				continue
			}
			memberOf[a] = at
			b.p.subjects[a] = &subject{agent: a, team: t.Name, limits: lim, guidance: frags, grants: slices.Clone(grants)}
		}
	}
}

// agents merges spec.agents into the subjects: the agent's grants come before its team's, the limits it sets
// replace its team's one by one, its guidance follows its team's.
func (b *builder) agents(list []agentSpec) {
	seen := map[string]string{}
	for i, a := range list {
		field := fmt.Sprintf("spec.agents[%d]", i)
		if b.identity(field+".name", a.Name) {
			b.unique(seen, field+".name", a.Name)
		}
		s := b.p.subjects[a.Name]
		if s == nil {
			s = &subject{agent: a.Name}
			b.p.subjects[a.Name] = s
		}
		s.grants = append(b.grants(field, "agents["+a.Name+"]", a.Grants), s.grants...)
		b.limits(field+".limits", a.Limits, &s.limits)
		s.guidance = b.fragmentList(field+".guidance", a.Guidance, s.guidance)
	}
	for _, s := range b.p.subjects {
		s.byServer = map[string][]*grant{}
		for _, g := range s.grants {
			s.byServer[g.server] = append(s.byServer[g.server], g)
		}
	}
}

// membersOf lists the members of aggregate server name.
func (b *builder) membersOf(name string) []string {
	for _, s := range b.p.servers {
		if s.Name == name {
			return s.Members
		}
	}
	return nil
}
