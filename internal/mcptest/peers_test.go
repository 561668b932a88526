package mcptest

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// headerTransport adds one header to every request, as the gateway adds X-Agops-Agent.
type headerTransport struct{ name, value string }

func (h headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set(h.name, h.value)
	return http.DefaultTransport.RoundTrip(req)
}

// connect opens a go-sdk client session to url that sends X-Agops-Agent: agent.
func connect(ctx context.Context, t *testing.T, url, agent string) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "agops-mcptest", Version: "1.0.0"}, nil)
	tr := &mcp.StreamableClientTransport{
		Endpoint:             url,
		HTTPClient:           &http.Client{Transport: headerTransport{"X-Agops-Agent", agent}},
		DisableStandaloneSSE: true,
	}
	cs, err := client.Connect(ctx, tr, nil)
	if err != nil {
		t.Fatalf("connecting to %s: %v", url, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// callText calls a tool and returns its text, failing the test on an error or an error result.
func callText(ctx context.Context, t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) string {
	t.Helper()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("calling %s: %v", name, err)
	}
	var texts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			texts = append(texts, tc.Text)
		}
	}
	if res.IsError {
		t.Fatalf("calling %s: error result %q", name, texts)
	}
	return strings.Join(texts, "\n")
}

// toolCase is one call of the shared tool set, with the answer and the recorded arguments it must give.
type toolCase struct {
	tool string
	args map[string]any
	want string
}

var toolCases = []toolCase{
	{"echo", map[string]any{"message": "hello"}, "hello"},
	{"add", map[string]any{"a": 2.0, "b": 3.5}, "5.5"},
	{"read_file", map[string]any{"path": "/etc/passwd"}, "would read /etc/passwd"},
	{"delete_all", map[string]any{}, "deleted"},
	{"whoami", map[string]any{}, "agent-7"},
}

// TestRecordingServers drives the TypeScript SDK and Go SDK servers with the go-sdk client: both list the same
// five tools, answer each call, and record exactly the calls they executed.
func TestRecordingServers(t *testing.T) {
	t.Parallel()
	servers := map[string]func(*testing.T) (string, Recorder){
		"ts-sdk": func(t *testing.T) (string, Recorder) { s := StartTSServer(t); return s.URL, s },
		"go-sdk": func(t *testing.T) (string, Recorder) { s := StartGoServer(t); return s.URL, s },
	}
	for name, start := range servers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			url, rec := start(t)
			checkRecordingServer(t, url, rec)
		})
	}
}

func checkRecordingServer(t *testing.T, url string, rec Recorder) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs := connect(ctx, t, url, "agent-7")
	list, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range list.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	if want := []string{"add", "delete_all", "echo", "read_file", "whoami"}; !slices.Equal(names, want) {
		t.Errorf("tools = %v, want %v", names, want)
	}
	for _, tc := range toolCases {
		if got := callText(ctx, t, cs, tc.tool, tc.args); got != tc.want {
			t.Errorf("%s answered %q, want %q", tc.tool, got, tc.want)
		}
	}
	calls, err := rec.Calls()
	if err != nil {
		t.Fatal(err)
	}
	checkCalls(t, calls)
}

func checkCalls(t *testing.T, calls []Call) {
	t.Helper()
	if len(calls) != len(toolCases) {
		t.Fatalf("recorded %d calls, want %d: %+v", len(calls), len(toolCases), calls)
	}
	for i, tc := range toolCases {
		c := calls[i]
		var args map[string]any
		if err := json.Unmarshal(c.Arguments, &args); err != nil {
			t.Errorf("call %d: arguments %s: %v", i, c.Arguments, err)
		}
		if c.Tool != tc.tool || !reflect.DeepEqual(args, tc.args) || c.ContentType != "application/json" ||
			c.Agent != "agent-7" {
			t.Errorf("call %d = {%s %s %q %q}, want {%s %v application/json agent-7}", i, c.Tool, c.Arguments,
				c.ContentType, c.Agent, tc.tool, tc.args)
		}
	}
}

// TestReferenceServerWithGoClient checks that the go-sdk client speaks to the reference server: the gateway's
// attack suite drives all three servers the same way.
func TestReferenceServerWithGoClient(t *testing.T) {
	t.Parallel()
	s := StartEverything(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs := connect(ctx, t, s.URL, "agent-7")
	if got := callText(ctx, t, cs, "echo", map[string]any{"message": "hello"}); got != "Echo: hello" {
		t.Errorf("echo answered %q", got)
	}
}

func TestParseCalls(t *testing.T) {
	t.Parallel()
	calls, err := ParseCalls(strings.NewReader(`{"tool":"echo","arguments":{"message":"x"},"contentType":"a/b"}` +
		"\n\n" + `{"tool":"add","arguments":{"a":1,"b":2}}` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || calls[0].Tool != "echo" || calls[0].ContentType != "a/b" || string(calls[1].Arguments) != `{"a":1,"b":2}` {
		t.Errorf("calls = %+v", calls)
	}
	if _, err := ParseCalls(strings.NewReader("{\"tool\":\"echo\"}\nnot json\n")); err == nil ||
		!strings.Contains(err.Error(), "line 2") {
		t.Errorf("a broken line gives %v, want an error naming line 2", err)
	}
}

func FuzzParseCalls(f *testing.F) {
	f.Add([]byte(`{"tool":"echo","arguments":{"message":"x"},"contentType":"application/json"}` + "\n"))
	f.Add([]byte("\n\n{}\n"))
	f.Add([]byte(`{"tool":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		calls, err := ParseCalls(strings.NewReader(string(data)))
		if err != nil && calls != nil {
			t.Errorf("an error came with calls: %v", err)
		}
	})
}
