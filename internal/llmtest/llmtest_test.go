package llmtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agops/agops/internal/llm"
	"github.com/agops/agops/internal/llmtest"
)

// team is a two-agent script: a researcher that searches then summarises, and a writer that answers at once.
var team = llmtest.Script{
	{Agent: "researcher", AfterTool: "search", Content: "Found: {{last_tool}}", Usage: [2]int64{100, 10}},
	{Agent: "researcher", ToolCalls: []llmtest.Call{{Name: "search", Args: `{"q":"agops"}`}, {Name: "clock"}}},
	{Agent: "writer", LastUser: "draft", Content: "Draft of {{input}}"},
}

func conv(system, user string, more ...llm.Message) []llm.Message {
	return append([]llm.Message{{Role: llm.RoleSystem, Content: system}, {Role: llm.RoleUser, Content: user}}, more...)
}

func TestScript(t *testing.T) {
	t.Parallel()
	calls := []llm.ToolCall{
		{ID: "a", Type: "function", Function: llm.FunctionCall{Name: "search", Arguments: "{}"}},
		{ID: "b", Type: "function", Function: llm.FunctionCall{Name: "clock", Arguments: "{}"}},
	}
	asked := llm.Message{Role: llm.RoleAssistant, ToolCalls: calls}
	tests := []struct {
		name      string
		msgs      []llm.Message
		want      string // content, or tool names joined by "," when it calls tools
		wantUsage llm.Usage
		wantErr   string
	}{
		{"valid-tool-calls", conv("You are the researcher.", "go"), "search,clock", llm.Usage{}, ""},
		{"valid-after-tool", conv("You are the researcher.", "go", asked,
			llm.Message{Role: "tool", ToolCallID: "b", Content: "noon"},
			llm.Message{Role: "tool", ToolCallID: "a", Content: "3 hits"}),
			"Found: 3 hits", llm.Usage{PromptTokens: 100, CompletionTokens: 10, TotalTokens: 110}, ""},
		{"valid-other-tool-last", conv("You are the researcher.", "go", asked,
			llm.Message{Role: "tool", ToolCallID: "a", Content: "3 hits"},
			llm.Message{Role: "tool", ToolCallID: "b", Content: "noon"}), "search,clock", llm.Usage{}, ""},
		{"valid-input", conv("You are the writer.", "a draft on K8s"), "Draft of a draft on K8s", llm.Usage{}, ""},
		{"invalid-no-rule", conv("You are the writer.", "poem"), "", llm.Usage{}, `no rule matched the request: system "You are the writer."`},
		{"invalid-no-messages", nil, "", llm.Usage{}, "messages must not be empty"},
		{"invalid-orphan-tool-result", conv("You are the researcher.", "go", llm.Message{Role: "tool", ToolCallID: "z"}),
			"", llm.Usage{}, `tool result for "z" answers no pending tool call`},
		{"invalid-unanswered-call", conv("You are the researcher.", "go", asked,
			llm.Message{Role: "tool", ToolCallID: "a"}, llm.Message{Role: "user", Content: "?"}),
			"", llm.Usage{}, "tool calls [b] have no tool result"},
		{"invalid-role", []llm.Message{{Role: "robot"}}, "", llm.Usage{}, `unknown role "robot"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := llmtest.New(t, team)
			resp, err := srv.Client().Chat(context.Background(), llm.Request{Model: "m", Messages: tt.msgs})
			if tt.wantErr != "" {
				var ae *llm.APIError
				if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || !strings.Contains(ae.Message, tt.wantErr) || llm.IsRetryable(err) {
					t.Fatalf("error %v, want a final 400 containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(resp.Message); got != tt.want {
				t.Errorf("reply %q, want %q", got, tt.want)
			}
			if tt.wantUsage != (llm.Usage{}) && resp.Usage != tt.wantUsage {
				t.Errorf("usage %+v, want %+v", resp.Usage, tt.wantUsage)
			}
		})
	}
}

func summary(m llm.Message) string {
	if len(m.ToolCalls) == 0 {
		return m.Content
	}
	var names []string
	for _, tc := range m.ToolCalls {
		names = append(names, tc.Function.Name)
	}
	return strings.Join(names, ",")
}

// TestDeterministic: two servers answer the same request byte for byte alike, and distinct requests get distinct
// tool call IDs.
func TestDeterministic(t *testing.T) {
	t.Parallel()
	ask := func(srv *llmtest.Server, user string) llm.Response {
		resp, err := srv.Client().Chat(context.Background(), llm.Request{Model: "m", Messages: conv("researcher", user)})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	a, b := llmtest.New(t, team), llmtest.New(t, team)
	ra, rb, other := ask(a, "go"), ask(b, "go"), ask(a, "rust")
	ja, _ := json.Marshal(ra)
	jb, _ := json.Marshal(rb)
	if string(ja) != string(jb) {
		t.Errorf("same request, different replies:\n%s\n%s", ja, jb)
	}
	ids := map[string]bool{}
	for _, r := range []llm.Response{ra, other} {
		for _, tc := range r.Message.ToolCalls {
			ids[tc.ID] = true
		}
	}
	if len(ids) != 4 {
		t.Errorf("tool call IDs not distinct: %v", ids)
	}
	if r := ra.Usage; r.PromptTokens != 3 || r.CompletionTokens != 7 || r.TotalTokens != 10 {
		t.Errorf("computed usage %+v, want 3+7 (prompt 12 bytes, tool names and arguments 26 bytes)", r)
	}
}

// TestRecording: counts per agent, and duplicates only for requests answered twice.
func TestRecording(t *testing.T) {
	t.Parallel()
	srv := llmtest.New(t, team)
	c := srv.Client()
	ctx := context.Background()
	send := func(system, user string) error {
		_, err := c.Chat(ctx, llm.Request{Model: "m", Messages: conv(system, user)})
		return err
	}
	srv.FailNext(2, http.StatusServiceUnavailable)
	for i := range 2 {
		if err := send("researcher", "go"); !llm.IsRetryable(err) {
			t.Fatalf("try %d: error %v, want a retryable injected failure", i, err)
		}
	}
	for _, s := range [][2]string{{"researcher", "go"}, {"writer", "draft"}, {"writer", "draft"}, {"writer", "poem"}} {
		_ = send(s[0], s[1]) // the poem matches no rule: received, not answered
	}
	if got := srv.Count(); got != 6 {
		t.Errorf("Count = %d, want 6", got)
	}
	if r, w := srv.CountFor("researcher"), srv.CountFor("writer"); r != 3 || w != 3 {
		t.Errorf("CountFor = researcher %d, writer %d; want 3, 3", r, w)
	}
	if got := srv.Duplicates(); got != 1 {
		t.Errorf("Duplicates = %d, want 1 (the second draft; retries after failures are not answers)", got)
	}
	if got := srv.Requests()[5].Messages[1].Content; got != "poem" {
		t.Errorf("last request asked %q, want poem", got)
	}
}

// TestDelayEndsWithClose: a request waiting out a Delay ends when the server closes.
func TestDelayEndsWithClose(t *testing.T) {
	t.Parallel()
	srv := llmtest.NewServer(team)
	srv.Delay(time.Hour)
	go func() {
		for srv.Count() == 0 {
			runtime.Gosched()
		}
		srv.Close()
	}()
	_, err := srv.Client().Chat(context.Background(), llm.Request{Model: "m", Messages: conv("writer", "draft")})
	var ae *llm.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || !llm.IsRetryable(err) {
		t.Fatalf("error %v, want a retryable 503", err)
	}
	srv.Close() // again: no effect
}

func TestModels(t *testing.T) {
	t.Parallel()
	srv := llmtest.New(t, nil)
	resp, err := http.Get(srv.URL() + "/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Data []struct{ ID string } `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || len(list.Data) != 1 || list.Data[0].ID != llmtest.ModelName {
		t.Errorf("models: %+v, %v", list, err)
	}
}

// TestConcurrent: many agents at once are each answered and counted (run with -race).
func TestConcurrent(t *testing.T) {
	t.Parallel()
	srv := llmtest.New(t, team)
	c := srv.Client()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			_, err := c.Chat(context.Background(), llm.Request{Model: "m", Messages: conv("writer", fmt.Sprint("draft ", i))})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if srv.Count() != 20 || srv.Duplicates() != 0 {
		t.Errorf("Count %d, Duplicates %d; want 20, 0", srv.Count(), srv.Duplicates())
	}
}
