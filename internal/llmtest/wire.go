package llmtest

import (
	"encoding/json"
	"net/http"

	"github.com/agops/agops/internal/llm"
)

// created is the fixed creation time of every reply, so that replies are byte-identical across runs.
const created = 1700000000

// completion is a chat completions answer as OpenAI sends it.
type completion struct {
	ID      string    `json:"id"`
	Object  string    `json:"object"`
	Created int64     `json:"created"`
	Model   string    `json:"model"`
	Choices []choice  `json:"choices"`
	Usage   llm.Usage `json:"usage"`
}

type choice struct {
	Index        int         `json:"index"`
	Message      wireMessage `json:"message"`
	FinishReason string      `json:"finish_reason"`
}

// wireMessage sends content null beside tool calls, as OpenAI does, so clients meet the null case.
type wireMessage struct {
	Role      string         `json:"role"`
	Content   *string        `json:"content"`
	ToolCalls []llm.ToolCall `json:"tool_calls,omitempty"`
}

func completionOf(req llm.Request, fp string, msg llm.Message, usage llm.Usage) completion {
	wm := wireMessage{Role: msg.Role, ToolCalls: msg.ToolCalls}
	if msg.Content != "" || len(msg.ToolCalls) == 0 {
		wm.Content = &msg.Content
	}
	finish := "stop"
	if len(msg.ToolCalls) > 0 {
		finish = "tool_calls"
	}
	model := req.Model
	if model == "" {
		model = ModelName
	}
	return completion{
		ID: "chatcmpl-" + fp[:24], Object: "chat.completion", Created: created, Model: model,
		Choices: []choice{{Message: wm, FinishReason: finish}},
		Usage:   usage,
	}
}

// writeError answers with OpenAI's error shape.
func writeError(w http.ResponseWriter, status int, message, typ, code string) {
	e := map[string]any{"message": message, "type": typ, "code": nil}
	if code != "" {
		e["code"] = code
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "llmtest: encoding answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
