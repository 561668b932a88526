package runs

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"

	"github.com/agops/agops/internal/agent"
)

// historyReader turns one generation of one workflow's history into events.
type historyReader struct {
	wf        string
	agent     string
	out       []Event
	children  []string
	scheduled map[int64]*historypb.ActivityTaskScheduledEventAttributes
	attempts  map[int64]int32   // by scheduled event ID: the attempt that ended the activity
	tokens    int64             // tokens of this generation's model turns
	held      string            // the approval the last tool call was held for
	calls     map[string]string // the model's tool call IDs → the function it named
}

// historyEvents maps one generation of workflow wf's history to events, and lists the child workflows it started.
func historyEvents(wf string, h []*historypb.HistoryEvent) ([]Event, []string) {
	r := &historyReader{wf: wf, scheduled: map[int64]*historypb.ActivityTaskScheduledEventAttributes{},
		attempts: map[int64]int32{}, calls: map[string]string{}}
	for _, e := range h {
		r.event(e)
	}
	return r.out, r.children
}

func (r *historyReader) add(e *historypb.HistoryEvent, kind, summary string, detail ...string) {
	r.out = append(r.out, Event{Time: e.GetEventTime().AsTime(), Agent: r.agent, Workflow: r.wf, Kind: kind,
		Summary: summary, Detail: strings.Join(nonEmpty(detail), "\n")})
}

func (r *historyReader) event(e *historypb.HistoryEvent) {
	switch a := e.GetAttributes().(type) {
	case *historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes:
		r.started(e, a.WorkflowExecutionStartedEventAttributes)
	case *historypb.HistoryEvent_ActivityTaskScheduledEventAttributes:
		r.scheduled[e.GetEventId()] = a.ActivityTaskScheduledEventAttributes
	case *historypb.HistoryEvent_ActivityTaskStartedEventAttributes:
		r.activityStarted(e, a.ActivityTaskStartedEventAttributes)
	case *historypb.HistoryEvent_ActivityTaskCompletedEventAttributes:
		r.activityCompleted(e, a.ActivityTaskCompletedEventAttributes)
	case *historypb.HistoryEvent_ActivityTaskFailedEventAttributes:
		x := a.ActivityTaskFailedEventAttributes
		r.activityFailed(e, x.GetScheduledEventId(), x.GetFailure())
	case *historypb.HistoryEvent_ActivityTaskTimedOutEventAttributes:
		x := a.ActivityTaskTimedOutEventAttributes
		r.activityFailed(e, x.GetScheduledEventId(), x.GetFailure())
	case *historypb.HistoryEvent_TimerStartedEventAttributes:
		r.approvalWait(e, a.TimerStartedEventAttributes.GetStartToFireTimeout().AsDuration())
	case *historypb.HistoryEvent_TimerFiredEventAttributes:
		r.add(e, KindApproval, "no decision in time: the call is denied")
	case *historypb.HistoryEvent_WorkflowExecutionSignaledEventAttributes:
		r.signaled(e, a.WorkflowExecutionSignaledEventAttributes)
	case *historypb.HistoryEvent_StartChildWorkflowExecutionInitiatedEventAttributes:
		r.childStarted(e, a.StartChildWorkflowExecutionInitiatedEventAttributes)
	case *historypb.HistoryEvent_WorkflowExecutionCancelRequestedEventAttributes:
		x := a.WorkflowExecutionCancelRequestedEventAttributes
		r.add(e, KindCancelRequested, "cancel requested", field("by", x.GetIdentity()), field("cause", x.GetCause()))
	case *historypb.HistoryEvent_WorkflowExecutionContinuedAsNewEventAttributes:
		r.add(e, KindContinuedAsNew, "continues as new: its history grew long",
			field("next run", a.WorkflowExecutionContinuedAsNewEventAttributes.GetNewExecutionRunId()), r.tokenLine())
	default:
		r.childEnded(e)
		r.ended(e)
	}
}

func (r *historyReader) started(e *historypb.HistoryEvent, a *historypb.WorkflowExecutionStartedEventAttributes) {
	if a.GetWorkflowType().GetName() == agent.TeamRunWorkflow {
		var in struct {
			Team  struct{ Name string }
			Input string
		}
		decode(a.GetInput(), &in)
		r.add(e, KindStarted, fmt.Sprintf("run of team %s started", in.Team.Name), field("input", maskText(in.Input)))
		return
	}
	var in struct {
		Agent, Task string
		Prior       agent.Usage
		State       *agent.TaskState
	}
	decode(a.GetInput(), &in)
	r.agent = in.Agent
	if in.State != nil {
		r.add(e, KindStarted, fmt.Sprintf("%s continues its task (generation %d)", in.Agent, in.State.Generations+1),
			field("used so far", usageText(in.Prior.Add(in.State.Used))))
		return
	}
	r.add(e, KindStarted, in.Agent+" starts its task", field("task", maskText(in.Task)), field("used earlier in the run", usageText(in.Prior)))
}

// activityStarted reports a call that needed more than one attempt: the history keeps only the last attempt's
// start, with the failure of the one before (a worker that died shows as a heartbeat timeout).
func (r *historyReader) activityStarted(e *historypb.HistoryEvent, a *historypb.ActivityTaskStartedEventAttributes) {
	r.attempts[a.GetScheduledEventId()] = a.GetAttempt()
	if a.GetAttempt() <= 1 {
		return
	}
	what := activityName(r.scheduled[a.GetScheduledEventId()])
	r.add(e, KindRetry, fmt.Sprintf("%s tried again: attempt %d", what, a.GetAttempt()),
		field("after", failureText(a.GetLastFailure())), field("worker", a.GetIdentity()))
}

func (r *historyReader) activityFailed(e *historypb.HistoryEvent, scheduledID int64, f *failurepb.Failure) {
	what := activityName(r.scheduled[scheduledID])
	r.add(e, KindActivityFailed, fmt.Sprintf("%s failed after %d attempt(s)", what, max(r.attempts[scheduledID], 1)),
		field("failure", failureText(f)))
}

func (r *historyReader) activityCompleted(e *historypb.HistoryEvent, a *historypb.ActivityTaskCompletedEventAttributes) {
	s := r.scheduled[a.GetScheduledEventId()]
	retries := ""
	if n := r.attempts[a.GetScheduledEventId()]; n > 1 {
		retries = fmt.Sprintf("attempts: %d", n)
	}
	switch s.GetActivityType().GetName() {
	case agent.ModelCallActivity:
		var res agent.ModelCallResult
		decode(a.GetResult(), &res)
		r.tokens += res.Tokens
		for _, c := range res.ToolCalls {
			r.calls[c.ID] = c.Name
		}
		r.add(e, KindModelTurn, modelSummary(res), field("finish", res.FinishReason), field("reply", maskText(res.Content)),
			r.tokenLine(), retries)
	case agent.ToolCallActivity:
		var in agent.ToolCallInput
		var res agent.ToolCallResult
		decode(s.GetInput(), &in)
		decode(a.GetResult(), &res)
		r.toolCall(e, in, res, retries)
	case agent.ListToolsActivity:
		var tools []agent.ToolSpec
		decode(a.GetResult(), &tools)
		names := make([]string, len(tools))
		for i, t := range tools {
			names[i] = t.Server + "/" + t.Name
		}
		r.add(e, KindToolsListed, fmt.Sprintf("%d tool(s) available", len(tools)), field("tools", strings.Join(names, ", ")), retries)
	default:
		r.add(e, KindModelTurn, "activity "+s.GetActivityType().GetName()+" completed", retries)
	}
}

func modelSummary(res agent.ModelCallResult) string {
	if len(res.ToolCalls) == 0 {
		return fmt.Sprintf("model answers (%d tokens)", res.Tokens)
	}
	names := make([]string, len(res.ToolCalls))
	for i, c := range res.ToolCalls {
		names[i] = c.Name
	}
	return fmt.Sprintf("model asks for %s (%d tokens)", strings.Join(names, ", "), res.Tokens)
}

func (r *historyReader) tokenLine() string {
	if r.tokens == 0 {
		return ""
	}
	return fmt.Sprintf("tokens in this generation: %d", r.tokens)
}

// toolCall says what came of one tool call: allowed (the tool ran), denied (by the gateway, or decided by the
// workflow without calling anything), or held for a human's approval.
func (r *historyReader) toolCall(e *historypb.HistoryEvent, in agent.ToolCallInput, res agent.ToolCallResult, retries string) {
	target := in.Server + "/" + in.Tool
	args := field("arguments", maskArgs(in.Arguments))
	out := field("result", maskText(res.Content))
	switch {
	case in.Result != nil && r.calls[in.CallID] == "delegate":
		r.add(e, KindToolCall, "delegate: the delegate's answer is recorded", out, retries)
	case in.Result != nil:
		// Decided by the workflow: no such tool, the tool call budget, an approval refused or timed out.
		fn := cmp.Or(r.calls[in.CallID], in.Tool, "call "+in.CallID)
		r.add(e, KindToolCall, fn+": not called: "+cutRunes(maskText(*in.Result), 80), args, retries)
	case res.ApprovalID != "":
		r.held = res.ApprovalID
		r.add(e, KindToolCall, target+": held for approval "+res.ApprovalID, args, retries)
	case res.IsError && strings.HasPrefix(res.Content, "refused: "):
		r.add(e, KindToolCall, target+": denied by the gateway", args, out, retries)
	case res.IsError:
		r.add(e, KindToolCall, target+": allowed; the tool answered with an error", args, out, retries)
	default:
		r.add(e, KindToolCall, target+": allowed", args, out, retries)
	}
}

// approvalWait: an agent task's only timers are approval waits.
func (r *historyReader) approvalWait(e *historypb.HistoryEvent, timeout time.Duration) {
	what := "a call the team's spec gates"
	if r.held != "" {
		what, r.held = r.held, ""
	}
	r.add(e, KindApprovalWait, fmt.Sprintf("waits for a human to decide on %s (up to %s)", what, timeout))
}

func (r *historyReader) signaled(e *historypb.HistoryEvent, a *historypb.WorkflowExecutionSignaledEventAttributes) {
	if a.GetSignalName() != agent.ApprovalSignal {
		r.add(e, KindApproval, "signal "+a.GetSignalName()+" received", field("from", a.GetIdentity()))
		return
	}
	var d agent.ApprovalDecision
	decode(a.GetInput(), &d)
	verb := "rejected"
	if d.Approve {
		verb = "approved"
	}
	r.add(e, KindApproval, fmt.Sprintf("%s %s by %s", d.ID, verb, d.By), field("reason", maskText(d.Reason)), field("sent by", a.GetIdentity()))
}

func (r *historyReader) childStarted(e *historypb.HistoryEvent, a *historypb.StartChildWorkflowExecutionInitiatedEventAttributes) {
	var in struct{ Agent, Task string }
	decode(a.GetInput(), &in)
	r.children = append(r.children, a.GetWorkflowId())
	summary := "starts " + in.Agent + "'s task"
	if r.agent != "" {
		summary = "delegates to " + in.Agent
	}
	r.add(e, KindDelegation, summary, field("task", maskText(in.Task)), field("workflow", a.GetWorkflowId()))
}

// childEnded reports an agent task's end as its parent saw it.
func (r *historyReader) childEnded(e *historypb.HistoryEvent) {
	var wf, how string
	var f *failurepb.Failure
	switch a := e.GetAttributes().(type) {
	case *historypb.HistoryEvent_ChildWorkflowExecutionCompletedEventAttributes:
		var res agent.TaskResult
		decode(a.ChildWorkflowExecutionCompletedEventAttributes.GetResult(), &res)
		summary := res.Agent + " answered"
		if res.Stopped != "" {
			summary = res.Agent + " stopped: " + res.Stopped
		}
		r.add(e, KindTaskEnded, summary, field("answer", maskText(res.Answer)), field("used", usageText(res.Used)),
			field("workflow", a.ChildWorkflowExecutionCompletedEventAttributes.GetWorkflowExecution().GetWorkflowId()))
		return
	case *historypb.HistoryEvent_ChildWorkflowExecutionFailedEventAttributes:
		wf, how, f = a.ChildWorkflowExecutionFailedEventAttributes.GetWorkflowExecution().GetWorkflowId(), "failed", a.ChildWorkflowExecutionFailedEventAttributes.GetFailure()
	case *historypb.HistoryEvent_ChildWorkflowExecutionCanceledEventAttributes:
		wf, how = a.ChildWorkflowExecutionCanceledEventAttributes.GetWorkflowExecution().GetWorkflowId(), "was canceled"
	case *historypb.HistoryEvent_ChildWorkflowExecutionTerminatedEventAttributes:
		wf, how = a.ChildWorkflowExecutionTerminatedEventAttributes.GetWorkflowExecution().GetWorkflowId(), "was terminated"
	case *historypb.HistoryEvent_ChildWorkflowExecutionTimedOutEventAttributes:
		wf, how = a.ChildWorkflowExecutionTimedOutEventAttributes.GetWorkflowExecution().GetWorkflowId(), "timed out"
	case *historypb.HistoryEvent_StartChildWorkflowExecutionFailedEventAttributes:
		x := a.StartChildWorkflowExecutionFailedEventAttributes
		wf, how = x.GetWorkflowId(), "could not start: "+x.GetCause().String()
	default:
		return
	}
	r.add(e, KindTaskEnded, "agent task "+wf+" "+how, field("failure", failureText(f)))
}

// ended reports the end of this workflow's run.
func (r *historyReader) ended(e *historypb.HistoryEvent) {
	who := "the run"
	if r.agent != "" {
		who = r.agent + "'s task"
	}
	switch a := e.GetAttributes().(type) {
	case *historypb.HistoryEvent_WorkflowExecutionCompletedEventAttributes:
		var res struct {
			Answer, Output, Stopped string
			Used                    agent.Usage
			Usage                   map[string]agent.Usage
		}
		decode(a.WorkflowExecutionCompletedEventAttributes.GetResult(), &res)
		var usage []string
		for _, name := range sortedNames(res.Usage) {
			usage = append(usage, field(name, usageText(res.Usage[name])))
		}
		summary := who + " completed"
		if res.Stopped != "" {
			summary = who + " stopped: " + res.Stopped
		}
		r.add(e, KindEnded, summary, field("output", maskText(res.Output+res.Answer)), field("used", usageText(res.Used)), strings.Join(usage, "\n"))
	case *historypb.HistoryEvent_WorkflowExecutionFailedEventAttributes:
		r.add(e, KindEnded, who+" failed", field("failure", failureText(a.WorkflowExecutionFailedEventAttributes.GetFailure())))
	case *historypb.HistoryEvent_WorkflowExecutionCanceledEventAttributes:
		r.add(e, KindEnded, who+" was canceled")
	case *historypb.HistoryEvent_WorkflowExecutionTerminatedEventAttributes:
		x := a.WorkflowExecutionTerminatedEventAttributes
		r.add(e, KindEnded, who+" was terminated", field("reason", maskText(x.GetReason())), field("by", x.GetIdentity()))
	case *historypb.HistoryEvent_WorkflowExecutionTimedOutEventAttributes:
		r.add(e, KindEnded, who+" timed out")
	}
}

func activityName(s *historypb.ActivityTaskScheduledEventAttributes) string {
	return activityLabel(s.GetActivityType().GetName())
}

func activityLabel(name string) string {
	switch name {
	case agent.ModelCallActivity:
		return "model call"
	case agent.ToolCallActivity:
		return "tool call"
	case agent.ListToolsActivity:
		return "tool listing"
	}
	return "activity " + name
}

// failureText is a failure and its causes, one clause each; a timeout says which.
func failureText(f *failurepb.Failure) string {
	var parts []string
	for depth := 0; f != nil && depth < 5; depth, f = depth+1, f.GetCause() {
		msg := maskText(f.GetMessage())
		if ti := f.GetTimeoutFailureInfo(); ti != nil {
			switch ti.GetTimeoutType() {
			case enumspb.TIMEOUT_TYPE_HEARTBEAT:
				msg = "heartbeat timeout: the worker stopped heartbeating (it probably died)"
			case enumspb.TIMEOUT_TYPE_START_TO_CLOSE:
				msg = "start-to-close timeout: the call took longer than it may"
			default:
				msg = strings.ToLower(strings.ReplaceAll(enumspb.TimeoutType_name[int32(ti.GetTimeoutType())], "TIMEOUT_TYPE_", "")) + " timeout"
			}
		}
		// A wrapper's message often repeats its cause's: say each thing once.
		if msg != "" && !slices.ContainsFunc(parts, func(p string) bool { return strings.Contains(p, msg) }) {
			parts = append(parts, msg)
		}
	}
	return strings.Join(parts, ": ")
}

func usageText(u agent.Usage) string {
	if u == (agent.Usage{}) {
		return ""
	}
	return fmt.Sprintf("%d tokens, %d tool calls, %d turns", u.Tokens, u.ToolCalls, u.Turns)
}

// decode reads the first value of payloads with the default data converter; what does not decode stays zero.
func decode(p *commonpb.Payloads, into any) {
	if len(p.GetPayloads()) == 0 {
		return
	}
	_ = converter.GetDefaultDataConverter().FromPayload(p.GetPayloads()[0], into)
}

func field(name, value string) string {
	if value == "" {
		return ""
	}
	return name + ": " + value
}

func nonEmpty(lines []string) []string {
	out := lines[:0:0]
	for _, l := range lines {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
