package team

import (
	"fmt"
	"slices"
	"time"
)

// flow checks spec.flow: exactly one mode, every agent declared and in the flow at most once.
func (b *builder) flow(f *flowSpec) {
	const path = "spec.flow"
	if f == nil {
		b.ps.Add(path, "required: one of sequence, parallel or lead")
		return
	}
	if n := countTrue(f.Sequence != nil, f.Parallel != nil, f.Lead != nil); n != 1 {
		b.ps.Add(path, "want exactly one of sequence, parallel or lead, got %d", n)
		return
	}
	b.inFlow = map[string]string{}
	switch {
	case f.Sequence != nil:
		b.sequence(path+".sequence", f.Sequence)
	case f.Parallel != nil:
		b.parallel(path+".parallel", f.Parallel)
	default:
		b.lead(path+".lead", f.Lead)
	}
}

func (b *builder) sequence(path string, agents []string) {
	if len(agents) == 0 {
		b.ps.Add(path, "want at least one agent")
	}
	b.members(path, agents)
	b.t.Flow = Flow{Mode: Sequence, Agents: agents}
}

func (b *builder) parallel(path string, p *parallelSpec) {
	if len(p.Agents) < 2 {
		b.ps.Add(path+".agents", "want at least two agents to run in parallel, got %d (a single agent is a sequence)", len(p.Agents))
	}
	b.members(path+".agents", p.Agents)
	if p.Merge != "" && slices.Contains(p.Agents, p.Merge) {
		b.ps.Add(path+".merge", "the merge agent %s cannot also be a branch", quote(p.Merge))
	} else if p.Merge != "" {
		b.member(path+".merge", p.Merge)
	}
	b.t.Flow = Flow{Mode: Parallel, Agents: p.Agents, Merge: p.Merge}
}

func (b *builder) lead(path string, l *leadSpec) {
	if l.Agent == "" {
		b.ps.Add(path+".agent", "required")
	} else {
		b.member(path+".agent", l.Agent)
	}
	if len(l.Delegates) == 0 {
		b.ps.Add(path+".delegates", "want at least one delegate")
	}
	for i, d := range l.Delegates {
		p := fmt.Sprintf("%s.delegates[%d]", path, i)
		if d != "" && d == l.Agent {
			b.ps.Add(p, "the lead %s cannot be one of its own delegates", quote(d))
			continue
		}
		b.member(p, d)
	}
	b.t.Flow = Flow{Mode: Lead, Agents: l.Delegates, Lead: l.Agent}
}

func (b *builder) members(path string, names []string) {
	for i, name := range names {
		b.member(fmt.Sprintf("%s[%d]", path, i), name)
	}
}

// member checks one agent reference of the flow.
func (b *builder) member(path, name string) {
	if name == "" {
		b.ps.Add(path, "required")
		return
	}
	if _, ok := b.agents[name]; !ok {
		b.ps.Add(path, "unknown agent %s%s", quote(name), inParens("spec.agents has: ", b.agentNames))
		return
	}
	if first, dup := b.inFlow[name]; dup {
		b.ps.Add(path, "agent %s appears twice in the flow (first at %s)", quote(name), first)
		return
	}
	b.inFlow[name] = path
}

// unused reports every declared agent the flow never runs (when the flow's shape could be checked).
func (b *builder) unused(list []agentSpec) {
	if b.inFlow == nil {
		return
	}
	for i, a := range list {
		if first, ok := b.agents[a.Name]; ok && first == i {
			if _, runs := b.inFlow[a.Name]; !runs {
				b.ps.Add(fmt.Sprintf("spec.agents[%d]", i), "agent %s is not in the flow", quote(a.Name))
			}
		}
	}
}

func (b *builder) output(o outputSpec) {
	const path = "spec.output.from"
	b.t.Output = Output(o)
	if o.From == "" {
		return
	}
	if _, ok := b.agents[o.From]; !ok {
		b.ps.Add(path, "unknown agent %s%s", quote(o.From), inParens("spec.agents has: ", b.agentNames))
		return
	}
	if _, runs := b.inFlow[o.From]; !runs && b.inFlow != nil {
		b.ps.Add(path, "agent %s is not in the flow", quote(o.From))
	}
}

func (b *builder) limits(l limitsSpec) {
	const path = "spec.limits."
	b.t.Limits = Limits{
		DefaultMaxTurns:     b.intIn(path+"defaultMaxTurns", l.DefaultMaxTurns, defaultMaxTurns, 1, maxMaxTurns),
		ContinueAsNewTurns:  b.intIn(path+"continueAsNewTurns", l.ContinueAsNewTurns, defaultContinueAsNewTurns, 1, maxContinueAsNewTurns),
		ContinueAsNewEvents: b.intIn(path+"continueAsNewEvents", l.ContinueAsNewEvents, defaultContinueAsNewEvents, minContinueAsNewEvents, maxContinueAsNewEvents),
		ApprovalTimeout:     b.duration(path+"approvalTimeout", l.ApprovalTimeout, defaultApprovalTimeout, maxApprovalTimeout),
		ModelTimeout:        b.duration(path+"modelTimeout", l.ModelTimeout, defaultModelTimeout, maxCallTimeout),
		ToolTimeout:         b.duration(path+"toolTimeout", l.ToolTimeout, defaultToolTimeout, maxCallTimeout),
	}
}

func (b *builder) duration(path string, d *Duration, def, hi time.Duration) Duration {
	if d == nil {
		return Duration(def)
	}
	if *d <= 0 || time.Duration(*d) > hi {
		b.ps.Add(path, "must be positive and at most %s, got %s", fmtDuration(hi), d)
		return Duration(def)
	}
	return *d
}

// fmtDuration writes whole hours as "1h" or "168h" rather than "1h0m0s".
func fmtDuration(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}

func countTrue(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
