package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agops/agops/internal/agent/runs"
	"github.com/agops/agops/internal/llmtest"
)

var flowScript = llmtest.Script{
	{Agent: "You are the lead", AfterTool: "delegate", Content: "final: {{last_tool}}"},
	{Agent: "You are the lead", ToolCalls: []llmtest.Call{
		{Name: "delegate", Args: `{"agent":"researcher","task":"find facts"}`},
		{Name: "delegate", Args: `{"agent":"writer","task":"write it up"}`},
	}},
	{Agent: "You are the researcher", AfterTool: "tools__echo", Content: "facts: {{last_tool}}"},
	{Agent: "You are the researcher", ToolCalls: []llmtest.Call{{Name: "tools__echo", Args: `{"text":"fact"}`}}},
	{Agent: "You are the writer", Content: "written: {{input}}"},
	{Agent: "You are the merger", Content: "merged: {{input}}"},
}

const flowAgents = `apiVersion: agops.dev/v1alpha1
kind: AgentTeam
metadata: {name: flows}
spec:
  models:
    m: {baseURL: MODEL_URL, model: scripted}
  agents:
    - {name: lead, role: leads, instructions: You are the lead.}
    - {name: researcher, role: finds facts, instructions: You are the researcher., tools: [tools/echo]}
    - {name: writer, role: writes, instructions: You are the writer.}
`

// TestLeadAndParallelFlows: a lead delegates to two agents (child workflows) and answers with what they said;
// parallel branches run at once and a merge agent combines them.
func TestLeadAndParallelFlows(t *testing.T) {
	t.Parallel()
	l := newLab(t, flowScript)
	l.startWorker()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	lead := l.team(flowAgents + "  flow:\n    lead: {agent: lead, delegates: [researcher, writer]}\n")
	id, err := runs.Start(ctx, l.client, lead, "report", runs.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := runs.Result(ctx, l.client, id)
	if err != nil {
		t.Fatal(err)
	}
	if res.Output != "final: written: write it up" {
		t.Errorf("lead output %q", res.Output)
	}
	if res.Usage["researcher"].ToolCalls != 1 || res.Usage["writer"].Turns != 1 || res.Usage["lead"].Turns != 2 {
		t.Errorf("usage %+v", res.Usage)
	}
	l.saveHistory(ctx, "lead-delegates", id+"/lead-1")

	par := l.team(strings.Replace(flowAgents, "- {name: lead, role: leads, instructions: You are the lead.}",
		"- {name: merger, role: merges, instructions: You are the merger.}", 1) +
		"  flow:\n    parallel: {agents: [researcher, writer], merge: merger}\n")
	id, err = runs.Start(ctx, l.client, par, "topic", runs.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err = runs.Result(ctx, l.client, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"merged: topic", "Agent researcher answered:\nfacts: echo: fact", "Agent writer answered:\nwritten: topic"} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("parallel output %q lacks %q", res.Output, want)
		}
	}
	l.saveHistory(ctx, "parallel-run", id)

	// Temporal's list (its visibility store) learns that a run closed a little after the run itself; runs.List
	// asks for the runs it still lists as running, so Result having returned is enough.
	list, err := runs.List(ctx, l.client, 10)
	if err != nil || len(list) != 2 {
		t.Fatalf("runs.List = %+v, %v", list, err)
	}
	for _, r := range list {
		if r.Team != "flows" || r.State != "Completed" || r.Closed.Before(r.Started) {
			t.Errorf("listed %+v", r)
		}
	}
	v, err := runs.Show(ctx, l.client, id)
	if err != nil || v.State != "Completed" || len(v.Tasks) != 3 || v.Status.Output != res.Output {
		t.Errorf("runs.Show = %+v, %v", v, err)
	}
	if _, err := runs.Show(ctx, l.client, "run-nope"); err == nil || !strings.Contains(err.Error(), "no run run-nope") {
		t.Errorf("show of an unknown run: %v", err)
	}
}
