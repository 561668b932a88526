package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/agops/agops/internal/agent/runs"
	"github.com/agops/agops/internal/llmtest"
)

const looperTeam = `apiVersion: agops.dev/v1alpha1
kind: AgentTeam
metadata: {name: looper}
spec:
  models:
    m: {baseURL: MODEL_URL, model: scripted}
  agents:
    - name: looper
      role: never stops
      instructions: You are the looper.
      tools: [tools/echo]
      maxTurns: 300
  flow:
    sequence: [looper]
  limits: {continueAsNewTurns: 25}
`

// TestLongRunContinuesAsNew: an agent that calls a tool on every turn runs 300 turns (600 activities). Its workflow
// continues as new every 25 turns, so no history grows past a few hundred events, and the transcript (outside the
// history) keeps every message.
func TestLongRunContinuesAsNew(t *testing.T) {
	t.Parallel()
	l := newLab(t, llmtest.Script{{Agent: "You are the looper", ToolCalls: []llmtest.Call{{Name: "tools__echo", Args: `{"text":"again"}`}}}})
	l.startWorker()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	id, err := runs.Start(ctx, l.client, l.team(looperTeam), "loop", runs.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := runs.Result(ctx, l.client, id)
	if err != nil {
		t.Fatal(err)
	}
	if u := res.Usage["looper"]; u.Turns != 300 || u.ToolCalls != 300 {
		t.Errorf("usage %+v", u)
	}
	task := id + "/looper-1"
	l.saveHistory(ctx, "continue-as-new-last-generation", task)
	resp, err := l.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowId = '%s'", task), PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	execs := resp.GetExecutions()
	if len(execs) != 12 { // 300 turns, a new run after every 25: 11 continued, 1 completed
		t.Errorf("%d runs of the agent task, want 12", len(execs))
	}
	longest := int64(0)
	for _, e := range execs {
		longest = max(longest, e.GetHistoryLength())
	}
	if longest == 0 || longest > 400 {
		t.Errorf("longest history %d events", longest)
	}
	if n := len(l.model.Requests()[l.model.Count()-1].Messages); n != 2+2*299 {
		t.Errorf("the last model call saw %d messages, want %d", n, 2+2*299)
	}
	t.Logf("300 turns in %d runs, longest history %d events", len(execs), longest)
}
