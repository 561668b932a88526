package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agops/agops/internal/agent"
	"github.com/agops/agops/internal/agent/runs"
	"github.com/agops/agops/internal/audit"
	"github.com/agops/agops/internal/llmtest"
)

const researchTeam = `apiVersion: agops.dev/v1alpha1
kind: AgentTeam
metadata: {name: lab}
spec:
  models:
    m: {baseURL: MODEL_URL, model: scripted}
  agents:
    - name: researcher
      role: researches
      instructions: You are the researcher.
      tools: [tools/echo, tools/deploy]
    - name: writer
      role: writes
      instructions: You are the writer.
  flow:
    sequence: [researcher, writer]
  limits: {approvalTimeout: 30s}
`

var researchScript = llmtest.Script{
	{Agent: "You are the researcher", AfterTool: "tools__deploy", Content: "research done: {{last_tool}}"},
	{Agent: "You are the researcher", AfterTool: "tools__echo", ToolCalls: []llmtest.Call{{Name: "tools__deploy", Args: `{"text":"v2"}`}}},
	{Agent: "You are the researcher", ToolCalls: []llmtest.Call{{Name: "tools__echo", Args: `{"text":"hi"}`}}},
	{Agent: "You are the writer", Content: "report on: {{input}}"},
}

// TestRunWithGatewayApproval: a sequence of two agents; the researcher calls a tool, then one the gateway holds for a
// human; the run waits durably, the approval is given through the run, and the writer finishes.
func TestRunWithGatewayApproval(t *testing.T) {
	t.Parallel()
	l := newLab(t, researchScript)
	l.startWorker()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	id, err := runs.Start(ctx, l.client, l.team(researchTeam), "what changed?", runs.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pending := l.waitPending(ctx, id)
	if !strings.HasPrefix(pending.ID, "ap_") || pending.Tool != "deploy" || pending.Agent != "researcher" {
		t.Fatalf("pending approval %+v", pending)
	}
	if n := l.tools.runs("deploy"); n != 0 {
		t.Fatalf("deploy ran %d times before approval", n)
	}
	if err := runs.Approve(ctx, l.client, l.admin, id, pending.ID, true, "alice", ""); err != nil {
		t.Fatal(err)
	}
	res, err := runs.Result(ctx, l.client, id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Output, "report on:") || !strings.Contains(res.Output, "deployed v2") {
		t.Errorf("output %q", res.Output)
	}
	if l.tools.runs("deploy") != 1 || l.tools.runs("echo") != 1 {
		t.Errorf("tool runs: deploy %d, echo %d", l.tools.runs("deploy"), l.tools.runs("echo"))
	}
	if d := l.model.Duplicates(); d != 0 || l.model.Count() != 4 {
		t.Errorf("model calls %d, duplicates %d", l.model.Count(), d)
	}
	if u := res.Usage["researcher"]; u.ToolCalls != 2 || u.Turns != 3 || u.Tokens == 0 {
		t.Errorf("researcher usage %+v", u)
	}
	l.saveHistory(ctx, "sequence-run", id)
	l.saveHistory(ctx, "sequence-researcher-gateway-approval", id+"/researcher-1")
	l.saveHistory(ctx, "sequence-writer", id+"/writer-2")
	sum, err := audit.VerifyFile(l.audit)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("audit: %s", sum)
}

// waitPending polls the run until it waits for an approval.
func (l *lab) waitPending(ctx context.Context, id string) agent.ApprovalRequest {
	l.t.Helper()
	for {
		v, err := runs.Show(ctx, l.client, id)
		if err == nil && len(v.Pending) > 0 {
			return v.Pending[0]
		}
		select {
		case <-ctx.Done():
			l.t.Fatalf("run %s never waited for an approval (last: %v, %+v)", id, err, v)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
