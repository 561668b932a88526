package policy

import (
	"encoding/json"
	"time"
)

// This file is the contract between the policy engine and its users (the gateway, agops policy explain). Fields may
// be added; none may be removed or change meaning without updating every user.

// Call is one tool call as the gateway sees it, after authentication.
type Call struct {
	// Agent is the caller's identity: "namespace/name" of its Kubernetes ServiceAccount, or the name a static token
	// maps to.
	Agent string
	// Server is the name of the tool server (spec.servers[].name) the call is for.
	Server string
	// Tool is the MCP tool name of a tools/call; empty for a plain HTTP call.
	Tool string
	// Args is the JSON object of the MCP arguments (nil when there are none).
	Args json.RawMessage
	// Method and Path describe a plain HTTP call (empty for MCP). Method is as sent (GET, POST, ...; matched
	// case-sensitively); Path is the decoded URL path without query (net/http's URL.Path). A path that is not
	// absolute and clean ("..", "//", "/./") is denied.
	Method, Path string
}

// Verdict is what the policy says about a call.
type Verdict string

// The verdicts.
const (
	Allow   Verdict = "allow"
	Deny    Verdict = "deny"
	Approve Verdict = "approval" // allowed once a human approves it
)

// Pseudo-rules: the Decision.Rule of a call that no rule of the document decided.
const (
	// RuleDefaultDeny decides a call that no grant allows: unknown agent or server, no grant for the tool or route,
	// or no matching grant whose condition held.
	RuleDefaultDeny = "default-deny"
	// RuleInvalidCall decides a malformed call, before any grant is looked at: a tool name or HTTP path that is not
	// canonical, or arguments that are not a JSON object within the size and depth limits.
	RuleInvalidCall = "invalid-call"
)

// Decision is the policy's answer for one call, with the rule that decided it.
type Decision struct {
	Verdict Verdict
	// Rule names the rule that decided, as a path into the policy: "agents[ai-lab/agent-worker].grants[1]",
	// "teams[research].grants[0]", "rules[no-path-traversal]", or one of the pseudo-rules RuleDefaultDeny
	// ("default-deny", when nothing granted the call) and RuleInvalidCall ("invalid-call").
	Rule string
	// Reason is one line for the caller and the audit log; never includes argument values.
	Reason string
	// Limits that apply to the caller (zero: none). Set for every verdict once the agent is known to the policy.
	Limits Limits
	// ApprovalTimeout is how long an approval-gated call waits before it is denied (set only with Verdict Approve).
	ApprovalTimeout time.Duration
}

// Limits are an agent's (or its team's) rate limit and daily budgets. Zero means no limit. The policy only
// carries them; the gateway counts.
type Limits struct {
	CallsPerMinute int
	CallsPerDay    int64
	TokensPerDay   int64
}

// Server is a tool server the gateway fronts.
type Server struct {
	Name string
	// URL is the upstream: an MCP Streamable HTTP endpoint (http://tools:8811/mcp) or an HTTP base URL.
	URL string
	// Kind is "mcp" or "http".
	Kind string
	// Members make an MCP server an aggregate: one name, served by the gateway itself, for the tools of these MCP
	// servers (the servers Docker's MCP gateway ran behind its one endpoint). An aggregate has no URL, and grants
	// name its members: every call through it is judged as a call to the member that has the tool.
	Members []string
}

// Guidance is the behavioral guidance an agent gets: named, versioned text fragments, in order.
type Guidance struct {
	Agent     string
	Team      string
	Fragments []Fragment
}

// Fragment is one named piece of guidance (a rule, a system-prompt part).
type Fragment struct {
	Name    string
	Version int
	Text    string
}
