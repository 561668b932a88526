package gateway

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestAllowedCallGoesThrough(t *testing.T) {
	t.Parallel()
	for _, mode := range upstreamModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, mode)
			cs := e.connect(tokenA)
			res, err := callTool(cs, "echo", map[string]any{"text": "secret-value <b>"})
			if err != nil {
				t.Fatal(err)
			}
			if got := resultText(t, res); got != "echo: secret-value <b>" {
				t.Errorf("result %q", got)
			}
			if res.Meta["usage"] == nil {
				t.Errorf("_meta lost: %+v", res.Meta)
			}
			if e.up.runs("echo") != 1 {
				t.Errorf("upstream ran echo %d times", e.up.runs("echo"))
			}
			e.up.mu.Lock()
			h := e.up.headers
			e.up.mu.Unlock()
			if h.Get("Authorization") != "" || h.Get(agentHeader) != agentA {
				t.Errorf("upstream headers: Authorization %q, %s %q", h.Get("Authorization"), agentHeader, h.Get(agentHeader))
			}
			allow := e.aud.find("decision", "allow")
			results := e.aud.find("result", "")
			if len(allow) != 1 || len(results) != 1 {
				t.Fatalf("audit: %s", e.aud.dump())
			}
			if !strings.HasPrefix(allow[0].ArgsDigest, "sha256:") || allow[0].Tool != "echo" || allow[0].Caller != agentA {
				t.Errorf("decision record %+v", allow[0])
			}
			if results[0].Status != "ok" || results[0].Tokens != 7 {
				t.Errorf("result record %+v", results[0])
			}
			if strings.Contains(e.aud.dump(), "secret-value") {
				t.Error("an argument value reached the audit log")
			}
		})
	}
}

func TestToolsListFiltered(t *testing.T) {
	t.Parallel()
	for _, mode := range upstreamModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, mode)
			for token, want := range map[string][]string{
				tokenA: {"deploy", "echo", "read_file"},
				tokenB: {"read_file"},
			} {
				res, err := e.connect(token).ListTools(t.Context(), nil)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, tool := range res.Tools {
					got = append(got, tool.Name)
				}
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("token %s: tools %v, want %v", token[:14], got, want)
				}
			}
		})
	}
}

func TestStandaloneStreamPassesThrough(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[0])
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "v1"}, nil)
	tr := &mcp.StreamableClientTransport{Endpoint: e.mcpURL(), MaxRetries: -1,
		HTTPClient: clientWithToken(tokenA)}
	cs, err := client.Connect(t.Context(), tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := callTool(cs, "echo", map[string]any{"text": "x"})
	if err != nil || resultText(t, res) != "echo: x" {
		t.Fatalf("call with the standalone stream open: %v", err)
	}
}

func TestDigestIsCanonical(t *testing.T) {
	t.Parallel()
	a, _ := argsDigest(json.RawMessage(`{"b": 1, "a": "<x>"}`))
	b, _ := argsDigest(json.RawMessage(`{"a":"<x>","b":1}`))
	c, _ := argsDigest(json.RawMessage(`{"a":"<x>","b":2}`))
	if a != b || a == c || !strings.HasPrefix(a, "sha256:") {
		t.Errorf("digests %s %s %s", a, b, c)
	}
	null, _ := argsDigest(nil)
	if null != rawDigest([]byte("null")) {
		t.Errorf("absent arguments digest %s", null)
	}
}
