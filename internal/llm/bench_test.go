package llm_test

import (
	"context"
	"testing"

	"github.com/agops/agops/internal/llm"
	"github.com/agops/agops/internal/llmtest"
)

// BenchmarkChat measures sequential round trips on loopback against the scripted server: a tool-calling turn, the
// shape agent loops send most.
func BenchmarkChat(b *testing.B) {
	srv := llmtest.New(b, llmtest.Script{{ToolCalls: []llmtest.Call{{Name: "search", Args: `{"q":"agops"}`}}}})
	c := srv.Client()
	req := llm.Request{Model: "m", Messages: []llm.Message{
		{Role: llm.RoleSystem, Content: "You are the research agent."},
		{Role: llm.RoleUser, Content: "Find the release notes."},
	}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Chat(ctx, req)
		if err != nil || len(resp.Message.ToolCalls) != 1 {
			b.Fatal(resp, err)
		}
	}
}
