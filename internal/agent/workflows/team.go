// Package workflows holds the deterministic orchestration of agent runs on Temporal: TeamRun carries out a team's
// flow (a sequence, parallel branches, or a lead that delegates) and AgentTask runs one agent on one task, turn by
// turn, every model and tool call an activity. Nothing here does I/O, reads a clock or draws random numbers except
// through the workflow API; replay tests over recorded histories keep it so.
package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/agops/agops/internal/agent"
	"github.com/agops/agops/internal/team"
)

// TeamRun runs the team's flow on the input and returns the output agent's answer.
func TeamRun(ctx workflow.Context, in agent.RunInput) (agent.RunResult, error) {
	r := &teamRun{in: in, st: agent.Status{Team: in.Team.Name, Phase: "running", Usage: map[string]agent.Usage{}},
		outputs: map[string]string{}}
	if err := workflow.SetQueryHandler(ctx, agent.StatusQuery, func() (agent.Status, error) { return r.st, nil }); err != nil {
		return agent.RunResult{}, err
	}
	var err error
	switch f := in.Team.Flow; f.Mode {
	case team.Sequence:
		err = r.sequence(ctx, f.Agents)
	case team.Parallel:
		err = r.parallel(ctx, f.Agents, f.Merge)
	case team.Lead:
		_, err = r.task(ctx, f.Lead, in.Input).Get(ctx)
	default:
		err = fmt.Errorf("unknown flow mode %q", f.Mode)
	}
	if err != nil {
		r.st.Phase = "failed"
		return agent.RunResult{}, err
	}
	out := r.output()
	r.st.Phase, r.st.Output = "done", out
	return agent.RunResult{Output: out, Outputs: r.outputs, Usage: r.st.Usage}, nil
}

type teamRun struct {
	in      agent.RunInput
	st      agent.Status
	outputs map[string]string
	order   []string // agents in the order they answered
}

// sequence gives each agent the input and the previous agent's answer.
func (r *teamRun) sequence(ctx workflow.Context, agents []string) error {
	prev, prevAgent := "", ""
	for _, a := range agents {
		task := r.in.Input
		if prevAgent != "" {
			task = fmt.Sprintf("%s\n\nThe previous agent (%s) answered:\n%s", r.in.Input, prevAgent, prev)
		}
		res, err := r.task(ctx, a, task).Get(ctx)
		if err != nil {
			return err
		}
		prev, prevAgent = res.Answer, a
	}
	return nil
}

// parallel runs the branches at once, then the merge agent on their answers.
func (r *teamRun) parallel(ctx workflow.Context, branches []string, merge string) error {
	futures := make([]*taskFuture, len(branches))
	for i, a := range branches {
		futures[i] = r.task(ctx, a, r.in.Input)
	}
	var parts []string
	for i, f := range futures {
		res, err := f.Get(ctx)
		if err != nil {
			return err
		}
		parts = append(parts, fmt.Sprintf("Agent %s answered:\n%s", branches[i], res.Answer))
	}
	if merge == "" {
		return nil
	}
	task := fmt.Sprintf("%s\n\n%s", r.in.Input, strings.Join(parts, "\n\n"))
	_, err := r.task(ctx, merge, task).Get(ctx)
	return err
}

// output is the run's result: the output agent's answer, or every answer joined.
func (r *teamRun) output() string {
	if from := r.in.Team.OutputAgent(); from != "" {
		return r.outputs[from]
	}
	var parts []string
	for _, a := range r.order {
		parts = append(parts, fmt.Sprintf("%s:\n%s", a, r.outputs[a]))
	}
	return strings.Join(parts, "\n\n")
}

// taskFuture is an agent task started as a child workflow.
type taskFuture struct {
	r     *teamRun
	agent string
	f     workflow.ChildWorkflowFuture
}

// task starts agent on task as a child workflow.
func (r *teamRun) task(ctx workflow.Context, agentName, task string) *taskFuture {
	id := fmt.Sprintf("%s/%s-%d", workflow.GetInfo(ctx).WorkflowExecution.ID, agentName, len(r.st.Tasks)+1)
	r.st.Tasks = append(r.st.Tasks, id)
	r.st.Running = append(r.st.Running, agentName)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: id})
	f := workflow.ExecuteChildWorkflow(cctx, agent.AgentTaskWorkflow, agent.TaskInput{
		Team: r.in.Team, Agent: agentName, Task: task, Prior: r.st.Usage[agentName], Heartbeat: r.in.Heartbeat,
	})
	return &taskFuture{r: r, agent: agentName, f: f}
}

// Get waits for the task and books its answer and usage.
func (t *taskFuture) Get(ctx workflow.Context) (agent.TaskResult, error) {
	var res agent.TaskResult
	err := t.f.Get(ctx, &res)
	t.r.st.Running = remove(t.r.st.Running, t.agent)
	if err != nil {
		return res, fmt.Errorf("agent %s: %w", t.agent, err)
	}
	t.r.st.Usage[t.agent] = t.r.st.Usage[t.agent].Add(res.Used)
	for _, a := range sortedKeys(res.DelegateUsage) {
		t.r.st.Usage[a] = t.r.st.Usage[a].Add(res.DelegateUsage[a])
	}
	t.r.outputs[t.agent] = res.Answer
	t.r.order = append(t.r.order, t.agent)
	t.r.st.LastReply = cut(res.Answer)
	return res, nil
}

func remove(list []string, s string) []string {
	for i, v := range list {
		if v == s {
			return append(list[:i:i], list[i+1:]...)
		}
	}
	return list
}
