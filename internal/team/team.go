// Package team owns the agent team spec (agops.dev/v1alpha1 AgentTeam): one YAML document naming a team's agents —
// each with a role, a model endpoint (any OpenAI-compatible server), instructions, the tools it may call through the
// governance gateway, a turn limit and a budget — how they work together (a sequence, parallel branches, or a lead
// agent that delegates), and the run's input and output.
//
// Data enters through Parse or Load, which validate the whole document (every problem at once, each with its field
// path and line). The format is documented in docs/team.md; the JSON schema is docs/team.schema.json.
package team

import "time"

// APIVersion and Kind identify an AgentTeam document.
const (
	APIVersion = "agops.dev/v1alpha1"
	Kind       = "AgentTeam"
)

// Team is a validated AgentTeam. Every reference in it resolves: agents name declared models, the flow names
// declared agents, the output names an agent that runs.
type Team struct {
	Name   string  // metadata.name, a DNS label
	Models []Model // spec.models, in document order
	Agents []Agent // spec.agents, in document order
	Flow   Flow    // spec.flow
	Input  Input   // spec.input
	Output Output  // spec.output
	Limits Limits  // spec.limits, defaults applied
}

// Model is an OpenAI-compatible chat completions endpoint.
type Model struct {
	Name    string // key agents refer to
	BaseURL string // e.g. http://ollama:11434/v1 (the client appends /chat/completions)
	Model   string // the model name the server knows, e.g. llama3.2:3b
	// APIKeyEnv names the environment variable holding the API key ("" = none). The key itself never appears in a
	// team file.
	APIKeyEnv   string
	Temperature *float64 // nil: the server's default
	MaxTokens   int      // per completion; 0: the server's default
}

// Agent is one member of the team.
type Agent struct {
	Name         string // a DNS label, unique in the team
	Role         string // one line shown to the other agents (a lead sees its delegates' roles)
	Model        string // a Model.Name
	Instructions string // the system prompt
	Tools        []Tool
	MaxTurns     int // model calls per task; default Limits.DefaultMaxTurns
	Budget       Budget
}

// Tool is a tool an agent may call, served through the gateway: MCP tool Name of tool server Server.
type Tool struct {
	Server string // a tool server the gateway knows (the policy's server name)
	Name   string // the MCP tool name
	// Approval makes every call wait for a human (`agops runs approve`), denied after ApprovalTimeout.
	Approval bool
}

// Budget bounds an agent's use within one run; 0 means unbounded.
type Budget struct {
	Tokens    int64 // prompt + completion tokens the model reports
	ToolCalls int
}

// FlowMode says how the agents work together.
type FlowMode string

const (
	// Sequence runs Flow.Agents in order; each gets the run's input and the previous agent's output.
	Sequence FlowMode = "sequence"
	// Parallel runs Flow.Agents at once on the run's input; Flow.Merge (if set) combines their outputs.
	Parallel FlowMode = "parallel"
	// Lead runs Flow.Lead, which may delegate tasks to Flow.Agents (a `delegate` tool) until it answers.
	Lead FlowMode = "lead"
)

// Flow is how the team works.
type Flow struct {
	Mode   FlowMode
	Agents []string // sequence order, parallel branches, or the lead's delegates
	Lead   string   // Lead mode: the lead agent
	Merge  string   // Parallel mode: the agent that combines the branches ("" = outputs joined)
}

// Input describes what a run is given.
type Input struct {
	Description string
	Required    bool
}

// Output says which agent's answer is the run's result ("" = the last agent to answer: the sequence's last, the
// merge agent, or the lead).
type Output struct {
	From string
}

// Limits keeps runs inside Temporal's limits and bounds waiting.
type Limits struct {
	DefaultMaxTurns int // default 10
	// ContinueAsNewTurns restarts the run's workflow (continue-as-new) after this many turns (default 50).
	ContinueAsNewTurns int
	// ContinueAsNewEvents restarts it when its history passes this many events (default 10,000).
	ContinueAsNewEvents int
	ApprovalTimeout     Duration // default 1h
	ModelTimeout        Duration // one model call, default 2m
	ToolTimeout         Duration // one tool call, default 5m
}

// Duration is a time.Duration written as a Go duration string ("90s", "1h30m").
type Duration time.Duration
