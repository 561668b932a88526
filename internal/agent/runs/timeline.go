package runs

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/client"
)

// Event is one step of a run's timeline, for a person: what happened, when, in which agent's task.
type Event struct {
	Time     time.Time
	Agent    string // the agent whose task it is; empty for the team run itself
	Workflow string // the workflow ID it was read from (the run's, or one of its agent tasks')
	Kind     string // one of the Kind constants
	Summary  string // one line
	// Detail is more, one "name: value" per line. Arguments show short cuts of their values, with anything that
	// looks like a credential masked; texts (answers, tool results) are cut short and masked the same way.
	Detail string
}

// The kinds of Event.
const (
	KindStarted         = "started"          // the run or an agent task (or a new generation of one) started
	KindToolsListed     = "tools-listed"     // the gateway said which of the agent's tools exist
	KindModelTurn       = "model-turn"       // one model call, with the tokens it used
	KindToolCall        = "tool-call"        // one tool call and what came of it: allowed, denied, held for approval
	KindApprovalWait    = "approval-wait"    // the task waits for a human's decision
	KindApproval        = "approval"         // a decision arrived, or the wait timed out (a denial)
	KindRetry           = "retry"            // a model or tool call was tried again, with the failure that caused it
	KindActivityFailed  = "activity-failed"  // a model or tool call failed for good
	KindDelegation      = "delegation"       // an agent task started as a child workflow (a step of the flow, or a lead's delegation)
	KindTaskEnded       = "task-ended"       // an agent task ended, as its parent saw it
	KindContinuedAsNew  = "continued-as-new" // the workflow continued as new (its history grew long)
	KindCancelRequested = "cancel-requested" // someone asked for the run to be canceled
	KindEnded           = "ended"            // the run or an agent task ended: completed, failed, canceled, terminated, timed out
)

// Bounds on what Timeline reads, so that a pathological run cannot make it read forever.
const (
	maxWorkflows   = 200
	maxGenerations = 100
)

// Timeline reads the Temporal histories of run id and of every agent task it started (delegations included, and
// every generation of a task that continued as new) and returns what happened, oldest first. Calls still being
// retried (a worker that died mid-call) show from the server's pending activities.
func Timeline(ctx context.Context, c client.Client, id string) ([]Event, error) {
	var out []Event
	queue, seen := []string{id}, map[string]bool{}
	for len(queue) > 0 && len(seen) < maxWorkflows {
		wf := queue[0]
		queue = queue[1:]
		if seen[wf] {
			continue
		}
		seen[wf] = true
		events, children, err := workflowTimeline(ctx, c, wf)
		var nf *serviceerror.NotFound
		switch {
		case err != nil && wf == id:
			return nil, notFound(id, err)
		case errors.As(err, &nf):
			continue // a child not started yet
		case err != nil:
			out = append(out, Event{Time: time.Now(), Workflow: wf, Kind: KindEnded, Summary: "the history of this agent task could not be read", Detail: "error: " + err.Error()})
			continue
		}
		out = append(out, events...)
		queue = append(queue, children...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// workflowTimeline reads every generation of one workflow, oldest first, and the pending activities of a running
// one.
func workflowTimeline(ctx context.Context, c client.Client, wf string) ([]Event, []string, error) {
	var gens [][]*historypb.HistoryEvent
	for runID := ""; len(gens) < maxGenerations; {
		h, err := history(ctx, c, wf, runID)
		if err != nil {
			return nil, nil, err
		}
		gens = append(gens, h)
		if len(h) == 0 {
			break
		}
		if runID = h[0].GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId(); runID == "" {
			break
		}
	}
	var out []Event
	var children []string
	for i := len(gens) - 1; i >= 0; i-- {
		ev, ch := historyEvents(wf, gens[i])
		out, children = append(out, ev...), append(children, ch...)
	}
	if d, err := c.DescribeWorkflowExecution(ctx, wf, ""); err == nil {
		out = append(out, pendingEvents(wf, agentOf(out), d.GetPendingActivities())...)
	}
	return out, children, nil
}

func history(ctx context.Context, c client.Client, wf, runID string) ([]*historypb.HistoryEvent, error) {
	it := c.GetWorkflowHistory(ctx, wf, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var out []*historypb.HistoryEvent
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func agentOf(events []Event) string {
	for _, e := range events {
		if e.Agent != "" {
			return e.Agent
		}
	}
	return ""
}

// TemporalUILink is the address of a run (or agent task) in Temporal's web UI at base (for example
// http://localhost:8233), in namespace ("" for default); "" when no UI is configured.
func TemporalUILink(base, namespace, workflowID string) string {
	if base == "" {
		return ""
	}
	if namespace == "" {
		namespace = "default"
	}
	return strings.TrimRight(base, "/") + "/namespaces/" + url.PathEscape(namespace) + "/workflows/" + url.PathEscape(workflowID)
}

// pendingEvents reports the calls a running workflow is retrying now (their restarts are not in the history
// until they end).
func pendingEvents(wf, agentName string, pending []*workflowpb.PendingActivityInfo) []Event {
	var out []Event
	for _, p := range pending {
		if p.GetAttempt() <= 1 {
			continue
		}
		t := time.Now()
		if p.GetLastStartedTime() != nil {
			t = p.GetLastStartedTime().AsTime()
		}
		out = append(out, Event{Time: t, Agent: agentName, Workflow: wf, Kind: KindRetry,
			Summary: fmt.Sprintf("%s being retried: attempt %d (%s)", activityLabel(p.GetActivityType().GetName()), p.GetAttempt(), strings.ToLower(strings.TrimPrefix(enumspb.PendingActivityState_name[int32(p.GetState())], "PENDING_ACTIVITY_STATE_"))),
			Detail:  strings.Join(nonEmpty([]string{field("after", failureText(p.GetLastFailure())), field("worker", p.GetLastWorkerIdentity())}), "\n")})
	}
	return out
}
