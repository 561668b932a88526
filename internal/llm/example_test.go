package llm_test

import (
	"context"
	"fmt"

	"github.com/agops/agops/internal/llm"
	"github.com/agops/agops/internal/llmtest"
)

// Example runs one tool-calling turn and the answer that follows the tool result.
func Example() {
	srv := llmtest.NewServer(llmtest.Script{
		{AfterTool: "add", Content: "The sum is {{last_tool}}."},
		{ToolCalls: []llmtest.Call{{Name: "add", Args: `{"a":2,"b":3}`}}},
	})
	defer srv.Close()
	c := llm.New(srv.URL())
	ctx := context.Background()
	msgs := []llm.Message{{Role: llm.RoleUser, Content: "What is 2+3?"}}
	resp, err := c.Chat(ctx, llm.Request{Model: "any", Messages: msgs})
	if err != nil {
		fmt.Println(err)
		return
	}
	call := resp.Message.ToolCalls[0]
	args, _ := call.Args()
	fmt.Println(resp.FinishReason, call.Function.Name, args["a"], args["b"])
	msgs = append(msgs, resp.Message, llm.Message{Role: llm.RoleTool, ToolCallID: call.ID, Content: "5"})
	resp, err = c.Chat(ctx, llm.Request{Model: "any", Messages: msgs})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.FinishReason, resp.Message.Content)
	// Output:
	// tool_calls add 2 3
	// stop The sum is 5.
}
