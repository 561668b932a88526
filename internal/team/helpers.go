package team

import (
	"fmt"
	"strings"
)

// Agent is the agent named name, pointing into t.Agents; false when the team has none by that name.
func (t *Team) Agent(name string) (*Agent, bool) {
	for i := range t.Agents {
		if t.Agents[i].Name == name {
			return &t.Agents[i], true
		}
	}
	return nil, false
}

// ModelOf is the model agent a calls, pointing into t.Models; nil when a is nil or names no declared model (never
// for an agent of a team Parse returned).
func (t *Team) ModelOf(a *Agent) *Model {
	if a == nil {
		return nil
	}
	for i := range t.Models {
		if t.Models[i].Name == a.Model {
			return &t.Models[i]
		}
	}
	return nil
}

// OutputAgent names the agent whose answer is the run's result: Output.From when set, else the sequence's last
// agent, the parallel flow's merge agent, or the lead. "" means a parallel flow without a merge agent: the result
// is the branches' outputs joined.
func (t *Team) OutputAgent() string {
	if t.Output.From != "" {
		return t.Output.From
	}
	switch t.Flow.Mode {
	case Sequence:
		if n := len(t.Flow.Agents); n > 0 {
			return t.Flow.Agents[n-1]
		}
	case Parallel:
		return t.Flow.Merge
	case Lead:
		return t.Flow.Lead
	}
	return ""
}

// Members lists the agents of the flow in flow order: the sequence in order; the parallel branches, then the merge
// agent if any; the lead, then its delegates. Each agent appears once. The slice is new: the caller may keep it.
func (t *Team) Members() []string {
	out := make([]string, 0, len(t.Flow.Agents)+1)
	if t.Flow.Mode == Lead && t.Flow.Lead != "" {
		out = append(out, t.Flow.Lead)
	}
	out = append(out, t.Flow.Agents...)
	if t.Flow.Mode == Parallel && t.Flow.Merge != "" {
		out = append(out, t.Flow.Merge)
	}
	return out
}

// CheckInput refuses an empty input when the team requires one (spec.input.required).
func (t *Team) CheckInput(input string) error {
	if t.Input.Required && strings.TrimSpace(input) == "" {
		return fmt.Errorf("team %s needs an input: %s", t.Name, t.Input.Description)
	}
	return nil
}
