package audit

import (
	"context"
	"time"
)

// This file is the contract between the audit log and its writers (the gateway). Fields may be added; none may be
// removed or change meaning without updating every writer and Verify.

// Record is one event of the gateway: a decision on a call, the result of a forwarded call, or an approval.
type Record struct {
	Time      time.Time `json:"time"`
	Event     string    `json:"event"` // decision | result | approval
	RequestID string    `json:"requestId"`
	Caller    string    `json:"caller"`           // the authenticated agent, or "" when authentication failed
	Remote    string    `json:"remote,omitempty"` // client address
	Server    string    `json:"server,omitempty"`
	Tool      string    `json:"tool,omitempty"`
	Method    string    `json:"method,omitempty"` // JSON-RPC method or HTTP method
	Path      string    `json:"path,omitempty"`
	// ArgsDigest is "sha256:<hex>" of the arguments; the arguments themselves are never recorded.
	ArgsDigest string `json:"argsDigest,omitempty"`
	// Decision: allow | deny | replay (the recorded result of an earlier call with the same idempotency key, given
	// back without calling the tool) on a decision; approval | approved | rejected | expired on an approval.
	Decision   string  `json:"decision,omitempty"`
	Rule       string  `json:"rule,omitempty"`
	Reason     string  `json:"reason,omitempty"`
	Status     string  `json:"status,omitempty"` // result: ok | error | upstream-error | timeout
	DurationMS float64 `json:"durationMs,omitempty"`
	// Tokens counts model or tool tokens the result reported, for budgets.
	Tokens int64 `json:"tokens,omitempty"`
	// ApprovalID ties approval records to the call that waited.
	ApprovalID string `json:"approvalId,omitempty"`
	// IdempotencyKey is the Idempotency-Key the caller sent with the call, on every record of such a call.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
}

// Appender writes records durably: Append returns only once the record is on disk (or fails).
type Appender interface {
	Append(ctx context.Context, r Record) error
}
