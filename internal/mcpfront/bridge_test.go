package mcpfront_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agops/agops/internal/mcpfront"
	"github.com/agops/agops/internal/mcptest"
)

// childEnv makes this test binary a stdio MCP server (see TestMain): the server a catalog image would run.
const childEnv = "AGOPS_MCPFRONT_STDIO_SERVER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(runStdioServer(mode))
	}
	os.Exit(m.Run())
}

type echoIn struct {
	Message string `json:"message" jsonschema:"what to echo"`
}

// runStdioServer serves echo (and, after a call of grow, also grown) on stdin and stdout, as a go-sdk server does
// under `docker run -i`. Mode "die-on-call" exits on the first tools/call: a server that crashes.
func runStdioServer(mode string) int {
	s := mcp.NewServer(&mcp.Implementation{Name: "stdio-echo", Version: "v1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "echoes"}, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		if mode == "die-on-call" {
			os.Exit(3)
		}
		if in.Message == "fail" {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "failed as asked"}}}, nil, nil
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "echo: " + in.Message}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "env", Description: "the value of a variable"}, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: os.Getenv(in.Message)}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "grow", Description: "adds a tool"}, func(_ context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		mcp.AddTool(s, &mcp.Tool{Name: "grown"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "grown"}}}, nil, nil
		})
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "grew"}}}, nil, nil
	})
	if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startBridge runs argv behind a bridge on a loopback port and returns a client session to it.
func startBridge(t *testing.T, argv []string, env ...string) (*mcp.ClientSession, chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		t.Setenv(k, v)
	}
	b, err := mcpfront.StartBridge(ctx, mcpfront.BridgeOptions{Argv: argv, Stderr: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- b.Serve(ctx, l) }()
	c := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "v1"}, nil)
	s, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: "http://" + l.Addr().String() + "/mcp", MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, served
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func toolNames(t *testing.T, s *mcp.ClientSession) []string {
	t.Helper()
	var names []string
	for tool, err := range s.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

func text(r *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range r.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// TestBridgeServesAStdioServer: a Go SDK server on stdio, served over Streamable HTTP: its tools and their schemas
// listed, calls answered, a tool error kept a tool error, arguments the server refuses refused by the server, and a
// tool the server adds later served after its tools/list_changed.
func TestBridgeServesAStdioServer(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s, _ := startBridge(t, []string{self}, childEnv+"=serve")
	if got := toolNames(t, s); !slices.Equal(got, []string{"echo", "env", "grow"}) {
		t.Fatalf("tools %q, want echo, env and grow", got)
	}
	for tool, err := range s.Tools(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		if tool.Name == "echo" {
			schema, _ := json.Marshal(tool.InputSchema)
			if !strings.Contains(string(schema), `"message"`) {
				t.Errorf("echo's schema lost its properties: %s", schema)
			}
		}
	}
	ctx := context.Background()
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "hi"}})
	if err != nil || res.IsError || text(res) != "echo: hi" {
		t.Fatalf("echo: %v %+v", err, res)
	}
	res, err = s.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "fail"}})
	if err != nil || !res.IsError || text(res) != "failed as asked" {
		t.Errorf("a tool error: %v %+v", err, res)
	}
	// The server validates its own input: a wrong type is refused there, not passed as something else.
	res, err = s.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": 42}})
	if err == nil && (res == nil || !res.IsError) {
		t.Errorf("a number for a string was accepted: %+v", res)
	}
	if _, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "missing"}); err == nil {
		t.Error("a tool nobody offers was called")
	}
	if _, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "grow"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(toolNames(t, s), "grown") {
		if time.Now().After(deadline) {
			t.Fatalf("the tool the server added is not served: %q", toolNames(t, s))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "grown"}); err != nil || text(res) != "grown" {
		t.Errorf("grown: %v %+v", err, res)
	}
}

// TestBridgeEndsWithItsServer: when the stdio server dies, Serve returns an error, so that the container restarts.
func TestBridgeEndsWithItsServer(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s, served := startBridge(t, []string{self}, childEnv+"=die-on-call")
	_, _ = s.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "x"}})
	select {
	case err := <-served:
		if err == nil || !strings.Contains(err.Error(), "ended") {
			t.Errorf("Serve returned %v, want the server's end", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the bridge still serves a dead server")
	}
}

// TestBridgeServesTheReferenceServer: the MCP reference server (server-everything, from npm) in its stdio mode, as
// a catalog image runs it, behind the bridge.
func TestBridgeServesTheReferenceServer(t *testing.T) {
	if testing.Short() {
		t.Skip("installs the reference server from npm")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir, err := mcptest.Install(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := startBridge(t, []string{dir.Bin("mcp-server-everything"), "stdio"})
	names := toolNames(t, s)
	if !slices.Contains(names, "echo") || len(names) < 5 {
		t.Fatalf("tools %q: want the reference server's", names)
	}
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "through the bridge"}})
	if err != nil || !strings.Contains(text(res), "through the bridge") {
		t.Fatalf("echo: %v %+v", err, res)
	}
}

// TestImageCommand reads an image's entrypoint and cmd from a registry (go-containerregistry's registry, on
// loopback), as the bridge does for a catalog image.
func TestImageCommand(t *testing.T) {
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	img, err := mutate.Config(empty.Image, v1.Config{Entrypoint: []string{"python", "-m", "server"}, Cmd: []string{"--stdio"}})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(u.Host + "/mcp/duckduckgo:latest")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	argv, err := mcpfront.ImageCommand(context.Background(), ref.String())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(argv, []string{"python", "-m", "server", "--stdio"}) {
		t.Errorf("argv %q", argv)
	}
	bare, _ := mutate.Config(empty.Image, v1.Config{})
	bareRef, _ := name.ParseReference(u.Host + "/mcp/bare:1")
	if err := remote.Write(bareRef, bare); err != nil {
		t.Fatal(err)
	}
	if _, err := mcpfront.ImageCommand(context.Background(), bareRef.String()); err == nil || !strings.Contains(err.Error(), "no entrypoint") {
		t.Errorf("an image without a command: %v", err)
	}
	if _, err := mcpfront.ImageCommand(context.Background(), u.Host+"/mcp/absent:1"); err == nil {
		t.Error("an absent image gave a command")
	}
}

// TestSecretEnv: a secrets file of Docker's MCP gateway as the servers' variables; a bad line is named by its number,
// never by its content.
func TestSecretEnv(t *testing.T) {
	env, err := mcpfront.SecretEnv(strings.NewReader("# keys of the catalog\ngithub.personal_access_token=ghp_x\r\n\nbrave.api-key = \"b k\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"GITHUB_PERSONAL_ACCESS_TOKEN=ghp_x", "BRAVE_API_KEY=b k"}; !slices.Equal(env, want) {
		t.Errorf("env %q, want %q", env, want)
	}
	_, err = mcpfront.SecretEnv(strings.NewReader("ok=1\nthe-secret-value-alone\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") || strings.Contains(err.Error(), "the-secret-value-alone") {
		t.Errorf("a bad line: %v", err)
	}
}

// TestBridgePassesSecrets: the variables the bridge is given reach the server's process.
func TestBridgePassesSecrets(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(childEnv, "serve")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, err := mcpfront.StartBridge(ctx, mcpfront.BridgeOptions{Argv: []string{self}, Stderr: testWriter{t}, Env: []string{"BRAVE_API_KEY=from-the-file"}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.Serve(ctx, l) }()
	s, err := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "v1"}, nil).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: "http://" + l.Addr().String() + "/mcp", MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "env", Arguments: map[string]any{"message": "BRAVE_API_KEY"}})
	if err != nil || text(res) != "from-the-file" {
		t.Errorf("the server's BRAVE_API_KEY: %v %+v", err, res)
	}
}

// FuzzSecretEnv: any file gives variables or an error, never a panic; every variable is NAME=VALUE with a name
// that holds no '=' and no dot.
func FuzzSecretEnv(f *testing.F) {
	f.Add("github.personal_access_token=x\n# c\n")
	f.Add("a=b=c\nnot a line")
	f.Fuzz(func(t *testing.T, data string) {
		env, err := mcpfront.SecretEnv(strings.NewReader(data))
		if err != nil {
			return
		}
		for _, kv := range env {
			name, _, ok := strings.Cut(kv, "=")
			if !ok || name == "" || strings.Contains(name, ".") {
				t.Fatalf("variable %q from %q", kv, data)
			}
		}
	})
}
