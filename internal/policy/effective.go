package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrUnknownAgent is returned by Effective for an agent the policy does not name.
var ErrUnknownAgent = errors.New("agent is not in the policy")

// Effective is what one agent may do once every grant (its own and its team's), fleet rule, limit override and
// guidance list is applied: the view an operator console shows for the agent. It is computed from the policy
// alone, so what depends on a call's arguments (a grant's `when`, a rule's `deny` that reads args) is listed as
// text beside the outcome rather than decided.
type Effective struct {
	Agent string
	// Teams are the agent's teams (at most one today); empty for an agent listed only under spec.agents.
	Teams []string
	// Limits are in force after the agent's own limits replaced its team's one by one (zero: no limit).
	Limits Limits
	// Guidance is the fragments the agent gets, each with the version in force, in the order it gets them.
	Guidance []Fragment
	// Servers are the servers the agent has a grant for, in document order.
	Servers []ServerAccess
}

// ServerAccess is what an agent may call on one server.
type ServerAccess struct {
	Server string
	Kind   string // mcp or http
	// Access has one entry per tool, pattern or route as granted (the agent's own grants first, then its team's,
	// each named once), then one per tool that a fleet rule names and a granted pattern covers (an exception such
	// as a denied get-env under a granted "*"). Anything else on the server is denied (RuleDefaultDeny).
	Access []Access
}

// Access is the outcome of calling one granted tool, pattern or route. For a pattern or a route, the verdict is
// that of a call named by the pattern itself: a fleet rule that names only some of the tools a pattern covers shows
// as an entry of its own when it names them exactly (ServerAccess.Access), not when it names them by a pattern or
// by a narrower route; Decide (and Explain) judge such calls one by one.
type Access struct {
	Tool         string // MCP: a tool name or pattern
	Method, Path string // HTTP: a route (method or *, path pattern)
	// Verdict is what Decide says for a call whose arguments no argument rule denies and for which every argument
	// condition holds. When ArgsDependent, other arguments can get another verdict (Grants and Rules say how).
	Verdict Verdict
	// Rule decides, as in Decision.Rule: the grant that allows, the grant needing approval, or the rule or
	// pseudo-rule that denies. From names where it comes from: "team research", "agent", "fleet rule" or "".
	Rule, From      string
	Reason          string
	ApprovalTimeout time.Duration // with Verdict Approve
	ArgsDependent   bool
	// Grants are every grant of the agent that covers the call, in the order they are evaluated.
	Grants []GrantRef
	// Rules are the fleet rules that apply to the call, in document order.
	Rules []RuleRef
}

// GrantRef is one grant as an operator sees it.
type GrantRef struct {
	ID              string // "teams[research].grants[1]"
	From            string // "team research" or "agent"
	When            string // the CEL condition, "" for none
	Approval        bool
	ApprovalTimeout time.Duration
	// ReadsArgs: When reads the call's arguments, so it holds for some calls and not others.
	ReadsArgs bool
}

// RuleRef is one fleet rule as an operator sees it.
type RuleRef struct {
	ID        string // "rules[no-path-traversal]"
	Deny      string // the CEL expression that denies when true
	Message   string
	ReadsArgs bool
}

// TeamsOf lists the teams the agent is in: at most one, none for an unknown agent or one in no team.
func (p *Policy) TeamsOf(agent string) []string {
	if p == nil {
		return nil
	}
	if s, ok := p.subjects[agent]; ok && s.team != "" {
		return []string{s.team}
	}
	return nil
}

// Limits are the agent's limits once its own replaced its team's one by one; false for an agent the policy does not
// name.
func (p *Policy) Limits(agent string) (Limits, bool) {
	if p == nil {
		return Limits{}, false
	}
	s, ok := p.subjects[agent]
	if !ok {
		return Limits{}, false
	}
	return s.limits, true
}

// Effective computes the agent's effective policy. It fails with ErrUnknownAgent for an agent the policy does not
// name. An aggregate server is not listed: calls through it are judged as calls to its members, which are.
func (p *Policy) Effective(agent string) (Effective, error) {
	if p == nil {
		return Effective{}, errors.New("no policy is loaded")
	}
	s, ok := p.subjects[agent]
	if !ok {
		return Effective{}, fmt.Errorf("%w: %s", ErrUnknownAgent, quote(agent))
	}
	e := Effective{Agent: agent, Teams: p.TeamsOf(agent), Limits: s.limits, Guidance: slices.Clone(s.guidance)}
	for _, srv := range p.servers {
		kind := p.kinds[srv.Name]
		if len(s.byServer[srv.Name]) == 0 || kind == aggregateKind {
			continue
		}
		e.Servers = append(e.Servers, ServerAccess{Server: srv.Name, Kind: kind, Access: p.serverAccess(s, srv.Name, kind)})
	}
	return e, nil
}

// serverAccess lists the granted tools or routes of one server, then the exceptions fleet rules carve out of
// granted patterns.
func (p *Policy) serverAccess(s *subject, server, kind string) []Access {
	var out []Access
	seen := map[string]bool{}
	add := func(c Call) {
		key := c.Tool + "\x00" + c.Method + "\x00" + c.Path
		if !seen[key] {
			seen[key] = true
			out = append(out, p.access(s, &c, kind))
		}
	}
	var patterns []string
	for _, g := range s.byServer[server] {
		for _, t := range g.tools {
			add(Call{Agent: s.agent, Server: server, Tool: t})
			if isGlob(t) {
				patterns = append(patterns, t)
			}
		}
		for _, r := range g.routes {
			add(Call{Agent: s.agent, Server: server, Method: r.method, Path: r.path})
		}
	}
	for _, r := range p.byServer[server] {
		for _, t := range r.tools {
			if !isGlob(t) && matchTools(patterns, t) {
				add(Call{Agent: s.agent, Server: server, Tool: t})
			}
		}
	}
	return out
}

// access judges one call without arguments, the way Decide does, except that an expression reading the arguments
// is assumed to let the call through (a rule's deny false, a grant's when true) and is listed instead.
func (p *Policy) access(s *subject, c *Call, kind string) Access {
	out := Access{Tool: c.Tool, Method: c.Method, Path: c.Path}
	a := &activation{c: c, maxArgs: p.maxArgs}
	defer a.close()
	var matched []*grant
	for _, g := range s.byServer[c.Server] {
		if g.matches(c, kind) {
			matched = append(matched, g)
			out.Grants = append(out.Grants, s.grantRef(g))
			out.ArgsDependent = out.ArgsDependent || g.when != nil && g.when.needsArgs
		}
	}
	if len(matched) == 0 {
		return out.decided(deny(RuleDefaultDeny, "no grant allows "+describeCall(c, kind)), "")
	}
	var denied *Decision
	for _, r := range p.byServer[c.Server] {
		if !r.applies(c, kind) {
			continue
		}
		out.Rules = append(out.Rules, RuleRef{ID: r.id, Deny: r.deny.text, Message: r.message, ReadsArgs: r.deny.needsArgs})
		if r.deny.needsArgs {
			out.ArgsDependent = true
			continue
		}
		if hit, err := r.deny.eval(a); denied == nil && (hit || err != nil) {
			d := deny(r.id, r.message)
			if err != nil {
				d.Reason = fmt.Sprintf("fleet rule %s could not be evaluated for this call; denied (fail closed)", r.name)
			}
			denied = &d
		}
	}
	if denied != nil {
		return out.decided(*denied, "fleet rule")
	}
	d, g := concludeStatic(matched, a)
	return out.decided(d, s.owner(g))
}

// concludeStatic is conclude with every condition that reads the arguments taken to hold; it also returns the
// grant that decided (nil for RuleDefaultDeny).
func concludeStatic(matched []*grant, a *activation) (Decision, *grant) {
	var allow, approve *grant
	for _, g := range matched {
		if g.when != nil && !g.when.needsArgs {
			ok, err := g.when.eval(a)
			if err != nil {
				return deny(g.id, fmt.Sprintf("the condition of %s could not be evaluated for this call; denied (fail closed)", g.id)), g
			}
			if !ok {
				continue
			}
		}
		if g.approve && approve == nil {
			approve = g
		} else if !g.approve && allow == nil {
			allow = g
		}
	}
	switch {
	case approve != nil:
		return Decision{Verdict: Approve, Rule: approve.id, Reason: "allowed by " + approve.id + " once a human approves",
			ApprovalTimeout: approve.timeout}, approve
	case allow != nil:
		return Decision{Verdict: Allow, Rule: allow.id, Reason: "allowed by " + allow.id}, allow
	}
	ids := make([]string, len(matched))
	for i, g := range matched {
		ids[i] = g.id
	}
	return deny(RuleDefaultDeny, fmt.Sprintf("the conditions of the matching grants do not hold (%s)", joinIDs(ids))), nil
}

func (x Access) decided(d Decision, from string) Access {
	x.Verdict, x.Rule, x.From, x.Reason, x.ApprovalTimeout = d.Verdict, d.Rule, from, d.Reason, d.ApprovalTimeout
	return x
}

func (s *subject) grantRef(g *grant) GrantRef {
	r := GrantRef{ID: g.id, From: s.owner(g), Approval: g.approve, ApprovalTimeout: g.timeout}
	if g.when != nil {
		r.When, r.ReadsArgs = g.when.text, g.when.needsArgs
	}
	return r
}

// owner says where a grant comes from: "team research" or "agent" ("" for nil).
func (s *subject) owner(g *grant) string {
	switch {
	case g == nil:
		return ""
	case strings.HasPrefix(g.id, "teams["):
		return "team " + s.team
	}
	return "agent"
}
