// Command mcpfleet is a test-only program that TestGatewayOnRealNodes packs as two images (TestToolkitOnRealNodes as
// a third: `mcpfleet stdio`, the same tools on standard input and output): `mcpfleet serve ADDR` is
// a tool server (an MCP Streamable HTTP endpoint at /mcp, built with the MCP go-sdk) that prints one JSON line per
// tool it ran; `mcpfleet agent` is an agent that calls tools at $MCP_URL once a second for ever, and prints one JSON
// line per call. It sends no token unless $MCP_TOKEN_FILE names one: an agent written for Compose, unchanged.
// Then it sends that file's token as `Authorization: Bearer`, as an agent written for the gateway does.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agops/agops/internal/gateway"
)

func main() {
	var err error
	switch {
	case len(os.Args) == 3 && os.Args[1] == "serve":
		err = serve(os.Args[2])
	case len(os.Args) == 2 && os.Args[1] == "stdio":
		err = serveStdio()
	case len(os.Args) == 2 && os.Args[1] == "agent":
		err = agent(os.Getenv("MCP_URL"), os.Getenv("MCP_TOKEN_FILE"))
	default:
		err = errors.New("usage: mcpfleet serve ADDR | mcpfleet stdio | mcpfleet agent")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mcpfleet:", err)
		os.Exit(1)
	}
}

// ran is what the tool server prints for each tool it ran.
type ran struct {
	Ran   string          `json:"ran"`
	Args  json.RawMessage `json:"args"`
	Agent string          `json:"agent"` // the X-Agops-Agent header the gateway sets
}

type echoIn struct {
	Message string `json:"message"`
}

type addIn struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

type noIn struct{}

func serve(addr string) error {
	mux := http.NewServeMux()
	s := newServer()
	mux.Handle("/mcp", mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	return http.ListenAndServe(addr, mux)
}

// serveStdio serves the same tools on standard input and output, as a catalog image of Docker's MCP gateway does
// (`mcpfleet stdio`, what TestToolkitOnRealNodes's mcp/fleet image runs); what it ran goes to standard error.
func serveStdio() error {
	ranTo = os.Stderr
	return newServer().Run(context.Background(), &mcp.StdioTransport{})
}

// ranTo receives the lines of what the tools ran.
var ranTo io.Writer = os.Stdout

func newServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "mcpfleet", Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Returns the message"}, tool("echo",
		func(in echoIn) string { return in.Message }))
	mcp.AddTool(s, &mcp.Tool{Name: "add", Description: "Returns a+b"}, tool("add",
		func(in addIn) string { return strconv.FormatFloat(in.A+in.B, 'g', -1, 64) }))
	mcp.AddTool(s, &mcp.Tool{Name: "delete_all", Description: "Pretends to delete everything"}, tool("delete_all",
		func(noIn) string { return "deleted" }))
	return s
}

// tool prints each run, then answers with body's text.
func tool[In any](name string, body func(In) string) mcp.ToolHandlerFor[In, any] {
	return func(_ context.Context, req *mcp.CallToolRequest, in In) (*mcp.CallToolResult, any, error) {
		r := ran{Ran: name, Args: req.Params.Arguments}
		if req.Extra != nil && req.Extra.Header != nil {
			r.Agent = req.Extra.Header.Get("X-Agops-Agent")
		}
		line, _ := json.Marshal(r)
		fmt.Fprintln(ranTo, string(line))
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: body(in)}}}, nil, nil
	}
}

// call is what the agent prints for each call (or connection attempt).
type call struct {
	I    int       `json:"i"`
	At   time.Time `json:"at"`
	Op   string    `json:"op"`
	OK   bool      `json:"ok,omitempty"`
	Text string    `json:"text,omitempty"`
	Code int64     `json:"code,omitempty"` // a gateway refusal: its JSON-RPC code and rule
	Rule string    `json:"rule,omitempty"`
	Err  string    `json:"err,omitempty"` // any other failure
}

// bearer adds the gateway token, read anew for each request (the kubelet rotates it).
type bearer struct{ file string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	tok, err := os.ReadFile(b.file)
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	return http.DefaultTransport.RoundTrip(r)
}

// agent calls, each second: echo and add(2, 3) (which the test's policy allows), add(5000, 1) (an argument it
// denies) and delete_all (a tool it denies). It opens a new session whenever a call fails other than by a policy
// refusal: the gateway went away, or came back without the session.
func agent(url, tokenFile string) error {
	if url == "" {
		return errors.New("MCP_URL must be set")
	}
	var rt http.RoundTripper = http.DefaultTransport
	if tokenFile != "" {
		rt = bearer{tokenFile}
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpfleet-agent", Version: "1.0.0"}, nil)
	var session *mcp.ClientSession
	for i := 1; ; i++ {
		time.Sleep(time.Second)
		if session == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			s, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url,
				HTTPClient: &http.Client{Transport: rt}, MaxRetries: -1}, nil)
			cancel()
			if err != nil {
				report(call{I: i, Op: "connect", Err: err.Error()})
				continue
			}
			session = s
		}
		for _, p := range []mcp.CallToolParams{
			{Name: "echo", Arguments: map[string]any{"message": fmt.Sprintf("hello-%d", i)}},
			{Name: "add", Arguments: map[string]any{"a": 2, "b": 3}},
			{Name: "add", Arguments: map[string]any{"a": 5000, "b": 1}},
			{Name: "delete_all", Arguments: map[string]any{}},
		} {
			if !callOnce(session, i, p) {
				_ = session.Close()
				session = nil
				break
			}
		}
	}
}

// callOnce makes one call and prints it; false when the session should be dropped.
func callOnce(s *mcp.ClientSession, i int, p mcp.CallToolParams) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	op := p.Name
	if p.Name == "add" {
		b, _ := json.Marshal(p.Arguments)
		op += string(b)
	}
	res, err := s.CallTool(ctx, &p)
	c := call{I: i, Op: op}
	switch code, data, ok := gateway.ErrorDataOf(err); {
	case err == nil && !res.IsError && len(res.Content) == 1:
		c.OK = true
		if t, isText := res.Content[0].(*mcp.TextContent); isText {
			c.Text = t.Text
		}
	case err == nil:
		c.Err = fmt.Sprintf("tool error: %+v", res.Content)
	case ok:
		c.Code, c.Rule = code, data.Rule
	default:
		c.Err = err.Error()
	}
	report(c)
	return c.Err == "" && !strings.HasPrefix(c.Rule, "gateway:")
}

func report(c call) {
	c.At = time.Now().UTC()
	line, _ := json.Marshal(c)
	fmt.Println(string(line))
}
