package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agops/agops/internal/agent/runs"
	"github.com/agops/agops/internal/llmtest"
)

// TestApprovalSurvivesWorkerKill: the run waits for an approval the gateway holds; its only worker is killed while
// it waits; a new worker takes over, and the approval given afterwards is honoured.
func TestApprovalSurvivesWorkerKill(t *testing.T) {
	t.Parallel()
	l := newLab(t, researchScript)
	a := startAgops(t, "worker-a", l.workerArgs()...)
	a.waitLog("worker polling", time.Minute)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	id, err := runs.Start(ctx, l.client, l.team(researchTeam), "what changed?", runs.StartOptions{Heartbeat: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	pending := l.waitPending(ctx, id)
	a.kill()
	b := startAgops(t, "worker-b", l.workerArgs()...)
	b.waitLog("worker polling", time.Minute)
	if err := runs.Approve(ctx, l.client, l.admin, id, pending.ID, true, "alice", ""); err != nil {
		t.Fatal(err)
	}
	res, err := runs.Result(ctx, l.client, id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Output, "deployed v2") || l.tools.runs("deploy") != 1 {
		t.Errorf("output %q, deploy ran %d times", res.Output, l.tools.runs("deploy"))
	}
	if l.model.Duplicates() != 0 {
		t.Errorf("%d model calls repeated", l.model.Duplicates())
	}
}

const gatedTeam = `apiVersion: agops.dev/v1alpha1
kind: AgentTeam
metadata: {name: gated}
spec:
  models:
    m: {baseURL: MODEL_URL, model: scripted}
  agents:
    - name: researcher
      role: researches
      instructions: You are the researcher.
      tools:
        - tools/echo
        - tools/deploy
        - {server: tools, tool: note, approval: true}
  flow:
    sequence: [researcher]
  limits: {approvalTimeout: 2s}
`

// TestApprovalTimeoutAndRejection: a call the gateway holds gets no answer in time and is denied (the tool never
// runs); a call the team spec gates is rejected by a person and denied with the reason. The model sees both denials
// and the run still finishes.
func TestApprovalTimeoutAndRejection(t *testing.T) {
	t.Parallel()
	script := llmtest.Script{
		{Agent: "You are the researcher", AfterTool: "tools__note", Content: "finished: {{last_tool}}"},
		{Agent: "You are the researcher", AfterTool: "tools__deploy", ToolCalls: []llmtest.Call{{Name: "tools__note", Args: `{"text":"x"}`}}},
		{Agent: "You are the researcher", ToolCalls: []llmtest.Call{{Name: "tools__deploy", Args: `{"text":"v3"}`}}},
	}
	l := newLab(t, script)
	l.startWorker()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	id, err := runs.Start(ctx, l.client, l.team(gatedTeam), "go", runs.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The deploy approval times out by itself; then the run waits for the note's approval, which is the run's own.
	for {
		p := l.waitPending(ctx, id)
		if strings.HasPrefix(p.ID, "wf_") {
			if err := runs.Approve(ctx, l.client, nil, id, p.ID, false, "bob", "not today"); err != nil {
				t.Fatal(err)
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	res, err := runs.Result(ctx, l.client, id)
	if err != nil {
		t.Fatal(err)
	}
	l.saveHistory(ctx, "approval-timeout-and-rejection", id+"/researcher-1")
	if res.Output != "finished: denied: not today" {
		t.Errorf("output %q", res.Output)
	}
	if l.tools.runs("deploy") != 0 || l.tools.runs("note") != 0 {
		t.Errorf("denied tools ran: deploy %d, note %d", l.tools.runs("deploy"), l.tools.runs("note"))
	}
	msgs := l.model.Requests()
	last := msgs[len(msgs)-1].Messages
	var deployAnswer string
	for _, m := range last {
		if m.Role == "tool" && strings.Contains(m.Content, "approval") {
			deployAnswer = m.Content
		}
	}
	if !strings.Contains(deployAnswer, "denied: no approval within 2s") {
		t.Errorf("the model was told %q about the deploy", deployAnswer)
	}
}

// TestCancelWaitingRun cancels a run that waits for an approval: the run and its agent task end as cancelled.
func TestCancelWaitingRun(t *testing.T) {
	t.Parallel()
	l := newLab(t, researchScript)
	l.startWorker()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	id, err := runs.Start(ctx, l.client, l.team(researchTeam), "what changed?", runs.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l.waitPending(ctx, id)
	if err := runs.Cancel(ctx, l.client, id); err != nil {
		t.Fatal(err)
	}
	if _, err := runs.Result(ctx, l.client, id); err == nil {
		t.Fatal("a cancelled run returned a result")
	}
	for _, wid := range []string{id, id + "/researcher-1"} {
		d, err := l.client.DescribeWorkflowExecution(ctx, wid, "")
		if err != nil {
			t.Fatal(err)
		}
		if s := d.GetWorkflowExecutionInfo().GetStatus().String(); s != "Canceled" {
			t.Errorf("%s is %s", wid, s)
		}
	}
	if l.tools.runs("deploy") != 0 {
		t.Error("the held call ran")
	}
}
