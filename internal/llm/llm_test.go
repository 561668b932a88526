package llm

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestMessageDecode(t *testing.T) {
	t.Parallel()
	call := ToolCall{ID: "c1", Type: "function", Function: FunctionCall{Name: "search", Arguments: `{"q":"go"}`}}
	tests := []struct {
		name, in string
		want     Message
		wantErr  string
	}{
		{"valid-string", `{"role":"assistant","content":"hi"}`, Message{Role: "assistant", Content: "hi"}, ""},
		{"valid-null-with-tool-calls",
			`{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"search","arguments":"{\"q\":\"go\"}"}}]}`,
			Message{Role: "assistant", ToolCalls: []ToolCall{call}}, ""},
		{"valid-absent-content", `{"role":"assistant"}`, Message{Role: "assistant"}, ""},
		{"valid-parts",
			`{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"b"}]}`,
			Message{Role: "assistant", Content: "ab"}, ""},
		{"valid-arguments-object",
			`{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"search","arguments":{ "q" : "go" }}}]}`,
			Message{Role: "assistant", ToolCalls: []ToolCall{call}}, ""},
		{"valid-arguments-null",
			`{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":null}}]}`,
			Message{Role: "assistant", ToolCalls: []ToolCall{{ID: "c1", Type: "function", Function: FunctionCall{Name: "f"}}}}, ""},
		{"valid-tool-result", `{"role":"tool","content":"42","tool_call_id":"c1","name":"calc"}`,
			Message{Role: "tool", Content: "42", ToolCallID: "c1", Name: "calc"}, ""},
		{"invalid-content-number", `{"role":"assistant","content":42}`, Message{}, "neither a string"},
		{"invalid-content-parts", `{"role":"assistant","content":[1,2]}`, Message{}, "content parts"},
		{"invalid-role-type", `{"role":1,"content":"x"}`, Message{}, "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got Message
			err := json.Unmarshal([]byte(tt.in), &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestMessageEncode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   Message
		want string
	}{
		{"valid-user", Message{Role: "user", Content: "hi"}, `{"role":"user","content":"hi"}`},
		{"valid-tool-result", Message{Role: "tool", Content: "42", ToolCallID: "c1"},
			`{"role":"tool","content":"42","tool_call_id":"c1"}`},
		{"valid-tool-call", Message{Role: "assistant", ToolCalls: []ToolCall{{ID: "c1", Type: "function",
			Function: FunctionCall{Name: "f", Arguments: "{}"}}}},
			`{"role":"assistant","content":"","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := json.Marshal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, args string
		want       map[string]any
		wantErr    string
	}{
		{"valid-object", `{"q":"go","n":3}`, map[string]any{"q": "go", "n": json.Number("3")}, ""},
		{"valid-big-number", `{"id":9007199254740993}`, map[string]any{"id": json.Number("9007199254740993")}, ""},
		{"valid-empty", "", map[string]any{}, ""},
		{"valid-blank", "  \n", map[string]any{}, ""},
		{"valid-padded", ` {"a":true} `, map[string]any{"a": true}, ""},
		{"invalid-array", `[1]`, nil, "an array, not a JSON object"},
		{"invalid-string", `"x"`, nil, "a string, not a JSON object"},
		{"invalid-null", `null`, nil, "null, not a JSON object"},
		{"invalid-number", `1`, nil, "a number, not a JSON object"},
		{"invalid-json", `{"a":`, nil, "not valid JSON"},
		{"invalid-trailing", `{"a":1} {"b":2}`, nil, "data after the JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := ToolCall{ID: "c1", Function: FunctionCall{Name: "f", Arguments: tt.args}}
			got, err := c.Args()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "c1 (f)") {
					t.Fatalf("error = %v, want one naming the call and containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestDecodeResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     Response
		wantErr  string
	}{
		{"valid-content",
			`{"id":"x","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`,
			Response{ID: "x", Model: "m", Message: Message{Role: "assistant", Content: "hi"}, FinishReason: "stop",
				Usage: Usage{PromptTokens: 3, CompletionTokens: 1, TotalTokens: 4}}, ""},
		{"valid-defaults-role-and-type",
			`{"choices":[{"message":{"tool_calls":[{"id":"c","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}`,
			Response{Message: Message{Role: "assistant", ToolCalls: []ToolCall{{ID: "c", Type: "function",
				Function: FunctionCall{Name: "f", Arguments: "{}"}}}}, FinishReason: "tool_calls"}, ""},
		{"invalid-no-choices", `{"id":"x","choices":[]}`, Response{}, "no choices"},
		{"invalid-error-in-200", `{"error":{"message":"overloaded","type":"server_error"}}`, Response{}, "overloaded"},
		{"invalid-malformed", `{"choices":[`, Response{}, "malformed response"},
		{"invalid-not-json", `<html>`, Response{}, "malformed response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := decodeResponse([]byte(tt.in), "")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				if IsRetryable(err) {
					t.Errorf("%v is retryable, want not", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
