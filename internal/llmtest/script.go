package llmtest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/agops/agops/internal/llm"
)

// Script decides the model's replies: the first Rule whose conditions all hold answers a request. Put the more
// specific rules of an agent first (its AfterTool rules before its opening rule, which matches every turn).
type Script []Rule

// Rule is one scripted reply. Its conditions select requests: every non-empty one must hold. Its reply is tool
// calls, content, or both.
type Rule struct {
	Agent     string // a substring of the system messages (agents differ by their instructions)
	LastUser  string // a substring of the last user message
	AfterTool string // the last message is a tool result answering a call of this function

	ToolCalls []Call // answered with finish_reason "tool_calls"; IDs derive from the request
	// Content is the reply text. {{input}} stands for the last user message, {{last_tool}} for the content of the
	// last tool message.
	Content string
	Usage   [2]int64 // prompt and completion tokens; zero: counted from text lengths (4 bytes a token)
}

// Call is a scripted tool call.
type Call struct {
	Name string
	Args string // JSON text sent as is (invalid JSON tests a model's mistakes); "" sends "{}"
}

// view is what rules look at in a conversation.
type view struct {
	system    string // every system message, joined
	lastUser  string // content of the last user message
	lastTool  string // content of the last tool message
	afterTool string // function name of the call the last message answers, when it is a tool result
}

func viewOf(msgs []llm.Message) view {
	var v view
	var system []string
	names := map[string]string{} // tool call ID → function name
	for _, m := range msgs {
		switch m.Role {
		case llm.RoleSystem:
			system = append(system, m.Content)
		case llm.RoleUser:
			v.lastUser = m.Content
		case llm.RoleTool:
			v.lastTool = m.Content
		}
		for _, tc := range m.ToolCalls {
			names[tc.ID] = tc.Function.Name
		}
	}
	v.system = strings.Join(system, "\n")
	if n := len(msgs); n > 0 && msgs[n-1].Role == llm.RoleTool {
		v.afterTool = names[msgs[n-1].ToolCallID]
	}
	return v
}

func (r Rule) matches(v view) bool {
	return strings.Contains(v.system, r.Agent) && strings.Contains(v.lastUser, r.LastUser) &&
		(r.AfterTool == "" || r.AfterTool == v.afterTool)
}

// match returns the first rule that selects the conversation.
func (s Script) match(v view) (Rule, bool) {
	for _, r := range s {
		if r.matches(v) {
			return r, true
		}
	}
	return Rule{}, false
}

// reply is the rule's answer to a request whose fingerprint is fp: the same request always gets the same reply.
func (r Rule) reply(req llm.Request, v view, fp string) (llm.Message, llm.Usage) {
	msg := llm.Message{Role: llm.RoleAssistant}
	msg.Content = strings.NewReplacer("{{input}}", v.lastUser, "{{last_tool}}", v.lastTool).Replace(r.Content)
	for i, c := range r.ToolCalls {
		args := c.Args
		if args == "" {
			args = "{}"
		}
		sum := sha256.Sum256([]byte(fp + "/" + strconv.Itoa(i)))
		msg.ToolCalls = append(msg.ToolCalls, llm.ToolCall{
			ID:       "call_" + hex.EncodeToString(sum[:])[:16],
			Type:     "function",
			Function: llm.FunctionCall{Name: c.Name, Arguments: args},
		})
	}
	u := llm.Usage{PromptTokens: r.Usage[0], CompletionTokens: r.Usage[1]}
	if r.Usage == [2]int64{} {
		u.PromptTokens, u.CompletionTokens = tokens(promptText(req)), tokens(replyText(msg))
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return msg, u
}

func promptText(req llm.Request) int {
	n := 0
	for _, m := range req.Messages {
		n += replyText(m)
	}
	return n
}

func replyText(m llm.Message) int {
	n := len(m.Content)
	for _, tc := range m.ToolCalls {
		n += len(tc.Function.Name) + len(tc.Function.Arguments)
	}
	return n
}

// tokens approximates a token count from a byte count: 4 bytes a token, at least 1.
func tokens(bytes int) int64 { return int64(max(1, (bytes+3)/4)) }

// Fingerprint identifies a request by its content (model, messages, tools and settings): two requests with the same
// fingerprint ask the model the same thing.
func Fingerprint(req llm.Request) string {
	b, err := json.Marshal(req)
	if err != nil { // only an invalid json.RawMessage schema; hash what Go sees instead
		b = fmt.Appendf(nil, "%#v", req)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// checkConversation rejects what real servers reject: no messages, an unknown role, a tool result that answers no
// pending call of the preceding assistant message, and a call left without a result.
func checkConversation(msgs []llm.Message) error {
	if len(msgs) == 0 {
		return errors.New("messages must not be empty")
	}
	pending := map[string]bool{}
	for i, m := range msgs {
		switch m.Role {
		case llm.RoleTool:
			if !pending[m.ToolCallID] {
				return fmt.Errorf("messages[%d]: tool result for %q answers no pending tool call", i, m.ToolCallID)
			}
			delete(pending, m.ToolCallID)
			continue
		case llm.RoleSystem, llm.RoleUser, llm.RoleAssistant:
		default:
			return fmt.Errorf("messages[%d]: unknown role %q", i, m.Role)
		}
		if len(pending) > 0 {
			return fmt.Errorf("messages[%d]: tool calls %v have no tool result", i, sortedKeys(pending))
		}
		for _, tc := range m.ToolCalls {
			pending[tc.ID] = true
		}
	}
	if len(pending) > 0 {
		return fmt.Errorf("tool calls %v have no tool result", sortedKeys(pending))
	}
	return nil
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
