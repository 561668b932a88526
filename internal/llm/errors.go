package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrResponseTooLarge is wrapped by the error Chat returns when the server's answer exceeds the body limit.
var ErrResponseTooLarge = errors.New("response body too large")

// APIError is an error answer from the server: a non-2xx status, or a 200 carrying an error and no choices.
type APIError struct {
	Status    int    // HTTP status
	Message   string // the server's message, or a snippet of a non-JSON body
	Type      string // e.g. "invalid_request_error"; "" when the server sent none
	Code      string // e.g. "rate_limit_exceeded"; numbers are kept as text
	Retryable bool   // 408, 409, 429 and 5xx: the same request may succeed later
}

// Error says the status and what the server said, e.g. "server answered 429 Too Many Requests: Rate limit reached
// (type requests, code rate_limit_exceeded)".
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "server answered %d", e.Status)
	if text := http.StatusText(e.Status); text != "" {
		b.WriteString(" " + text)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	var extra []string
	if e.Type != "" {
		extra = append(extra, "type "+e.Type)
	}
	if e.Code != "" {
		extra = append(extra, "code "+e.Code)
	}
	if len(extra) > 0 {
		b.WriteString(" (" + strings.Join(extra, ", ") + ")")
	}
	return b.String()
}

// TransportError is a failure to reach the server or to read its whole answer. The server may never have seen the
// request, or may have answered it; either way it is retryable.
type TransportError struct {
	URL string // the endpoint, with any password in it redacted
	Err error
}

// Error names the endpoint and the network failure.
func (e *TransportError) Error() string { return fmt.Sprintf("llm: POST %s: %v", e.URL, e.Err) }

// Unwrap returns the underlying network error.
func (e *TransportError) Unwrap() error { return e.Err }

// IsRetryable reports whether sending the same request again may succeed: transport errors and API errors with a
// retryable status. Cancellation, malformed answers and client-side problems are not retryable.
func IsRetryable(err error) bool {
	var te *TransportError
	if errors.As(err, &te) {
		return true
	}
	var ae *APIError
	return errors.As(err, &ae) && ae.Retryable
}

func retryableStatus(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusConflict ||
		status == http.StatusTooManyRequests || status >= 500
}

// parseAPIError reads an error answer in the shapes servers use: OpenAI's {"error":{"message","type","code"}},
// Ollama's {"error":"text"}, vLLM's older top-level {"message","type","code"}, or any other body as a snippet.
// Occurrences of secret are redacted.
func parseAPIError(status int, body []byte, secret string) *APIError {
	e := &APIError{Status: status, Retryable: retryableStatus(status)}
	var w struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
	}
	if json.Unmarshal(body, &w) == nil && !parseErrorField(e, w.Error) && w.Message != "" {
		e.Message, e.Type, e.Code = w.Message, w.Type, codeText(w.Code)
	}
	e.Message = bound(redact(e.Message, secret), messageMax)
	e.Type, e.Code = bound(redact(e.Type, secret), wordMax), bound(redact(e.Code, secret), wordMax)
	if e.Message == "" {
		e.Message = snippet(redact(string(body), secret))
	}
	return e
}

// parseErrorField fills e from an "error" value that is a string or an object, and reports whether it did.
func parseErrorField(e *APIError, raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return false
	}
	var text string
	if json.Unmarshal(raw, &text) == nil && text != "" {
		e.Message = text
		return true
	}
	var obj struct {
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
	}
	if json.Unmarshal(raw, &obj) != nil || obj.Message == "" && obj.Type == "" && len(obj.Code) == 0 {
		return false
	}
	e.Message, e.Type, e.Code = obj.Message, obj.Type, codeText(obj.Code)
	return true
}

// codeText renders an error code sent as a string, a number or null.
func codeText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// Bounds on server-provided text in an APIError.
const (
	snippetMax = 300  // a non-JSON body, whitespace collapsed
	messageMax = 1000 // a message
	wordMax    = 100  // a type or code
)

// snippet is a one-line, bounded excerpt of a body for an error message.
func snippet(body string) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(body, "\uFFFD")), " ")
	if len(s) <= snippetMax {
		return s
	}
	return bound(s, snippetMax) + " (" + strconv.Itoa(len(body)) + " bytes)"
}

// bound cuts s to at most n bytes on a rune boundary, marking the cut.
func bound(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// redact replaces every occurrence of secret in s.
func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[REDACTED]")
}
