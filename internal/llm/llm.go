// Package llm owns agops's client for OpenAI-compatible chat completions servers (Ollama, vLLM, llama.cpp, OpenAI
// itself): the wire types of POST {baseURL}/chat/completions with tool calling, one non-streaming call (Client.Chat),
// and the typed errors a caller branches on (APIError, TransportError, IsRetryable).
//
// Data enters through Client.Chat, which decodes the server's answer leniently where real servers differ (content
// null or an array of parts, tool call arguments as text or as an object) and strictly everywhere else. The client
// never retries by itself: callers (durable workflows) own retries and ask IsRetryable. The API key only ever
// travels in the Authorization header; it never appears in an error.
package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Roles of a Message.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// Message is one chat message. A tool result has Role "tool" and ToolCallID naming the call it answers.
type Message struct {
	Role       string     `json:"role"`
	Content    string     `json:"content"`
	Name       string     `json:"name,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

// ToolCall is a model's request to call a function.
type ToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"` // "function"
	Function FunctionCall `json:"function"`
}

// FunctionCall names the function and carries its arguments as the JSON text the model wrote (possibly invalid:
// models make mistakes; Args parses it).
type FunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// ToolDef offers a function to the model.
type ToolDef struct {
	Type     string      `json:"type"` // "function"
	Function FunctionDef `json:"function"`
}

// FunctionDef describes a function; Parameters is its JSON schema.
type FunctionDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

// Request is one chat completion request. It is always sent with "stream": false.
type Request struct {
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	Tools       []ToolDef `json:"tools,omitempty"`
	Temperature *float64  `json:"temperature,omitempty"`
	MaxTokens   int       `json:"max_tokens,omitempty"`
	Seed        *int64    `json:"seed,omitempty"`
}

// Response is the server's answer: the first choice's message, why it stopped ("stop", "tool_calls", "length", ...)
// and the tokens it counted.
type Response struct {
	ID           string  `json:"id"`
	Model        string  `json:"model"`
	Message      Message `json:"message"`
	FinishReason string  `json:"finish_reason"`
	Usage        Usage   `json:"usage"`
}

// Usage counts tokens as the server reports them.
type Usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
}

// UnmarshalJSON accepts content as a string, null (sent with tool calls) or an array of parts, whose text parts are
// concatenated.
func (m *Message) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	type plain Message
	var w struct {
		plain
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	content, err := decodeContent(w.Content)
	if err != nil {
		return err
	}
	*m = Message(w.plain)
	m.Content = content
	return nil
}

func decodeContent(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case '[':
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(raw, &parts); err != nil {
			return "", fmt.Errorf("message content parts: %w", err)
		}
		var b strings.Builder
		for _, p := range parts {
			if p.Type == "text" {
				b.WriteString(p.Text)
			}
		}
		return b.String(), nil
	}
	return "", errors.New("message content is neither a string, null nor an array of parts")
}

// UnmarshalJSON accepts arguments as a JSON string (the standard) or as a JSON value (some servers send an object),
// which is kept as compact JSON text.
func (f *FunctionCall) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	type plain FunctionCall
	var w struct {
		plain
		Arguments json.RawMessage `json:"arguments"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	args, err := decodeArguments(w.Arguments)
	if err != nil {
		return err
	}
	*f = FunctionCall(w.plain)
	f.Arguments = args
	return nil
}

func decodeArguments(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return "", fmt.Errorf("tool call arguments: %w", err)
	}
	// Invalid UTF-8 becomes U+FFFD, as it does in decoded strings: the text then survives re-encoding.
	return strings.ToValidUTF8(b.String(), "\uFFFD"), nil
}

// Args parses the arguments as a JSON object. Empty arguments (some models send "" for a function without
// parameters) give an empty map. Numbers are json.Number, so they re-encode exactly.
func (c ToolCall) Args() (map[string]any, error) {
	text := strings.TrimSpace(c.Function.Arguments)
	if text == "" {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("tool call %s (%s): arguments are not valid JSON: %w", c.ID, c.Function.Name, err)
	}
	if strings.TrimSpace(text[dec.InputOffset():]) != "" {
		return nil, fmt.Errorf("tool call %s (%s): arguments have data after the JSON object", c.ID, c.Function.Name)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("tool call %s (%s): arguments are %s, not a JSON object", c.ID, c.Function.Name, jsonKind(v))
	}
	return obj, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "not an object"
}
