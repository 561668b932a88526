// Package demo is a stand-in model for trying agent teams without a model server: an OpenAI-compatible chat
// completions endpoint that is no language model at all. Given tools, it calls each offered tool once, in order, with
// arguments made from the tool's schema; then it answers with what the tools said. Without tools it answers with a
// short digest of its task. `agops dev --demo-model` serves it; it is deterministic, so the same run gives the same
// transcript.
package demo

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/agops/agops/internal/llm"
)

// Handler serves POST /v1/chat/completions and GET /v1/models.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", chat)
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{map[string]any{"id": "agops-demo", "object": "model"}}})
	})
	return mux
}

func chat(w http.ResponseWriter, r *http.Request) {
	var req llm.Request
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<20)).Decode(&req); err != nil || len(req.Messages) == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"message": "want a chat completions request", "type": "invalid_request_error"}})
		return
	}
	msg := reply(req)
	finish := "stop"
	if len(msg.ToolCalls) > 0 {
		finish = "tool_calls"
	}
	prompt, completion := tokens(req.Messages), tokens([]llm.Message{msg})
	writeJSON(w, http.StatusOK, map[string]any{
		"id": "demo-" + fmt.Sprint(len(req.Messages)), "object": "chat.completion", "model": req.Model,
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
		"usage":   map[string]int64{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
	})
}

// reply calls the next tool not called yet, or answers.
func reply(req llm.Request) llm.Message {
	called := map[string]bool{}
	var results []string
	names := map[string]string{}
	for _, m := range req.Messages {
		for _, c := range m.ToolCalls {
			called[c.Function.Name] = true
			names[c.ID] = c.Function.Name
		}
		if m.Role == llm.RoleTool {
			results = append(results, fmt.Sprintf("- %s: %s", names[m.ToolCallID], strings.TrimSpace(m.Content)))
		}
	}
	for i, t := range req.Tools {
		if !called[t.Function.Name] {
			return llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{
				ID: fmt.Sprintf("demo_%d_%d", len(req.Messages), i), Type: "function",
				Function: llm.FunctionCall{Name: t.Function.Name, Arguments: arguments(t.Function, req)},
			}}}
		}
	}
	task := lastUser(req.Messages)
	if len(results) == 0 {
		return llm.Message{Role: llm.RoleAssistant, Content: "Answer (demo model): " + digest(task)}
	}
	return llm.Message{Role: llm.RoleAssistant, Content: "Notes (demo model) on \"" + digest(task) + "\":\n" + strings.Join(results, "\n")}
}

// arguments fills the schema's required properties: known tools get sensible values, the rest a value of the type.
func arguments(f llm.FunctionDef, req llm.Request) string {
	var schema struct {
		Properties map[string]struct {
			Type string `json:"type"`
			Enum []any  `json:"enum"`
		} `json:"properties"`
		Required []string `json:"required"`
	}
	_ = json.Unmarshal(f.Parameters, &schema)
	args := map[string]any{}
	keys := append([]string(nil), schema.Required...)
	sort.Strings(keys)
	for _, k := range keys {
		p := schema.Properties[k]
		switch {
		case known[k] != nil:
			args[k] = known[k](req)
		case len(p.Enum) > 0:
			args[k] = p.Enum[0]
		case p.Type == "number" || p.Type == "integer":
			args[k] = 2
		case p.Type == "boolean":
			args[k] = true
		default:
			args[k] = "demo"
		}
	}
	b, _ := json.Marshal(args)
	return string(b)
}

// known are argument names with a better value than the type's.
var known = map[string]func(llm.Request) any{
	"message":  func(r llm.Request) any { return "noted: " + digest(lastUser(r.Messages)) },
	"text":     func(r llm.Request) any { return digest(lastUser(r.Messages)) },
	"task":     func(r llm.Request) any { return lastUser(r.Messages) },
	"a":        func(llm.Request) any { return 20 },
	"b":        func(llm.Request) any { return 22 },
	"duration": func(llm.Request) any { return 1 },
	"steps":    func(llm.Request) any { return 1 },
}

func lastUser(msgs []llm.Message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == llm.RoleUser {
			return msgs[i].Content
		}
	}
	return ""
}

func digest(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 160 {
		return string(r[:160]) + "…"
	}
	return s
}

func tokens(msgs []llm.Message) int64 {
	n := 0
	for _, m := range msgs {
		n += len(m.Content)
		for _, c := range m.ToolCalls {
			n += len(c.Function.Arguments)
		}
	}
	return int64(max(1, n/4))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
