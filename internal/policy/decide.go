package policy

import (
	"fmt"
	"slices"
	"strings"
)

// Decide judges one call. It never panics and fails closed: anything it cannot judge is denied. In order:
//
//  1. The server must be in the policy; the call must be well-formed for the server's kind (a canonical tool name
//     for MCP; a method and a clean absolute path for HTTP) and its arguments a JSON object within the limits
//     (else RuleInvalidCall).
//  2. The agent must be in the policy, and one of its grants (its own or its team's) must match the server and the
//     tool or route (else RuleDefaultDeny). Fleet rules are not evaluated for a call nothing grants.
//  3. Every fleet rule that applies to the server and tool or route is evaluated in document order: the first
//     whose deny is true, or cannot be evaluated, denies.
//  4. The `when` of every matching grant is evaluated; one that cannot be evaluated denies. Of the grants whose
//     condition holds, one that needs approval wins over one that does not (Approve); else the first allows. If
//     no condition holds: RuleDefaultDeny.
func (p *Policy) Decide(c Call) Decision {
	d, a := p.decide(&c)
	a.close()
	return d
}

// decide is Decide that also returns the activation it used (nil when no expression could apply), for Explain.
func (p *Policy) decide(c *Call) (Decision, *activation) {
	if p == nil {
		return deny(RuleDefaultDeny, "no policy is loaded"), nil
	}
	kind, ok := p.kinds[c.Server]
	if !ok {
		return deny(RuleDefaultDeny, fmt.Sprintf("server %s is not in the policy", quote(c.Server))), nil
	}
	if kind == aggregateKind {
		// The gateway judges each call through an aggregate as a call to the member that has the tool.
		return deny(RuleDefaultDeny, fmt.Sprintf("server %s is an aggregate: calls are judged as calls to its members", quote(c.Server))), nil
	}
	if why := callProblem(c, kind); why != "" {
		return deny(RuleInvalidCall, why), nil
	}
	a := &activation{c: c, maxArgs: p.maxArgs}
	if _, err := a.loadArgs(); err != nil {
		return deny(RuleInvalidCall, err.Error()), a
	}
	s, ok := p.subjects[c.Agent]
	if !ok {
		return deny(RuleDefaultDeny, fmt.Sprintf("agent %s is not in the policy", quote(c.Agent))), a
	}
	var buf [8]*grant
	matched := buf[:0]
	for _, g := range s.byServer[c.Server] {
		if g.matches(c, kind) {
			matched = append(matched, g)
		}
	}
	if len(matched) == 0 {
		return s.limited(deny(RuleDefaultDeny, "no grant allows "+describeCall(c, kind))), a
	}
	for _, r := range p.byServer[c.Server] {
		if !r.applies(c, kind) {
			continue
		}
		if hit, err := r.deny.eval(a); err != nil {
			return s.limited(deny(r.id, fmt.Sprintf("fleet rule %s could not be evaluated for this call; denied (fail closed)", r.name))), a
		} else if hit {
			return s.limited(deny(r.id, r.message)), a
		}
	}
	return s.limited(conclude(matched, a)), a
}

// conclude evaluates the matching grants' conditions and picks the verdict.
func conclude(matched []*grant, a *activation) Decision {
	var allow, approve *grant
	for _, g := range matched {
		if g.when != nil {
			ok, err := g.when.eval(a)
			if err != nil {
				return deny(g.id, fmt.Sprintf("the condition of %s could not be evaluated for this call; denied (fail closed)", g.id))
			}
			if !ok {
				continue
			}
		}
		switch {
		case g.approve && approve == nil:
			approve = g
		case !g.approve && allow == nil:
			allow = g
		}
	}
	switch {
	case approve != nil:
		return Decision{Verdict: Approve, Rule: approve.id, Reason: "allowed by " + approve.id + " once a human approves",
			ApprovalTimeout: approve.timeout}
	case allow != nil:
		return Decision{Verdict: Allow, Rule: allow.id, Reason: "allowed by " + allow.id}
	}
	ids := make([]string, len(matched))
	for i, g := range matched {
		ids[i] = g.id
	}
	return deny(RuleDefaultDeny, fmt.Sprintf("the conditions of the matching grants do not hold (%s)", joinIDs(ids)))
}

func deny(rule, reason string) Decision { return Decision{Verdict: Deny, Rule: rule, Reason: reason} }

func (s *subject) limited(d Decision) Decision {
	d.Limits = s.limits
	return d
}

// callProblem says why a call is malformed for a server of the kind, or "".
func callProblem(c *Call, kind string) string {
	if kind == "mcp" {
		return toolNameProblem(c.Tool)
	}
	switch {
	case c.Tool != "":
		return "a call to an HTTP server names a tool"
	case !methodRE.MatchString(c.Method) || c.Method == "*":
		return "the HTTP method is not an upper-case token"
	}
	return pathProblem(c.Path)
}

func describeCall(c *Call, kind string) string {
	if kind == "mcp" {
		return fmt.Sprintf("tool %s on server %s", quote(c.Tool), quote(c.Server))
	}
	return fmt.Sprintf("%s %s on server %s", c.Method, quote(c.Path), quote(c.Server))
}

func joinIDs(ids []string) string {
	if len(ids) > 4 {
		ids = append(slices.Clip(ids[:4]), "...")
	}
	return strings.Join(ids, ", ")
}

// matches reports whether the grant covers the call's tool or route (its server was matched by the index).
func (g *grant) matches(c *Call, kind string) bool {
	if kind == "mcp" {
		return matchTools(g.tools, c.Tool)
	}
	return matchRoutes(g.routes, c.Method, c.Path)
}

// applies reports whether a rule covers the call: a rule that lists neither tools nor routes covers every call to
// its servers; one that lists tools covers only MCP calls to those tools, one that lists routes only HTTP calls.
func (r *rule) applies(c *Call, kind string) bool {
	switch {
	case r.tools == nil && r.routes == nil:
		return true
	case kind == "mcp":
		return matchTools(r.tools, c.Tool)
	}
	return matchRoutes(r.routes, c.Method, c.Path)
}

func matchTools(patterns []string, tool string) bool {
	for _, t := range patterns {
		if t == tool || (isGlob(t) && matchGlob(t, tool)) {
			return true
		}
	}
	return false
}

func matchRoutes(routes []route, method, p string) bool {
	for _, r := range routes {
		if (r.method == "*" || r.method == method) && matchPath(r.path, p) {
			return true
		}
	}
	return false
}

// Allowed reports whether some grant of the agent could allow the tool (approval-gated included), for filtering
// an MCP tools/list. It ignores arguments: a condition or fleet rule that reads `args` is assumed to let the call
// through; one that does not is evaluated (a grant whose condition is false cannot allow; a rule that denies hides
// the tool). False for an HTTP server, an unknown agent, server or a non-canonical tool name.
func (p *Policy) Allowed(agent, server, tool string) bool {
	if p == nil {
		return false
	}
	s, ok := p.subjects[agent]
	if !ok || p.kinds[server] != "mcp" || toolNameProblem(tool) != "" {
		return false
	}
	c := &Call{Agent: agent, Server: server, Tool: tool}
	a := &activation{c: c, maxArgs: p.maxArgs}
	defer a.close()
	for _, r := range p.byServer[server] {
		if r.applies(c, "mcp") && !r.deny.needsArgs {
			if hit, err := r.deny.eval(a); hit || err != nil {
				return false
			}
		}
	}
	for _, g := range s.byServer[server] {
		if !g.matches(c, "mcp") {
			continue
		}
		if g.when == nil || g.when.needsArgs {
			return true
		}
		if ok, err := g.when.eval(a); ok && err == nil {
			return true
		}
	}
	return false
}
