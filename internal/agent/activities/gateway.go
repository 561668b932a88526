package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agops/agops/internal/gateway"
)

// ToolGateway lists and calls MCP tools. Gateway is the real one; tests may put anything MCP-speaking behind it.
type ToolGateway interface {
	List(ctx context.Context, server string) ([]*mcp.Tool, error)
	// Call calls tool once per key: the gateway replays the recorded answer to a retry with the same key.
	Call(ctx context.Context, server, tool string, args map[string]any, key string) (Outcome, error)
}

// Outcome is what a tool call came to. An error from Call means the gateway could not be asked (worth a retry);
// a refusal by the gateway or the tool is an Outcome with IsError.
type Outcome struct {
	Text       string
	IsError    bool
	ApprovalID string // the gateway holds the call for a human; nothing ran
}

// Gateway reaches the tool servers through the agops gateway's MCP routes (BaseURL/mcp/SERVER) as one agent.
type Gateway struct {
	BaseURL string
	// Token returns the bearer token for each call; TokenFile reads one from a file every time (a projected
	// ServiceAccount token is rotated in place).
	Token func() (string, error)
	HTTP  *http.Client
}

var _ ToolGateway = (*Gateway)(nil)

// TokenFile returns a Token func that reads path (first line, trimmed) on every call.
func TokenFile(path string) func() (string, error) {
	return func() (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("gateway token: %w", err)
		}
		tok, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		if tok == "" {
			return "", fmt.Errorf("gateway token: %s is empty", path)
		}
		return tok, nil
	}
}

// headers adds the bearer token and fixed headers to every request of a session.
type headers struct {
	set  map[string]string
	next http.RoundTripper
}

func (h headers) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.set {
		r.Header.Set(k, v)
	}
	injectTrace(r.Context(), r.Header)
	return h.next.RoundTrip(r)
}

// session opens an MCP session to server through the gateway with extra headers.
func (g *Gateway) session(ctx context.Context, server string, extra map[string]string) (*mcp.ClientSession, error) {
	set := map[string]string{}
	for k, v := range extra {
		set[k] = v
	}
	if g.Token != nil {
		tok, err := g.Token()
		if err != nil {
			return nil, err
		}
		set["Authorization"] = "Bearer " + tok
	}
	base := http.DefaultTransport
	if g.HTTP != nil && g.HTTP.Transport != nil {
		base = g.HTTP.Transport
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "agops-worker", Version: "v1"}, nil)
	tr := &mcp.StreamableClientTransport{
		Endpoint: strings.TrimRight(g.BaseURL, "/") + "/mcp/" + server, MaxRetries: -1,
		HTTPClient: &http.Client{Transport: headers{set: set, next: base}},
	}
	cs, err := client.Connect(ctx, tr, nil)
	if err != nil {
		return nil, fmt.Errorf("connecting to tool server %s through the gateway: %w", server, err)
	}
	return cs, nil
}

// List implements ToolGateway: the tools the gateway lets this agent see on server.
func (g *Gateway) List(ctx context.Context, server string) ([]*mcp.Tool, error) {
	cs, err := g.session(ctx, server, nil)
	if err != nil {
		return nil, err
	}
	defer cs.Close()
	var tools []*mcp.Tool
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return nil, fmt.Errorf("listing the tools of %s: %w", server, err)
		}
		tools = append(tools, t)
	}
	return tools, nil
}

// Call implements ToolGateway. The gateway does not hold an approval-gated call: it answers at once with the
// approval's ID, and the run waits for the decision durably.
func (g *Gateway) Call(ctx context.Context, server, tool string, args map[string]any, key string) (Outcome, error) {
	cs, err := g.session(ctx, server, map[string]string{"Idempotency-Key": key, "X-Agops-Approval": "nowait"})
	if err != nil {
		return Outcome{}, err
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return refusal(err)
	}
	return Outcome{Text: resultText(res), IsError: res.IsError}, nil
}

// refusal turns a JSON-RPC error from the gateway into an Outcome the model is shown; other errors stay errors.
func refusal(err error) (Outcome, error) {
	if id, ok := gateway.PendingApproval(err); ok {
		return Outcome{ApprovalID: id}, nil
	}
	var rpcErr *jsonrpc.Error
	if errors.As(err, &rpcErr) {
		return Outcome{Text: "refused: " + rpcErr.Message, IsError: true}, nil
	}
	return Outcome{}, err
}

// resultText renders a tool result for the model: its text parts, or the JSON of anything else.
func resultText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, t.Text)
			continue
		}
		b, _ := json.Marshal(c)
		parts = append(parts, string(b))
	}
	if len(parts) == 0 && res.StructuredContent != nil {
		b, _ := json.Marshal(res.StructuredContent)
		parts = append(parts, string(b))
	}
	return strings.Join(parts, "\n")
}

// heartbeatEvery is how often a long call reports that its worker is alive.
func heartbeatEvery(timeout time.Duration) time.Duration {
	if timeout <= 0 {
		return 5 * time.Second
	}
	return max(timeout/3, 100*time.Millisecond)
}
