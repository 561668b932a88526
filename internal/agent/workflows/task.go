package workflows

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/agops/agops/internal/agent"
	"github.com/agops/agops/internal/team"
)

// AgentTask runs one agent on one task: a model call per turn, then the tool calls the model asked for, until the
// model answers without tools, the turn limit or the budget stops it. The transcript lives in the transcript store
// under the task's workflow ID; the workflow continues as new when its turns or history pass the team's limits.
func AgentTask(ctx workflow.Context, in agent.TaskInput) (agent.TaskResult, error) {
	t, err := newTask(ctx, in)
	if err != nil {
		return agent.TaskResult{}, err
	}
	if err := workflow.SetQueryHandler(ctx, agent.StatusQuery, t.status); err != nil {
		return agent.TaskResult{}, err
	}
	if t.s.Tools == nil {
		if err := t.listTools(ctx); err != nil {
			return agent.TaskResult{}, err
		}
	}
	return t.loop(ctx)
}

// task is an agent task's state while its workflow runs.
type task struct {
	in       agent.TaskInput
	a        *team.Agent
	s        agent.TaskState
	turns    int // turns in this generation (since the last continue-as-new)
	phase    string
	pending  []agent.ApprovalRequest
	last     string
	children []string
	approved map[string]agent.ApprovalDecision // decisions that arrived before their wait
}

func newTask(ctx workflow.Context, in agent.TaskInput) (*task, error) {
	a, ok := in.Team.Agent(in.Agent)
	if !ok {
		return nil, temporal.NewNonRetryableApplicationError("no agent "+in.Agent+" in team "+in.Team.Name, "BadInput", nil)
	}
	t := &task{in: in, a: a, phase: "running", approved: map[string]agent.ApprovalDecision{}}
	if in.State != nil {
		t.s = *in.State
	}
	if t.s.DelegateUsage == nil {
		t.s.DelegateUsage = map[string]agent.Usage{}
	}
	return t, nil
}

func (t *task) status() (agent.Status, error) {
	usage := map[string]agent.Usage{t.a.Name: t.s.Used}
	for a, u := range t.s.DelegateUsage {
		usage[a] = usage[a].Add(u)
	}
	return agent.Status{Team: t.in.Team.Name, Agent: t.a.Name, Phase: t.phase, Turns: t.s.Used.Turns, Usage: usage,
		Pending: t.pending, Tasks: t.children, LastReply: t.last}, nil
}

// loop runs turns until the agent answers or is stopped.
func (t *task) loop(ctx workflow.Context) (agent.TaskResult, error) {
	for {
		if stop := t.stopReason(); stop != "" {
			return t.result(t.last, stop), nil
		}
		if t.dueForNewRun(ctx) {
			return agent.TaskResult{}, t.continueAsNew(ctx)
		}
		res, err := t.modelCall(ctx)
		if err != nil {
			return agent.TaskResult{}, err
		}
		if len(res.ToolCalls) == 0 {
			t.phase = "done"
			return t.result(res.Content, ""), nil
		}
		for _, c := range res.ToolCalls {
			if err := t.toolCall(ctx, c); err != nil {
				return agent.TaskResult{}, err
			}
		}
	}
}

// stopReason says why no further model call may be made: the turn limit or the budget.
func (t *task) stopReason() string {
	used := t.in.Prior.Add(t.s.Used)
	switch b := t.a.Budget; {
	case t.s.Used.Turns >= t.a.MaxTurns:
		return fmt.Sprintf("turn limit reached (%d)", t.a.MaxTurns)
	case b.Tokens > 0 && used.Tokens >= b.Tokens:
		return fmt.Sprintf("token budget exhausted (%d of %d)", used.Tokens, b.Tokens)
	}
	return ""
}

func (t *task) result(answer, stopped string) agent.TaskResult {
	if stopped != "" {
		t.phase = "done"
	}
	return agent.TaskResult{Agent: t.a.Name, Answer: answer, Used: t.s.Used, DelegateUsage: t.s.DelegateUsage, Stopped: stopped}
}

// dueForNewRun is true when this generation has run its turns or its history is long.
func (t *task) dueForNewRun(ctx workflow.Context) bool {
	l := t.in.Team.Limits
	return t.turns >= l.ContinueAsNewTurns || workflow.GetInfo(ctx).GetCurrentHistoryLength() >= l.ContinueAsNewEvents
}

func (t *task) continueAsNew(ctx workflow.Context) error {
	next := t.in
	st := t.s
	st.Generations++
	next.State = &st
	return workflow.NewContinueAsNewError(ctx, agent.AgentTaskWorkflow, next)
}

// listTools asks the gateway for the agent's tools; the lead also gets the delegate tool.
func (t *task) listTools(ctx workflow.Context) error {
	var tools []agent.ToolSpec
	if len(t.a.Tools) > 0 {
		actx := workflow.WithActivityOptions(ctx, t.activityOptions(t.in.Team.Limits.ToolTimeout))
		err := workflow.ExecuteActivity(actx, agent.ListToolsActivity, agent.ListToolsInput{Agent: t.a.Name, Tools: t.a.Tools}).Get(ctx, &tools)
		if err != nil {
			return fmt.Errorf("listing the tools of %s: %w", t.a.Name, err)
		}
	}
	if t.isLead() {
		tools = append(tools, delegateTool(t.in.Team))
	}
	if tools == nil {
		tools = []agent.ToolSpec{}
	}
	t.s.Tools = tools
	return nil
}

func (t *task) isLead() bool {
	return t.in.Team.Flow.Mode == team.Lead && t.in.Team.Flow.Lead == t.a.Name
}

// modelCall asks the model for the next turn; the activity stores its answer in the transcript.
func (t *task) modelCall(ctx workflow.Context) (agent.ModelCallResult, error) {
	in := agent.ModelCallInput{TranscriptKey: t.key(ctx), Messages: t.s.Messages, Model: *t.in.Team.ModelOf(t.a), Tools: t.s.Tools}
	if t.s.Messages == 0 {
		in.System, in.Task = t.system(), t.in.Task
	}
	actx := workflow.WithActivityOptions(ctx, t.activityOptions(t.in.Team.Limits.ModelTimeout))
	var res agent.ModelCallResult
	if err := workflow.ExecuteActivity(actx, agent.ModelCallActivity, in).Get(ctx, &res); err != nil {
		return res, fmt.Errorf("model call of %s: %w", t.a.Name, err)
	}
	if t.s.Messages == 0 {
		t.s.Messages = 2
	}
	t.s.Messages++
	t.s.Used.Turns++
	t.turns++
	t.s.Used.Tokens += res.Tokens
	if res.Content != "" {
		t.last = cut(res.Content)
	}
	return res, nil
}

// key is the transcript's key: the task's workflow ID, the same across continue-as-new.
func (t *task) key(ctx workflow.Context) string { return workflow.GetInfo(ctx).WorkflowExecution.ID }

// system is the agent's system message: its instructions, and for a lead the delegates it may use.
func (t *task) system() string {
	if !t.isLead() {
		return t.a.Instructions
	}
	var b strings.Builder
	b.WriteString(t.a.Instructions)
	b.WriteString("\n\nYou lead a team. Give tasks to these agents with the delegate tool:\n")
	for _, name := range t.in.Team.Flow.Agents {
		if d, ok := t.in.Team.Agent(name); ok {
			fmt.Fprintf(&b, "- %s: %s\n", d.Name, d.Role)
		}
	}
	return b.String()
}

// activityOptions: a start-to-close timeout per call, a heartbeat so that a dead worker's call moves on quickly,
// and bounded retries.
func (t *task) activityOptions(timeout team.Duration) workflow.ActivityOptions {
	hb := t.in.Heartbeat
	if hb <= 0 {
		hb = agent.DefaultHeartbeat
	}
	return workflow.ActivityOptions{
		StartToCloseTimeout: time.Duration(timeout),
		HeartbeatTimeout:    hb,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second, MaximumAttempts: 6,
			NonRetryableErrorTypes: []string{"BadInput"},
		},
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// cut shortens text for status displays.
func cut(s string) string {
	const max = 300
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
