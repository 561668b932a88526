package mcptest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// GoServer is the Go SDK test server running on a loopback httptest server.
type GoServer struct {
	// URL is its Streamable HTTP endpoint, http://127.0.0.1:PORT/mcp.
	URL string
	log *callLog
}

// Calls returns the tools/calls the server executed, oldest first.
func (s *GoServer) Calls() ([]Call, error) { return s.log.Calls() }

// StartGoServer starts the Go SDK server on a loopback port and closes it when the test ends.
func StartGoServer(t testing.TB) *GoServer {
	t.Helper()
	h, s := NewGoHandler()
	mux := http.NewServeMux()
	mux.Handle("/mcp", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/mcp"
	return s
}

// NewGoHandler returns a stateful Streamable HTTP handler (Mcp-Session-Id sessions, as the SDK's examples do) for
// a go-sdk server with the test tools, and the GoServer that records its calls (its URL is left for the caller).
func NewGoHandler() (http.Handler, *GoServer) {
	s := &GoServer{log: &callLog{}}
	server := newGoMCPServer(s.log)
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	return h, s
}

type echoIn struct {
	Message string `json:"message"`
}

type addIn struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

type pathIn struct {
	Path string `json:"path"`
}

type noIn struct{}

func newGoMCPServer(log *callLog) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "agops-go-sdk-server", Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Returns the message"}, tool(log, "echo",
		func(_ *mcp.CallToolRequest, in echoIn) string { return in.Message }))
	mcp.AddTool(s, &mcp.Tool{Name: "add", Description: "Returns a+b"}, tool(log, "add",
		func(_ *mcp.CallToolRequest, in addIn) string { return strconv.FormatFloat(in.A+in.B, 'g', -1, 64) }))
	mcp.AddTool(s, &mcp.Tool{Name: "read_file", Description: "Pretends to read a file"}, tool(log, "read_file",
		func(_ *mcp.CallToolRequest, in pathIn) string { return "would read " + in.Path }))
	mcp.AddTool(s, &mcp.Tool{Name: "delete_all", Description: "Pretends to delete everything"}, tool(log, "delete_all",
		func(*mcp.CallToolRequest, noIn) string { return "deleted" }))
	mcp.AddTool(s, &mcp.Tool{Name: "whoami", Description: "Returns the X-Agops-Agent header"}, tool(log, "whoami",
		func(req *mcp.CallToolRequest, _ noIn) string { return header(req, "X-Agops-Agent") }))
	return s
}

// tool wraps a tool body that returns text: it records the call as the SDK decoded it, then answers.
func tool[In any](log *callLog, name string, body func(*mcp.CallToolRequest, In) string) mcp.ToolHandlerFor[In, any] {
	return func(_ context.Context, req *mcp.CallToolRequest, in In) (*mcp.CallToolResult, any, error) {
		log.add(name, in, header(req, "Content-Type"), header(req, "X-Agops-Agent"))
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: body(req, in)}}}, nil, nil
	}
}

// header returns the first value of an HTTP request header the tool call came with, or "".
func header(req *mcp.CallToolRequest, name string) string {
	if req.Extra == nil {
		return ""
	}
	return req.Extra.Header.Get(name)
}
