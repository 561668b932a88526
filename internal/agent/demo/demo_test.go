package demo

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agops/agops/internal/llm"
)

// TestDemoCallsEachToolThenReports drives the demo model with the real client through a whole agent turn cycle.
func TestDemoCallsEachToolThenReports(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	c := llm.New(srv.URL + "/v1")
	schema := func(s string) json.RawMessage { return json.RawMessage(s) }
	req := llm.Request{Model: "m", Messages: []llm.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "add things"}},
		Tools: []llm.ToolDef{
			{Type: "function", Function: llm.FunctionDef{Name: "srv__get-sum", Parameters: schema(`{"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},"required":["a","b"]}`)}},
			{Type: "function", Function: llm.FunctionDef{Name: "srv__pick", Parameters: schema(`{"type":"object","properties":{"mode":{"type":"string","enum":["x","y"]},"n":{"type":"integer"},"flag":{"type":"boolean"}},"required":["mode","n","flag"]}`)}},
		}}
	wantArgs := []string{`{"a":20,"b":22}`, `{"flag":true,"mode":"x","n":2}`}
	for i, want := range wantArgs {
		resp, err := c.Chat(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		calls := resp.Message.ToolCalls
		if len(calls) != 1 || calls[0].Function.Arguments != want || resp.FinishReason != "tool_calls" || resp.Usage.TotalTokens == 0 {
			t.Fatalf("turn %d: %+v", i, resp)
		}
		req.Messages = append(req.Messages, resp.Message, llm.Message{Role: "tool", ToolCallID: calls[0].ID, Content: "result " + want})
	}
	resp, err := c.Chat(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resp.Message.Content, "srv__get-sum: result") || len(resp.Message.ToolCalls) != 0 {
		t.Errorf("report %q", resp.Message.Content)
	}
	// Without tools it answers at once; bad input gets a 400.
	resp, err = c.Chat(t.Context(), llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Content: "hi"}}})
	if err != nil || !strings.HasPrefix(resp.Message.Content, "Answer (demo model): hi") {
		t.Errorf("no tools: %+v, %v", resp, err)
	}
	if _, err := c.Chat(t.Context(), llm.Request{Model: "m"}); err == nil {
		t.Error("no messages accepted")
	}
}
