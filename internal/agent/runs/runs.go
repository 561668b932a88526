// Package runs is the client side of durable agent runs: start a team run, follow it, list, show, approve and cancel
// runs, and read one run's timeline from its histories (timeline.go). It talks to Temporal only (and, for approvals the
// gateway holds, to the gateway's admin API); the CLI verbs `agops run` and `agops runs` are thin wrappers around it.
package runs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/agops/agops/internal/agent"
	"github.com/agops/agops/internal/gateway"
	"github.com/agops/agops/internal/team"
)

// StartOptions tune a run.
type StartOptions struct {
	ID        string        // workflow ID (default: run-TEAM-RANDOM)
	TaskQueue string        // default agent.TaskQueue
	Heartbeat time.Duration // heartbeat timeout of model and tool calls (default agent.DefaultHeartbeat)
}

// Start starts a run of tm on input and returns its ID.
func Start(ctx context.Context, c client.Client, tm *team.Team, input string, o StartOptions) (string, error) {
	if err := tm.CheckInput(input); err != nil {
		return "", err
	}
	if o.ID == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		o.ID = fmt.Sprintf("run-%s-%s", tm.Name, hex.EncodeToString(b[:]))
	}
	if o.TaskQueue == "" {
		o.TaskQueue = agent.TaskQueue
	}
	_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: o.ID, TaskQueue: o.TaskQueue, Memo: map[string]any{"team": tm.Name},
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, agent.TeamRunWorkflow, agent.RunInput{Team: *tm, Input: input, Heartbeat: o.Heartbeat})
	if err != nil {
		return "", fmt.Errorf("starting the run: %w", err)
	}
	return o.ID, nil
}

// Result waits for run id to end and returns its result.
func Result(ctx context.Context, c client.Client, id string) (agent.RunResult, error) {
	var res agent.RunResult
	err := c.GetWorkflow(ctx, id, "").Get(ctx, &res)
	return res, err
}

// View is a run and its agent tasks as they are now.
type View struct {
	ID      string
	State   string // Running, Completed, Failed, Canceled, Terminated, ContinuedAsNew, TimedOut
	Team    string
	Started time.Time
	Closed  time.Time
	Status  agent.Status   // the run's own status query (zero when it could not be asked)
	Tasks   []agent.Status // each agent task's status, in start order (delegations after their lead)
	Pending []agent.ApprovalRequest
}

// Show describes run id: its state, its agent tasks and the approvals they wait for.
func Show(ctx context.Context, c client.Client, id string) (View, error) {
	d, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return View{}, notFound(id, err)
	}
	info := d.GetWorkflowExecutionInfo()
	v := View{ID: id, State: stateName(info.GetStatus()), Started: info.GetStartTime().AsTime()}
	if info.GetCloseTime() != nil {
		v.Closed = info.GetCloseTime().AsTime()
	}
	if err := query(ctx, c, id, &v.Status); err != nil && v.State == "Running" {
		return v, err
	}
	v.Team = v.Status.Team
	queue := append([]string(nil), v.Status.Tasks...)
	for len(queue) > 0 {
		var st agent.Status
		id := queue[0]
		queue = queue[1:]
		if err := query(ctx, c, id, &st); err != nil {
			continue // not started yet, or gone
		}
		v.Tasks = append(v.Tasks, st)
		v.Pending = append(v.Pending, st.Pending...)
		queue = append(queue, st.Tasks...)
	}
	return v, nil
}

func query(ctx context.Context, c client.Client, id string, into *agent.Status) error {
	val, err := c.QueryWorkflow(ctx, id, "", agent.StatusQuery)
	if err != nil {
		return err
	}
	return val.Get(into)
}

func stateName(s enumspb.WorkflowExecutionStatus) string {
	switch s {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return "Running"
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return "Completed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		return "Failed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "Canceled"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return "Terminated"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return "ContinuedAsNew"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "TimedOut"
	}
	return "Unknown"
}

func notFound(id string, err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("no run %s", id)
	}
	return err
}

// confirmRunning asks Temporal for run runID of s itself, which is consistent where its list may lag, and updates
// s if the run has ended. If it cannot ask, s stays as listed.
func confirmRunning(ctx context.Context, c client.Client, runID string, s *Summary) {
	d, err := c.DescribeWorkflowExecution(ctx, s.ID, runID)
	if err != nil {
		return
	}
	info := d.GetWorkflowExecutionInfo()
	if st := info.GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING && st != enumspb.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED {
		s.State = stateName(st)
		if info.GetCloseTime() != nil {
			s.Closed = info.GetCloseTime().AsTime()
		}
	}
}

// Summary is one line of List.
type Summary struct {
	ID      string
	Team    string
	State   string
	Started time.Time
	Closed  time.Time
}

// List returns the most recent runs, newest first. Temporal's list (its visibility store) learns of a run's end a
// little after the run itself, so a run it still lists as running is asked directly, once: a run whose Result has
// returned is never listed as running.
func List(ctx context.Context, c client.Client, limit int) ([]Summary, error) {
	var out []Summary
	var token []byte
	for len(out) < limit {
		resp, err := c.ListWorkflow(ctx, &workflowListRequest{Query: fmt.Sprintf("WorkflowType = '%s'", agent.TeamRunWorkflow),
			NextPageToken: token, PageSize: int32(min(limit, 100))})
		if err != nil {
			return nil, fmt.Errorf("listing runs: %w", err)
		}
		for _, e := range resp.GetExecutions() {
			s := Summary{ID: e.GetExecution().GetWorkflowId(), State: stateName(e.GetStatus()), Started: e.GetStartTime().AsTime()}
			if e.GetCloseTime() != nil {
				s.Closed = e.GetCloseTime().AsTime()
			}
			if e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				confirmRunning(ctx, c, e.GetExecution().GetRunId(), &s)
			}
			if f, ok := e.GetMemo().GetFields()["team"]; ok {
				_ = converterDefault.FromPayload(f, &s.Team)
			}
			out = append(out, s)
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	return out[:min(len(out), limit)], nil
}

// Approve decides approval approvalID of run id, in the name of by. An approval the gateway holds (ap_…) is decided
// there first, so that its audit log names the human; then the waiting agent task is signalled.
func Approve(ctx context.Context, c client.Client, admin *gateway.AdminClient, id, approvalID string, approve bool, by, reason string) error {
	v, err := Show(ctx, c, id)
	if err != nil {
		return err
	}
	var req *agent.ApprovalRequest
	for i := range v.Pending {
		if v.Pending[i].ID == approvalID {
			req = &v.Pending[i]
		}
	}
	if req == nil {
		return fmt.Errorf("run %s waits for no approval %s (pending: %s)", id, approvalID, pendingIDs(v.Pending))
	}
	if strings.HasPrefix(approvalID, "ap_") {
		if admin == nil {
			return fmt.Errorf("approval %s is held by the gateway: give its admin address", approvalID)
		}
		if _, err := admin.Decide(ctx, approvalID, approve, by); err != nil {
			return fmt.Errorf("deciding %s at the gateway: %w", approvalID, err)
		}
	}
	if reason == "" && !approve {
		reason = "rejected by " + by
	}
	return c.SignalWorkflow(ctx, req.Workflow, "", agent.ApprovalSignal,
		agent.ApprovalDecision{ID: approvalID, Approve: approve, By: by, Reason: reason})
}

func pendingIDs(ps []agent.ApprovalRequest) string {
	if len(ps) == 0 {
		return "none"
	}
	var ids []string
	for _, p := range ps {
		ids = append(ids, p.ID)
	}
	return strings.Join(ids, ", ")
}

// Cancel asks run id to stop; its agent tasks are cancelled with it.
func Cancel(ctx context.Context, c client.Client, id string) error {
	return notFound(id, c.CancelWorkflow(ctx, id, ""))
}
