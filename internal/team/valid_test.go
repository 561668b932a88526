package team

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

// resolved says what is wrong with a team Parse returned: every reference must resolve, and the defaults must be
// filled in. "" when nothing is.
func resolved(t *Team) string {
	if len(t.Models) == 0 || len(t.Agents) == 0 || t.Name == "" {
		return "no name, models or agents"
	}
	for i := range t.Agents {
		a := &t.Agents[i]
		if t.ModelOf(a) == nil || a.MaxTurns < 1 {
			return fmt.Sprintf("agent %q: model %q, maxTurns %d", a.Name, a.Model, a.MaxTurns)
		}
		if got, ok := t.Agent(a.Name); !ok || got != a {
			return fmt.Sprintf("Agent(%q) finds another agent", a.Name)
		}
	}
	members := t.Members()
	for _, m := range members {
		if _, ok := t.Agent(m); !ok {
			return fmt.Sprintf("the flow names %q, which is not an agent", m)
		}
	}
	if len(members) != len(t.Agents) {
		return fmt.Sprintf("the flow runs %v, the team declares %d agents", members, len(t.Agents))
	}
	if out := t.OutputAgent(); (out != "" || t.Flow.Mode != Parallel || t.Flow.Merge != "") && !slices.Contains(members, out) {
		return fmt.Sprintf("the output agent %q is not in the flow %v", out, members)
	}
	l := t.Limits
	if l.DefaultMaxTurns < 1 || l.ContinueAsNewTurns < 1 || l.ContinueAsNewEvents < 100 ||
		l.ApprovalTimeout <= 0 || l.ModelTimeout <= 0 || l.ToolTimeout <= 0 {
		return fmt.Sprintf("limits %+v", l)
	}
	return ""
}

func TestParseValid(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/valid-*.yaml")
	files = append(files, exampleTeam)
	if len(files) < 5 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			if problem := resolved(mustLoad(t, f)); problem != "" {
				t.Error(problem)
			}
		})
	}
}

// TestExample checks the shipped example against what the example policy grants.
func TestExample(t *testing.T) {
	t.Parallel()
	team := mustLoad(t, exampleTeam)
	want := []Tool{
		{Server: "mcp-tools", Name: "echo"},
		{Server: "mcp-tools", Name: "get-sum"},
		{Server: "mcp-tools", Name: "trigger-long-running-operation"},
	}
	r, _ := team.Agent("researcher")
	if r == nil || !reflect.DeepEqual(r.Tools, want) {
		t.Errorf("researcher tools: got %+v, want %+v", r, want)
	}
	m := team.ModelOf(r)
	if m == nil || m.BaseURL != "http://ollama:11434/v1" || m.Model != "llama3.2:3b" || m.APIKeyEnv != "" {
		t.Errorf("model: got %+v", m)
	}
	if got := team.Members(); !reflect.DeepEqual(got, []string{"researcher", "writer"}) || team.OutputAgent() != "writer" {
		t.Errorf("flow: members %v, output %q", got, team.OutputAgent())
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	team := mustLoad(t, "testdata/valid-minimal.yaml")
	if team.Limits != DefaultLimits() {
		t.Errorf("limits: got %+v, want %+v", team.Limits, DefaultLimits())
	}
	want := Limits{DefaultMaxTurns: 10, ContinueAsNewTurns: 50, ContinueAsNewEvents: 10_000,
		ApprovalTimeout: Duration(time.Hour), ModelTimeout: Duration(2 * time.Minute), ToolTimeout: Duration(5 * time.Minute)}
	if DefaultLimits() != want {
		t.Errorf("DefaultLimits() = %+v, want %+v", DefaultLimits(), want)
	}
	a := team.Agents[0]
	if a.Model != "local" || a.MaxTurns != 10 || a.Budget != (Budget{}) || a.Tools != nil {
		t.Errorf("agent defaults: got %+v", a)
	}
	if m := team.Models[0]; m.Temperature != nil || m.MaxTokens != 0 || m.APIKeyEnv != "" {
		t.Errorf("model defaults: got %+v", m)
	}
	if team.Input != (Input{}) || team.Output != (Output{}) || team.OutputAgent() != "helper" {
		t.Errorf("input %+v, output %+v, output agent %q", team.Input, team.Output, team.OutputAgent())
	}
}

// TestParseLead checks every field of a full team.
func TestParseLead(t *testing.T) {
	t.Parallel()
	team := mustLoad(t, "testdata/valid-lead.yaml")
	zero := 0.0
	want := &Team{
		Name: "desk",
		Models: []Model{
			{Name: "small", BaseURL: "http://ollama:11434/v1", Model: "llama3.2:3b"},
			{Name: "large", BaseURL: "https://llm.example.com/v1", Model: "gpt-4o", APIKeyEnv: "OPENAI_API_KEY", Temperature: &zero, MaxTokens: 4096},
		},
		Agents: []Agent{
			{Name: "editor", Role: "Plans the work and delegates it", Model: "large",
				Instructions: "Split the request into tasks for your delegates, then answer.\n", MaxTurns: 20},
			{Name: "researcher", Role: "Looks things up", Model: "small", Instructions: "Look things up with your tools.",
				Tools: []Tool{
					{Server: "mcp-tools", Name: "echo"}, {Server: "mcp-tools", Name: "get-sum"},
					{Server: "mcp-tools", Name: "trigger-long-running-operation", Approval: true},
					{Server: "files.v2", Name: "read_file"},
				},
				MaxTurns: 5, Budget: Budget{Tokens: 50000, ToolCalls: 10}},
			{Name: "writer", Role: "Writes the answer", Model: "small", Instructions: "Write.", MaxTurns: 5},
		},
		Flow:  Flow{Mode: Lead, Lead: "editor", Agents: []string{"researcher", "writer"}},
		Input: Input{Description: "a request for the desk"},
		Limits: Limits{DefaultMaxTurns: 5, ContinueAsNewTurns: 1, ContinueAsNewEvents: 100,
			ApprovalTimeout: Duration(168 * time.Hour), ModelTimeout: Duration(time.Hour), ToolTimeout: Duration(90 * time.Second)},
	}
	if !reflect.DeepEqual(team, want) {
		t.Errorf("got\n%+v\nwant\n%+v", team, want)
	}
}

// TestParseAnchors: aliases and merge keys decode like the written-out document, explicit keys winning.
func TestParseAnchors(t *testing.T) {
	t.Parallel()
	team := mustLoad(t, "testdata/valid-anchors.yaml")
	if len(team.Models) != 2 || team.Models[1].Name != "tuned" || team.Models[1].BaseURL != "http://ollama:11434/v1" ||
		team.Models[1].Temperature == nil || *team.Models[1].Temperature != 1.5 {
		t.Errorf("models: %+v", team.Models)
	}
	first, second := team.Agents[0], team.Agents[1]
	if second.Name != "second" || second.Role != "Goes second" || second.Model != "tuned" ||
		second.Instructions != "Start." || second.Budget.Tokens != 1000 || !reflect.DeepEqual(first.Tools, second.Tools) {
		t.Errorf("agents: %+v", team.Agents)
	}
}
