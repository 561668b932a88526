// Package activities holds every side effect of an agent run: model calls (any OpenAI-compatible server, through
// internal/llm), tool calls (through the agops gateway, once per idempotency key) and the transcript store that
// keeps conversations outside the workflow history. Activities is a struct with its clients injected; the worker
// registers it.
package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/agops/agops/internal/agent"
	"github.com/agops/agops/internal/llm"
	"github.com/agops/agops/internal/team"
)

// Chatter is a chat completions client.
type Chatter interface {
	Chat(ctx context.Context, req llm.Request) (llm.Response, error)
}

// Activities carries out model and tool calls for agent runs.
type Activities struct {
	Store TranscriptStore
	Tools ToolGateway
	// Models returns the client for a model endpoint (default: internal/llm with the key from the model's
	// apiKeyEnv variable).
	Models func(team.Model) Chatter
	// ModelURLs overrides the base URL of the team's models by name ("*": every model) for the default client: a
	// worker reaches the model server at an address of its own (agops dev --model local=URL).
	ModelURLs map[string]string
}

// Register adds the activities under their agent.* names.
func (a *Activities) Register(r interface {
	RegisterActivityWithOptions(any, activity.RegisterOptions)
}) {
	r.RegisterActivityWithOptions(a.ListTools, activity.RegisterOptions{Name: agent.ListToolsActivity})
	r.RegisterActivityWithOptions(a.ModelCall, activity.RegisterOptions{Name: agent.ModelCallActivity})
	r.RegisterActivityWithOptions(a.ToolCall, activity.RegisterOptions{Name: agent.ToolCallActivity})
}

func (a *Activities) models(m team.Model) Chatter {
	if a.Models != nil {
		return a.Models(m)
	}
	var opts []llm.Option
	if m.APIKeyEnv != "" {
		opts = append(opts, llm.WithAPIKey(os.Getenv(m.APIKeyEnv)))
	}
	url := m.BaseURL
	if u, ok := a.ModelURLs["*"]; ok {
		url = u
	}
	if u, ok := a.ModelURLs[m.Name]; ok {
		url = u
	}
	return llm.New(url, opts...)
}

// funcName is a tool's function name for the model: server__tool with anything outside [a-zA-Z0-9_-] replaced.
func funcName(server, tool string) string {
	n := unsafeFunc.ReplaceAllString(server+"__"+tool, "_")
	if len(n) > 64 {
		n = n[:64]
	}
	return n
}

var unsafeFunc = regexp.MustCompile(`[^a-zA-Z0-9_-]`)

// ListTools asks the gateway for the agent's tools, with their descriptions and schemas. A tool the gateway does
// not show this worker is left out (the model cannot ask for it).
func (a *Activities) ListTools(ctx context.Context, in agent.ListToolsInput) ([]agent.ToolSpec, error) {
	byServer := map[string][]team.Tool{}
	var servers []string
	for _, t := range in.Tools {
		if _, ok := byServer[t.Server]; !ok {
			servers = append(servers, t.Server)
		}
		byServer[t.Server] = append(byServer[t.Server], t)
	}
	specs := []agent.ToolSpec{}
	for _, s := range servers {
		listed, err := a.Tools.List(ctx, s)
		if err != nil {
			return nil, err
		}
		for _, want := range byServer[s] {
			for _, t := range listed {
				if t.Name == want.Name {
					schema, _ := json.Marshal(t.InputSchema)
					specs = append(specs, agent.ToolSpec{Func: funcName(s, t.Name), Server: s, Name: t.Name,
						Description: t.Description, InputSchema: schema, Approval: want.Approval})
				}
			}
		}
	}
	return specs, nil
}

// ModelCall asks the model for the next turn of a transcript and stores its answer after it.
func (a *Activities) ModelCall(ctx context.Context, in agent.ModelCallInput) (agent.ModelCallResult, error) {
	n := in.Messages
	if n == 0 {
		if err := a.Store.Put(ctx, in.TranscriptKey, 0,
			llm.Message{Role: llm.RoleSystem, Content: in.System}, llm.Message{Role: llm.RoleUser, Content: in.Task}); err != nil {
			return agent.ModelCallResult{}, err
		}
		n = 2
	}
	msgs, err := a.Store.Get(ctx, in.TranscriptKey, n)
	if err != nil {
		return agent.ModelCallResult{}, err
	}
	req := llm.Request{Model: in.Model.Model, Messages: msgs, Temperature: in.Model.Temperature, MaxTokens: in.Model.MaxTokens}
	for _, t := range in.Tools {
		req.Tools = append(req.Tools, llm.ToolDef{Type: "function", Function: llm.FunctionDef{
			Name: t.Func, Description: t.Description, Parameters: t.InputSchema}})
	}
	var resp llm.Response
	err = withHeartbeat(ctx, func(ctx context.Context) error {
		ctx, span := startChat(ctx, in.Model)
		resp, err = a.models(in.Model).Chat(ctx, req)
		endChat(span, resp, err)
		return err
	})
	if err != nil {
		return agent.ModelCallResult{}, modelError(err)
	}
	resp.Message.Role = llm.RoleAssistant
	if err := a.Store.Put(ctx, in.TranscriptKey, n, resp.Message); err != nil {
		return agent.ModelCallResult{}, err
	}
	return modelResult(resp), nil
}

func modelResult(resp llm.Response) agent.ModelCallResult {
	out := agent.ModelCallResult{Content: resp.Message.Content, FinishReason: resp.FinishReason, Tokens: resp.Usage.TotalTokens}
	if out.Tokens == 0 {
		out.Tokens = resp.Usage.PromptTokens + resp.Usage.CompletionTokens
	}
	for _, c := range resp.Message.ToolCalls {
		out.ToolCalls = append(out.ToolCalls, agent.ToolCall{ID: c.ID, Name: c.Function.Name, Arguments: c.Function.Arguments})
	}
	return out
}

// modelError keeps retryable failures retryable and makes the others final.
func modelError(err error) error {
	if llm.IsRetryable(err) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return temporal.NewNonRetryableApplicationError(err.Error(), "ModelRefused", nil)
}

// ToolCall calls a tool through the gateway (or stores a decided answer) and stores the answer in the transcript.
// The idempotency key is the activity's own identity, the same for every retry: a retry after a worker died
// mid-call gets the recorded answer, and the tool acts once.
func (a *Activities) ToolCall(ctx context.Context, in agent.ToolCallInput) (agent.ToolCallResult, error) {
	if in.Result != nil {
		return agent.ToolCallResult{Content: *in.Result, IsError: true}, a.storeTool(ctx, in, *in.Result)
	}
	var args map[string]any
	if err := json.Unmarshal([]byte(orEmpty(in.Arguments)), &args); err != nil {
		text := fmt.Sprintf("error: the arguments are not a JSON object: %v", err)
		return agent.ToolCallResult{Content: text, IsError: true}, a.storeTool(ctx, in, text)
	}
	info := activity.GetInfo(ctx)
	key := fmt.Sprintf("%s/%s/%s", info.WorkflowExecution.ID, info.WorkflowExecution.RunID, info.ActivityID)
	var out Outcome
	err := withHeartbeat(ctx, func(ctx context.Context) error {
		ctx, span := startToolCall(ctx, in.Server, in.Tool)
		var err error
		out, err = a.Tools.Call(ctx, in.Server, in.Tool, args, key)
		endToolCall(span, out, err)
		return err
	})
	if err != nil {
		return agent.ToolCallResult{}, err
	}
	if out.ApprovalID != "" {
		return agent.ToolCallResult{ApprovalID: out.ApprovalID}, nil
	}
	return agent.ToolCallResult{Content: out.Text, IsError: out.IsError}, a.storeTool(ctx, in, out.Text)
}

func (a *Activities) storeTool(ctx context.Context, in agent.ToolCallInput, text string) error {
	return a.Store.Put(ctx, in.TranscriptKey, in.Messages, llm.Message{Role: llm.RoleTool, Content: text, ToolCallID: in.CallID})
}

func orEmpty(s string) string {
	if s == "" {
		return "{}"
	}
	return s
}

// withHeartbeat runs f while heartbeating, so that the server notices a dead worker within the heartbeat timeout.
func withHeartbeat(ctx context.Context, f func(context.Context) error) error {
	if !activity.IsActivity(ctx) {
		return f(ctx)
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(heartbeatEvery(activity.GetInfo(ctx).HeartbeatTimeout))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	return f(ctx)
}
