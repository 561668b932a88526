package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The JSON-RPC error codes the gateway answers with, besides the standard ones (-32700, -32600, -32603). They lie in
// the implementation-defined range -32000..-32099 and avoid the codes the MCP go-sdk gives a meaning of its own
// (-32002..-32005: resource not found, client or server closing, rejected by transport; -32020..-32022; -32042): a
// client must not mistake a denial for a closed connection.
const (
	// CodeDenied: the policy (or a gateway rule) denied the call.
	CodeDenied = -32001
	// CodeLimited: a rate limit or a daily budget is exhausted.
	CodeLimited = -32010
	// CodeApproval: the call needed an approval that was rejected, expired, abandoned or already used.
	CodeApproval = -32011
	// CodeUnauthenticated: no or an invalid bearer token (HTTP 401).
	CodeUnauthenticated = -32012
	// CodeTooLarge: the request body is over the limit (HTTP 413).
	CodeTooLarge = -32013
	// CodeSlowClient: the request body did not arrive in time (HTTP 408).
	CodeSlowClient = -32014
	// CodeUpstream: the tool server could not be reached or answered badly (HTTP 502).
	CodeUpstream = -32015
	// CodeIdempotency: an Idempotency-Key cannot be honoured: used for another call, outcome of the earlier call
	// unknown, still running, result not kept, or no key store.
	CodeIdempotency = -32016

	codeParseError     = -32700
	codeInvalidRequest = -32600
	codeInternal       = -32603
)

// rpcError is a denial or failure: the JSON-RPC error, the HTTP status it travels with, and the rule for the audit.
type rpcError struct {
	Status  int
	Code    int
	Rule    string
	Reason  string
	Message string
	// ApprovalID and Expires describe the approval a call waits for (approval:pending).
	ApprovalID string
	Expires    time.Time
}

func (e *rpcError) Error() string { return e.Message }

func newRPCError(status, code int, rule, reason string) *rpcError {
	msg := reason
	if rule != "" {
		msg = fmt.Sprintf("denied by %s: %s", rule, reason)
	}
	return &rpcError{Status: status, Code: code, Rule: rule, Reason: reason, Message: msg}
}

// writeRPCError answers with a JSON-RPC error; id is the raw request id or nil.
func writeRPCError(w http.ResponseWriter, id json.RawMessage, e *rpcError, requestID string) {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	body := struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   struct {
			Code    int       `json:"code"`
			Message string    `json:"message"`
			Data    ErrorData `json:"data"`
		} `json:"error"`
	}{JSONRPC: "2.0", ID: id}
	body.Error.Code, body.Error.Message = e.Code, e.Message
	body.Error.Data = ErrorData{Rule: e.Rule, Reason: e.Reason, RequestID: requestID, ApprovalID: e.ApprovalID,
		Expires: e.Expires}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Del("Content-Length")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(body)
}

// message is one JSON-RPC message as the gateway reads it.
type message struct {
	ID       json.RawMessage // nil for a notification
	Method   string          // "" for a response
	Params   json.RawMessage
	Response bool
	// Canonical is the message in canonical form: what the policy judges and the tool server gets.
	Canonical []byte
}

// toolCall is the params of a tools/call.
type toolCall struct {
	Name string
	Args json.RawMessage // nil when absent
}

var topLevelMembers = map[string]bool{"jsonrpc": true, "id": true, "method": true, "params": true, "result": true, "error": true}

func parseError(reason string) *rpcError {
	return newRPCError(http.StatusBadRequest, codeParseError, "gateway:parse-error", reason)
}

func invalidRequest(reason string) *rpcError {
	return newRPCError(http.StatusBadRequest, codeInvalidRequest, "gateway:invalid-request", reason)
}

// parseMessage reads one JSON-RPC message strictly and returns it with its canonical form (see canonicalize), which
// is what the gateway judges and forwards; see the package doc for what strict means.
func parseMessage(body []byte) (message, *rpcError) {
	var m message
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return m, parseError("empty body")
	}
	if !utf8.Valid(body) {
		return m, parseError("body is not UTF-8")
	}
	canon, err := canonicalize(body)
	if err != nil {
		if errors.Is(err, errSyntax) {
			return m, parseError("malformed JSON")
		}
		return m, invalidRequest(err.Error())
	}
	body, m.Canonical = canon, canon
	switch body[0] {
	case '[':
		return m, invalidRequest("JSON-RPC batches are not accepted; send one message per request")
	case '{':
	default:
		return m, invalidRequest("a JSON-RPC message must be an object")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return m, parseError("malformed JSON")
	}
	for k := range top {
		if !topLevelMembers[k] {
			return m, invalidRequest(fmt.Sprintf("unknown member %q", k))
		}
	}
	if string(top["jsonrpc"]) != `"2.0"` {
		return m, invalidRequest(`jsonrpc must be "2.0"`)
	}
	if id, ok := top["id"]; ok {
		if !validID(id) {
			return m, invalidRequest("id must be a string or a number")
		}
		m.ID = id
	}
	raw, isRequest := top["method"]
	_, hasResult := top["result"]
	_, hasError := top["error"]
	if !isRequest {
		if m.ID == nil || hasResult == hasError {
			return m, invalidRequest("a response needs an id and exactly one of result and error")
		}
		m.Response = true
		return m, nil
	}
	if hasResult || hasError {
		return m, invalidRequest("a request cannot carry result or error")
	}
	if err := json.Unmarshal(raw, &m.Method); err != nil || m.Method == "" {
		return m, invalidRequest("method must be a non-empty string")
	}
	m.Params = top["params"]
	if isNotification := strings.HasPrefix(m.Method, "notifications/"); isNotification != (m.ID == nil) {
		return m, invalidRequest("only notifications/* may omit the id, and they must")
	}
	return m, nil
}

func validID(id json.RawMessage) bool {
	if len(id) == 0 {
		return false
	}
	switch c := id[0]; {
	case c == '"':
		return true
	case c == '-' || (c >= '0' && c <= '9'):
		return true
	}
	return false
}

// parseToolCall reads the params of a tools/call: an object with an exact "name" and an optional object "arguments".
func parseToolCall(params json.RawMessage) (toolCall, *rpcError) {
	var tc toolCall
	var p map[string]json.RawMessage
	if len(params) == 0 || params[0] != '{' || json.Unmarshal(params, &p) != nil {
		return tc, invalidRequest("tools/call params must be an object")
	}
	for k := range p {
		for _, want := range []string{"name", "arguments", "_meta"} {
			if k != want && foldKey(k) == foldKey(want) {
				return tc, invalidRequest(fmt.Sprintf("params member %q is ambiguous with %q", k, want))
			}
		}
	}
	if err := json.Unmarshal(p["name"], &tc.Name); err != nil || tc.Name == "" || p["name"][0] != '"' {
		return tc, invalidRequest("tools/call needs a string name")
	}
	if args, ok := p["arguments"]; ok && string(args) != "null" {
		if args[0] != '{' {
			return tc, invalidRequest("tools/call arguments must be an object")
		}
		tc.Args = args
	}
	return tc, nil
}

// foldKey maps s to a form shared by every string equal to it under simple Unicode case folding (the folding
// strings.EqualFold and encoding/json use, which also maps the Kelvin sign to k and the long s to s).
func foldKey(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		// The smallest member of an ASCII letter's orbit is its upper case; other members are not ASCII.
		return strings.ToUpper(s)
	}
	var b strings.Builder
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}
