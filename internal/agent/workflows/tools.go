package workflows

import (
	"encoding/json"
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/agops/agops/internal/agent"
	"github.com/agops/agops/internal/team"
)

// DelegateTool is the function a lead calls to give a task to another agent.
const DelegateTool = "delegate"

func delegateTool(tm team.Team) agent.ToolSpec {
	schema := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"agent": map[string]any{"type": "string", "enum": tm.Flow.Agents, "description": "who does the task"},
			"task":  map[string]any{"type": "string", "description": "what to do, with everything the agent needs"},
		},
		"required": []string{"agent", "task"},
	}
	b, _ := json.Marshal(schema)
	return agent.ToolSpec{Func: DelegateTool, Name: DelegateTool, InputSchema: b,
		Description: "Give a task to an agent of your team and get its answer."}
}

// toolCall carries out one tool call of the model and stores its answer in the transcript.
func (t *task) toolCall(ctx workflow.Context, c agent.ToolCall) error {
	if c.Name == DelegateTool && t.isLead() {
		answer, err := t.delegate(ctx, c)
		if err != nil {
			return err
		}
		return t.store(ctx, c, answer)
	}
	spec, ok := t.spec(c.Name)
	switch {
	case !ok:
		return t.store(ctx, c, fmt.Sprintf("error: the tool %q is not available to %s", c.Name, t.a.Name))
	case t.a.Budget.ToolCalls > 0 && t.in.Prior.ToolCalls+t.s.Used.ToolCalls >= t.a.Budget.ToolCalls:
		return t.store(ctx, c, fmt.Sprintf("error: the tool call budget of %s is exhausted (%d)", t.a.Name, t.a.Budget.ToolCalls))
	}
	if spec.Approval {
		id := fmt.Sprintf("wf_%s#%d", workflow.GetInfo(ctx).WorkflowExecution.ID, t.s.Messages)
		if d := t.awaitApproval(ctx, id, spec, c, time.Time{}); !d.Approve {
			return t.store(ctx, c, denial(d))
		}
	}
	return t.callTool(ctx, c, spec)
}

// callTool calls the tool through the gateway; a call the gateway holds for approval waits for the decision on
// the run, then is made again (the gateway then finds the approval).
func (t *task) callTool(ctx workflow.Context, c agent.ToolCall, spec agent.ToolSpec) error {
	for attempt := 0; ; attempt++ {
		res, err := t.execTool(ctx, c, spec, nil)
		if err != nil {
			return err
		}
		if res.ApprovalID == "" {
			t.s.Used.ToolCalls++
			t.s.Messages++
			return nil
		}
		if attempt > 0 {
			return t.store(ctx, c, "denied: the gateway still holds the call for approval "+res.ApprovalID)
		}
		if d := t.awaitApproval(ctx, res.ApprovalID, spec, c, res.ApprovalExpires); !d.Approve {
			return t.store(ctx, c, denial(d))
		}
	}
}

// store records text as the tool's answer without calling anything.
func (t *task) store(ctx workflow.Context, c agent.ToolCall, text string) error {
	if _, err := t.execTool(ctx, c, agent.ToolSpec{}, &text); err != nil {
		return err
	}
	t.s.Messages++
	return nil
}

func (t *task) execTool(ctx workflow.Context, c agent.ToolCall, spec agent.ToolSpec, result *string) (agent.ToolCallResult, error) {
	in := agent.ToolCallInput{TranscriptKey: t.key(ctx), Messages: t.s.Messages, CallID: c.ID, Server: spec.Server,
		Tool: spec.Name, Arguments: c.Arguments, Result: result}
	actx := workflow.WithActivityOptions(ctx, t.activityOptions(t.in.Team.Limits.ToolTimeout))
	var res agent.ToolCallResult
	if err := workflow.ExecuteActivity(actx, agent.ToolCallActivity, in).Get(ctx, &res); err != nil {
		return res, fmt.Errorf("tool call %s of %s: %w", c.Name, t.a.Name, err)
	}
	return res, nil
}

func (t *task) spec(fn string) (agent.ToolSpec, bool) {
	for _, s := range t.s.Tools {
		if s.Func == fn && s.Func != DelegateTool {
			return s, true
		}
	}
	return agent.ToolSpec{}, false
}

func denial(d agent.ApprovalDecision) string {
	if d.Reason != "" {
		return "denied: " + d.Reason
	}
	return "denied by " + d.By
}

// awaitApproval waits for ApprovalSignal with decision id, up to the team's approval timeout (or expires, when the
// gateway set one sooner). A timeout denies.
func (t *task) awaitApproval(ctx workflow.Context, id string, spec agent.ToolSpec, c agent.ToolCall, expires time.Time) agent.ApprovalDecision {
	now := workflow.Now(ctx)
	timeout := time.Duration(t.in.Team.Limits.ApprovalTimeout)
	if !expires.IsZero() && expires.Sub(now) < timeout {
		timeout = max(expires.Sub(now), 0)
	}
	req := agent.ApprovalRequest{ID: id, Workflow: workflow.GetInfo(ctx).WorkflowExecution.ID, Agent: t.a.Name,
		Server: spec.Server, Tool: spec.Name, Arguments: cut(c.Arguments), Since: now, Expires: now.Add(timeout)}
	t.pending = append(t.pending, req)
	t.phase = "waiting-approval"
	defer func() {
		t.pending = removeApproval(t.pending, id)
		t.phase = "running"
	}()
	if d, ok := t.approved[id]; ok {
		return d
	}
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	timer := workflow.NewTimer(tctx, timeout)
	ch := workflow.GetSignalChannel(ctx, agent.ApprovalSignal)
	for {
		var d agent.ApprovalDecision
		timedOut := false
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(ch, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &d) })
		sel.AddFuture(timer, func(workflow.Future) { timedOut = true })
		sel.Select(ctx)
		if timedOut {
			return agent.ApprovalDecision{ID: id, Reason: fmt.Sprintf("no approval within %s", timeout)}
		}
		if d.ID == id {
			return d
		}
		t.approved[d.ID] = d // for a later wait; unknown IDs are kept, harmlessly
	}
}

func removeApproval(list []agent.ApprovalRequest, id string) []agent.ApprovalRequest {
	out := list[:0]
	for _, r := range list {
		if r.ID != id {
			out = append(out, r)
		}
	}
	return out
}

// delegate runs the lead's delegation as a child agent task and returns its answer for the lead.
func (t *task) delegate(ctx workflow.Context, c agent.ToolCall) (string, error) {
	var args struct {
		Agent string `json:"agent"`
		Task  string `json:"task"`
	}
	if err := json.Unmarshal([]byte(c.Arguments), &args); err != nil || args.Task == "" {
		return `error: delegate wants {"agent": NAME, "task": TEXT}`, nil
	}
	if !contains(t.in.Team.Flow.Agents, args.Agent) {
		return fmt.Sprintf("error: %q is not one of your agents (%v)", args.Agent, t.in.Team.Flow.Agents), nil
	}
	t.s.Delegations++
	id := fmt.Sprintf("%s/%s-%d", workflow.GetInfo(ctx).WorkflowExecution.ID, args.Agent, t.s.Delegations)
	t.children = append(t.children, id)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: id})
	var res agent.TaskResult
	err := workflow.ExecuteChildWorkflow(cctx, agent.AgentTaskWorkflow, agent.TaskInput{
		Team: t.in.Team, Agent: args.Agent, Task: args.Task, Prior: t.s.DelegateUsage[args.Agent], Heartbeat: t.in.Heartbeat,
	}).Get(ctx, &res)
	if err != nil {
		return "", fmt.Errorf("delegation to %s: %w", args.Agent, err)
	}
	t.s.DelegateUsage[args.Agent] = t.s.DelegateUsage[args.Agent].Add(res.Used)
	for _, a := range sortedKeys(res.DelegateUsage) {
		t.s.DelegateUsage[a] = t.s.DelegateUsage[a].Add(res.DelegateUsage[a])
	}
	if res.Stopped != "" {
		return fmt.Sprintf("%s stopped (%s); its last words: %s", args.Agent, res.Stopped, res.Answer), nil
	}
	return res.Answer, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
