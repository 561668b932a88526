package policy

import (
	"fmt"
	"slices"
	"strings"
)

// Explain describes, over several lines, how the policy judges a call: the agent and its limits, every fleet rule
// and every grant of the agent with what it made of the call, and the decision (the one Decide returns). It is for
// people (agops policy explain), so unlike Decision.Reason it shows evaluation errors, which may quote arguments.
func (p *Policy) Explain(c Call) string {
	d, a := p.decide(&c)
	if a != nil { // the expressions are evaluated again below, under a deadline of their own
		a.close()
		a.ctx, a.cancel = nil, nil
		defer a.close()
	}
	var b strings.Builder
	kind, known := p.kinds[c.Server]
	s := p.subjects[c.Agent]
	b.WriteString(explainHeader(&c, kind, s))
	if known && a != nil && a.argsErr == nil && s != nil {
		fmt.Fprintf(&b, "fleet rules (a true deny denies; evaluated only for a call some grant matches):\n")
		p.explainRules(&b, &c, kind, a)
		fmt.Fprintf(&b, "grants (the agent's own, then its team's; approval wins over allow):\n")
		explainGrants(&b, s, &c, kind, a)
	}
	fmt.Fprintf(&b, "decision: %s by %s: %s\n", d.Verdict, d.Rule, d.Reason)
	if d.Verdict == Approve {
		fmt.Fprintf(&b, "approval: a human has %s to approve; then the call is denied\n", d.ApprovalTimeout)
	}
	return b.String()
}

func explainHeader(c *Call, kind string, s *subject) string {
	var b strings.Builder
	switch {
	case s == nil:
		fmt.Fprintf(&b, "agent:  %s (not in the policy)\n", quote(c.Agent))
	case s.team == "":
		fmt.Fprintf(&b, "agent:  %s (in no team)\n", c.Agent)
	default:
		fmt.Fprintf(&b, "agent:  %s (team %s)\n", c.Agent, s.team)
	}
	switch kind {
	case "":
		fmt.Fprintf(&b, "call:   server %s is not in the policy\n", quote(c.Server))
	case "mcp":
		fmt.Fprintf(&b, "call:   tool %s on MCP server %s, %d bytes of arguments\n", quote(c.Tool), c.Server, len(c.Args))
	default:
		fmt.Fprintf(&b, "call:   %s %s on HTTP server %s, %d bytes of arguments\n", c.Method, quote(c.Path), c.Server, len(c.Args))
	}
	if s != nil {
		fmt.Fprintf(&b, "limits: %s\n", LimitsText(s.limits))
	}
	return b.String()
}

// LimitsText writes limits as "60 calls/minute, 5000 calls/day", or "none": what `agops policy explain` and the
// console show.
func LimitsText(l Limits) string {
	var parts []string
	if l.CallsPerMinute > 0 {
		parts = append(parts, fmt.Sprintf("%d calls/minute", l.CallsPerMinute))
	}
	if l.CallsPerDay > 0 {
		parts = append(parts, fmt.Sprintf("%d calls/day", l.CallsPerDay))
	}
	if l.TokensPerDay > 0 {
		parts = append(parts, fmt.Sprintf("%d tokens/day", l.TokensPerDay))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func (p *Policy) explainRules(b *strings.Builder, c *Call, kind string, a *activation) {
	if len(p.rules) == 0 {
		b.WriteString("  (none)\n")
	}
	for _, r := range p.rules {
		var what string
		switch {
		case !slices.Contains(p.byServer[c.Server], r):
			what = "does not apply: other servers"
		case !r.applies(c, kind):
			what = "does not apply: other tools or routes"
		default:
			what = "deny " + evalText(r.deny, a) + warningText(r.deny)
		}
		fmt.Fprintf(b, "  %s: %s\n", r.id, what)
	}
}

func explainGrants(b *strings.Builder, s *subject, c *Call, kind string, a *activation) {
	if len(s.grants) == 0 {
		b.WriteString("  (none)\n")
	}
	for _, g := range s.grants {
		var what, warn string
		switch {
		case g.server != c.Server:
			what = "does not match: server " + g.server
		case !g.matches(c, kind):
			what = "does not match: " + grantTarget(g)
		case g.when == nil:
			what = "matches"
		default:
			what, warn = "matches; when "+evalText(g.when, a), warningText(g.when)
		}
		if g.approve {
			what += fmt.Sprintf(" (needs approval, timeout %s)", g.timeout)
		}
		fmt.Fprintf(b, "  %s: %s%s\n", g.id, what, warn)
	}
}

func grantTarget(g *grant) string {
	if g.tools != nil {
		return "tools " + strings.Join(g.tools, ", ")
	}
	var rs []string
	for _, r := range g.routes {
		rs = append(rs, r.method+" "+r.path)
	}
	return "routes " + strings.Join(rs, ", ")
}

// warningText is the lint warnings of an expression, each on a line of its own under the rule or grant.
func warningText(prg *program) string {
	var b strings.Builder
	for _, w := range prg.warnings {
		b.WriteString("\n    warning: " + w)
	}
	return b.String()
}

// evalText evaluates an expression for display: "`args.n < 10` is true".
func evalText(prg *program, a *activation) string {
	ok, err := prg.eval(a)
	code := strings.Join(strings.Fields(prg.text), " ")
	if r := []rune(code); len(r) > 80 {
		code = string(r[:77]) + "..."
	}
	if err != nil {
		return fmt.Sprintf("`%s` cannot be evaluated: %v (fails closed)", code, err)
	}
	return fmt.Sprintf("`%s` is %t", code, ok)
}
