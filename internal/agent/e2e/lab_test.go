package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.temporal.io/sdk/client"

	"github.com/agops/agops/internal/agent/activities"
	"github.com/agops/agops/internal/agent/worker"
	"github.com/agops/agops/internal/devserver"
	"github.com/agops/agops/internal/devserver/embedded"
	"github.com/agops/agops/internal/gateway"
	"github.com/agops/agops/internal/llmtest"
	"github.com/agops/agops/internal/team"
)

const (
	workerToken = "worker-token-0123456789abcdef"
	workerAgent = "lab/agent-worker"
)

// lab is everything a durable run needs, real and on loopback: an embedded Temporal server on a SQLite file, the
// agops gateway (real policy, real audit log, static tokens) in front of a real MCP tool server, and a scripted
// OpenAI-compatible model server.
type lab struct {
	t        testing.TB
	dir      string
	temporal *embedded.Server
	client   client.Client
	tools    *toolServer
	model    *llmtest.Server
	gwURL    string // agents' address
	admin    *gateway.AdminClient
	audit    string
}

func newLab(t testing.TB, script llmtest.Script) *lab {
	t.Helper()
	l := &lab{t: t, dir: t.TempDir()}
	l.tools = newToolServer(t)
	l.model = llmtest.New(t, script)
	l.startGateway()
	port, err := devserver.FreeBase()
	if err != nil {
		t.Fatal(err)
	}
	l.temporal, err = embedded.Start(t.Context(), devserver.Options{DBFile: filepath.Join(l.dir, "temporal.db"), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.temporal.Stop() })
	l.client, err = client.Dial(client.Options{HostPort: l.temporal.HostPort(), Logger: devserver.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.client.Close)
	return l
}

const policyYAML = `apiVersion: agops.dev/v1alpha1
kind: FleetPolicy
metadata: {name: lab}
spec:
  servers:
    - {name: tools, url: "%s/mcp", kind: mcp}
  agents:
    - name: lab/agent-worker
      grants:
        - {server: tools, tools: [echo, note, slow-note]}
        - server: tools
          tools: [deploy]
          approval: {timeout: 10m}
`

// startGateway runs `agops gateway` (gateway.Run) in this process on free loopback ports.
func (l *lab) startGateway() {
	pol := filepath.Join(l.dir, "policy.yaml")
	tokens := filepath.Join(l.dir, "tokens")
	write(l.t, pol, fmt.Sprintf(policyYAML, l.tools.URL))
	write(l.t, tokens, workerToken+" "+workerAgent+"\n")
	l.audit = filepath.Join(l.dir, "audit.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- gateway.Run(ctx, gateway.RunOptions{PolicyFile: pol, Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0",
			AuditLog: l.audit, ApprovalDir: l.audit + ".approvals", IdempotencyDir: l.audit + ".keys",
			Auth: "static", TokensFile: tokens,
			AdminTokensFile: l.audit + ".admin-tokens", CreateAdminTokens: true, AdminName: "alice",
			Ready: func(p, a net.Addr) { ready <- [2]net.Addr{p, a} }})
	}()
	select {
	case addrs := <-ready:
		l.gwURL = "http://" + addrs[0].String()
		tok, _, err := gateway.FirstToken(l.audit + ".admin-tokens")
		if err != nil {
			l.t.Fatal(err)
		}
		l.admin = &gateway.AdminClient{BaseURL: "http://" + addrs[1].String(), Token: tok}
	case err := <-done:
		l.t.Fatalf("gateway: %v", err)
	}
	l.t.Cleanup(func() {
		cancel()
		<-done
	})
}

// activities returns activities wired to the lab, transcripts in dir.
func (l *lab) activities() *activities.Activities {
	return &activities.Activities{
		Store: &activities.FileStore{Dir: filepath.Join(l.dir, "transcripts")},
		Tools: &activities.Gateway{BaseURL: l.gwURL, Token: func() (string, error) { return workerToken, nil }},
	}
}

// startWorker runs a worker in this process until the test ends.
func (l *lab) startWorker() {
	w := worker.New(l.client, l.activities(), worker.Options{})
	if err := w.Start(); err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(w.Stop)
}

// team parses a team document whose models point at the lab's model server.
func (l *lab) team(doc string) *team.Team {
	l.t.Helper()
	tm, err := team.Parse([]byte(strings.ReplaceAll(doc, "MODEL_URL", l.model.URL())))
	if err != nil {
		l.t.Fatalf("team: %v", err)
	}
	return tm
}

func write(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// toolServer is a real MCP server (go-sdk, Streamable HTTP) whose tools count their side effects.
type toolServer struct {
	*httptest.Server
	mu      sync.Mutex
	ran     map[string]int
	delay   time.Duration // slow-note's duration
	entered chan string   // slow-note announces each start
}

type textIn struct {
	Text string `json:"text"`
}

func newToolServer(t testing.TB) *toolServer {
	ts := &toolServer{ran: map[string]int{}, delay: 3 * time.Second, entered: make(chan string, 16)}
	srv := mcp.NewServer(&mcp.Implementation{Name: "lab-tools", Version: "v1"}, nil)
	add := func(name, desc string, f func(in textIn) string) {
		mcp.AddTool(srv, &mcp.Tool{Name: name, Description: desc},
			func(ctx context.Context, _ *mcp.CallToolRequest, in textIn) (*mcp.CallToolResult, any, error) {
				text := f(in)
				ts.mu.Lock()
				ts.ran[name]++
				ts.mu.Unlock()
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil, nil
			})
	}
	add("echo", "echoes text", func(in textIn) string { return "echo: " + in.Text })
	add("note", "writes a note (a side effect)", func(in textIn) string { return "noted: " + in.Text })
	add("deploy", "deploys (needs approval)", func(in textIn) string { return "deployed " + in.Text })
	add("slow-note", "writes a note, slowly", func(in textIn) string {
		ts.entered <- in.Text
		time.Sleep(ts.delay)
		return "noted slowly: " + in.Text
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{JSONResponse: true})
	mux := http.NewServeMux()
	mux.Handle("/mcp", h)
	mux.Handle("/mcp/tools", h) // the gateway's path layout, for calls that bypass the gateway (benchmarks)
	ts.Server = httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

func (ts *toolServer) runs(tool string) int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.ran[tool]
}
