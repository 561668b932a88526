package gateway

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// This file is what a client sees of the gateway besides MCP itself: the request headers it reads and the data of
// its JSON-RPC errors. docs/gateway.md describes the same contract for clients in other languages.

// Request headers the gateway reads on a tools/call (and on a plain HTTP call). Neither is forwarded.
const (
	// HeaderIdempotencyKey makes the call's side effect happen at most once per key: a retry with the same key gets
	// the recorded result (see docs/gateway.md). The value is 1 to 200 printable ASCII characters.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderApproval set to ApprovalNoWait asks the gateway not to hold an approval-gated call: it answers at once
	// with RuleApprovalPending, and an identical call made after the decision proceeds (or is refused).
	HeaderApproval = "X-Agops-Approval"
	// ApprovalNoWait is the one value of HeaderApproval.
	ApprovalNoWait = "nowait"
)

// Rules a client may branch on; every refusal names its rule in ErrorData.Rule.
const (
	// RuleApprovalPending (code CodeApproval): the call waits for a human; ErrorData.ApprovalID names the approval.
	RuleApprovalPending = "approval:pending"
	// RuleIdempotencyKey (code -32600, HTTP 400): the Idempotency-Key header is malformed.
	RuleIdempotencyKey = "gateway:idempotency-key"
	// RuleIdempotencyUnavailable (CodeIdempotency): the gateway keeps no idempotency keys (no Options.IdempotencyDir).
	RuleIdempotencyUnavailable = "gateway:idempotency-unavailable"
	// RuleIdempotencyMismatch (CodeIdempotency): the key was used for another tool or other arguments.
	RuleIdempotencyMismatch = "gateway:idempotency-mismatch"
	// RuleIdempotencyUnknown (CodeIdempotency): the outcome of the earlier call with the key is unknown (the gateway
	// restarted during it, or the tool server's answer was lost); it is not repeated. A human has to look.
	RuleIdempotencyUnknown = "gateway:idempotency-unknown"
	// RuleIdempotencyInFlight (CodeIdempotency): the earlier call with the key is still running; ask again later.
	RuleIdempotencyInFlight = "gateway:idempotency-in-flight"
	// RuleIdempotencyTooLarge (CodeIdempotency): the earlier call ran, but its result was over the size limit and
	// was not kept.
	RuleIdempotencyTooLarge = "gateway:idempotency-too-large"
)

// ErrorData is the data member of every JSON-RPC error the gateway answers with.
type ErrorData struct {
	Rule      string `json:"rule,omitempty"`
	Reason    string `json:"reason,omitempty"`
	RequestID string `json:"requestId,omitempty"` // the gateway's ID of the request, as in the audit log
	// ApprovalID and Expires come with RuleApprovalPending: the approval the call waits for, and when it expires.
	ApprovalID string    `json:"approvalId,omitempty"`
	Expires    time.Time `json:"expires,omitzero"`
}

// ErrorDataOf finds the JSON-RPC error in err's chain, as the MCP go-sdk client returns it (a *jsonrpc.Error), and
// returns its code and the gateway's data. ok is false when there is no JSON-RPC error or its data is not the
// gateway's.
func ErrorDataOf(err error) (code int64, data ErrorData, ok bool) {
	var we *jsonrpc.Error
	if !errors.As(err, &we) || len(we.Data) == 0 {
		return 0, ErrorData{}, false
	}
	if json.Unmarshal(we.Data, &data) != nil || data.Rule == "" {
		return we.Code, ErrorData{}, false
	}
	return we.Code, data, true
}

// PendingApproval reports whether err is the gateway's answer to a call sent with HeaderApproval: ApprovalNoWait
// that now waits for a human, and returns the ID of the approval (what `agops approve ID` and POST /approvals/{id}
// take). err is what the MCP go-sdk client's CallTool returns.
func PendingApproval(err error) (id string, ok bool) {
	code, data, found := ErrorDataOf(err)
	if !found || code != CodeApproval || data.Rule != RuleApprovalPending || data.ApprovalID == "" {
		return "", false
	}
	return data.ApprovalID, true
}
