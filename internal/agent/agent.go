// Package agent holds what the parts of a durable agent run share: the inputs and results that cross the boundary
// between the workflows (internal/agent/workflows, deterministic orchestration), the activities
// (internal/agent/activities, every model and tool call) and the clients that start, query, signal and list runs
// (internal/agent/runs). It has no behaviour of its own besides small helpers on these types.
package agent

import (
	"time"

	"github.com/agops/agops/internal/team"
)

// TaskQueue is the Temporal task queue agops workers poll unless told otherwise.
const TaskQueue = "agops-agents"

// Names of the workflow types, activities, queries and signals.
const (
	TeamRunWorkflow   = "agops.TeamRun"
	AgentTaskWorkflow = "agops.AgentTask"

	ListToolsActivity = "agops.ListTools"
	ModelCallActivity = "agops.ModelCall"
	ToolCallActivity  = "agops.ToolCall"

	StatusQuery    = "status"
	ApprovalSignal = "approval"
)

// RunInput starts a team run.
type RunInput struct {
	Team  team.Team
	Input string
	// Heartbeat is the heartbeat timeout of model and tool calls: how soon a dead worker's call is retried
	// elsewhere (0: DefaultHeartbeat).
	Heartbeat time.Duration
}

// DefaultHeartbeat is the heartbeat timeout of model and tool calls.
const DefaultHeartbeat = 10 * time.Second

// RunResult is a finished run.
type RunResult struct {
	Output  string
	Outputs map[string]string // per agent task: its final answer
	Usage   map[string]Usage  // per agent
}

// Usage is what an agent consumed.
type Usage struct {
	Tokens    int64
	ToolCalls int
	Turns     int
}

// Add returns u plus v.
func (u Usage) Add(v Usage) Usage {
	return Usage{Tokens: u.Tokens + v.Tokens, ToolCalls: u.ToolCalls + v.ToolCalls, Turns: u.Turns + v.Turns}
}

// TaskInput runs one agent on one task until it answers, as its own workflow (AgentTaskWorkflow), restarted with
// continue-as-new when its history grows.
type TaskInput struct {
	Team      team.Team
	Agent     string
	Task      string // the user message the agent starts from
	Prior     Usage  // what the agent used earlier in the run (its budget spans the run)
	Heartbeat time.Duration
	// State is set when the task continues as new; nil at the start.
	State *TaskState
}

// TaskState is what an agent task carries across continue-as-new. The transcript itself lives in the transcript
// store under the task's workflow ID; the state says how far it goes.
type TaskState struct {
	Messages    int // messages in the transcript so far
	Used        Usage
	Generations int // how many times the task continued as new
	Tools       []ToolSpec
	Delegations int
	// DelegateUsage carries the lead's delegates' usage (Lead mode).
	DelegateUsage map[string]Usage
}

// TaskResult is an agent's answer to a task.
type TaskResult struct {
	Agent  string
	Answer string
	Used   Usage // this task's usage, delegations excluded
	// DelegateUsage is the usage of the agents this task delegated to (Lead mode), per agent.
	DelegateUsage map[string]Usage
	Stopped       string // "" when the agent answered; otherwise why it stopped (turn limit, budget)
}

// ToolSpec is a tool offered to the model: where it is served and its MCP description.
type ToolSpec struct {
	Func        string // the function name offered to the model ([a-zA-Z0-9_-], at most 64)
	Server      string
	Name        string
	Description string
	InputSchema []byte // JSON schema of the arguments
	Approval    bool   // the team spec asks a human before each call
}

// ListToolsInput asks the gateway which of an agent's tools exist, with their schemas.
type ListToolsInput struct {
	Agent string
	Tools []team.Tool
}

// ModelCallInput is one model call: the transcript up to Messages, plus the tools the agent may call.
type ModelCallInput struct {
	TranscriptKey string
	Messages      int // messages already in the transcript; the answer is stored after them
	// System and Task start the transcript when Messages is 0: the activity stores them as messages 0 and 1
	// before asking the model.
	System, Task string
	Model        team.Model
	Tools        []ToolSpec
}

// ModelCallResult is the model's answer, already stored in the transcript.
type ModelCallResult struct {
	Content      string
	ToolCalls    []ToolCall
	FinishReason string
	Tokens       int64 // as the server reported (prompt + completion)
}

// ToolCall is a tool call the model asked for.
type ToolCall struct {
	ID        string
	Name      string // "server__tool" as offered to the model, or "delegate"
	Arguments string // JSON object as the model wrote it
}

// ToolCallInput calls one tool through the gateway and stores the result in the transcript.
type ToolCallInput struct {
	TranscriptKey string
	Messages      int    // the tool's answer is stored as message number Messages (0-based)
	CallID        string // the model's tool call ID, echoed in the tool message
	Server        string
	Tool          string
	Arguments     string
	// Result, when set, is stored as the tool's answer without calling anything (a denial decided by the
	// workflow: not allowed, over budget, approval refused).
	Result *string
}

// ToolCallResult is what a tool said.
type ToolCallResult struct {
	Content string
	IsError bool
	// ApprovalID is set when the gateway holds the call for a human: nothing ran, and nothing was stored.
	ApprovalID      string
	ApprovalExpires time.Time
}

// ApprovalRequest is a call waiting for a human, as the status query shows it.
type ApprovalRequest struct {
	ID        string // the gateway's approval ID (ap_...) or the run's own (wf_...) for team-spec approvals
	Workflow  string // the agent task's workflow ID, where the decision is signalled
	Agent     string
	Server    string
	Tool      string
	Arguments string
	Since     time.Time
	Expires   time.Time
}

// ApprovalDecision is the payload of ApprovalSignal.
type ApprovalDecision struct {
	ID      string
	Approve bool
	By      string
	Reason  string
}

// Status answers StatusQuery, on a team run and on each agent task.
type Status struct {
	Team      string
	Agent     string // agent tasks only
	Phase     string // starting | running | waiting-approval | done | failed
	Running   []string
	Turns     int
	Usage     map[string]Usage
	Pending   []ApprovalRequest
	Tasks     []string // agent task workflow IDs started so far (team runs)
	LastReply string   // the latest assistant text, cut short
	Output    string
}
