package gateway

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agops/agops/internal/mcptest"
	"github.com/agops/agops/internal/policy"
)

// The red team's attacks on the body (issue 13, finding 1 and 4), run through a gateway with a real policy in front
// of three real MCP servers: the reference server from npm, a server built with the TypeScript SDK's Express helper
// (which decodes a body in the charset its Content-Type names, and inflates gzip), and one built with the Go SDK.
// Each attack must be refused or judged on exactly what the server would run, audited, and the forbidden tool must
// never run; allowed calls keep working throughout.

const redteamPolicy = `apiVersion: agops.dev/v1alpha1
kind: FleetPolicy
metadata: {name: redteam}
spec:
  servers:
    - {name: tools, url: %q, kind: mcp}
  agents:
    - name: lab/agent-a
      grants:
        - server: tools
          tools: [echo, get-sum, add]
        - server: tools
          tools: [read_file]
          when: '!args.path.contains("..")'
`

// redteamTarget is a real MCP server behind the gateway.
type redteamTarget struct {
	name      string
	url       string
	echoArg   string          // the name of echo's argument
	forbidden string          // a tool the server has and the policy does not grant
	recorder  mcptest.Recorder // nil: the server records nothing (the reference server)
}

func redteamTargets(t *testing.T) []redteamTarget {
	ts, gs, ref := mcptest.StartTSServer(t), mcptest.StartGoServer(t), mcptest.StartEverything(t)
	return []redteamTarget{
		{name: "typescript-sdk-express", url: ts.URL, echoArg: "message", forbidden: "delete_all", recorder: ts},
		{name: "go-sdk", url: gs.URL, echoArg: "message", forbidden: "delete_all", recorder: gs},
		{name: "reference", url: ref.URL, echoArg: "message", forbidden: "get-env"},
	}
}

func TestRedTeamBodies(t *testing.T) {
	t.Parallel()
	for _, tg := range redteamTargets(t) {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			redteamBodies(t, tg)
		})
	}
}

// rawClient speaks MCP over raw HTTP through the gateway, with one session.
type rawClient struct {
	t       *testing.T
	url     string
	session string
}

func (c *rawClient) post(body []byte, header http.Header) (int, string) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tokenA)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	if c.session != "" {
		req.Header.Set("Mcp-Session-Id", c.session)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" && c.session == "" {
		c.session = sid
	}
	return resp.StatusCode, string(b)
}

func (c *rawClient) initialize() {
	c.t.Helper()
	code, body := c.post([]byte(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18",`+
		`"capabilities":{},"clientInfo":{"name":"redteam","version":"1"}}}`), nil)
	if code != http.StatusOK || c.session == "" {
		c.t.Fatalf("initialize: %d %s", code, body)
	}
	if code, body := c.post([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`), nil); code/100 != 2 {
		c.t.Fatalf("initialized: %d %s", code, body)
	}
}

func rtCall(id int, name, args string) []byte {
	return []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, id, name, args))
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func redteamBodies(t *testing.T, tg redteamTarget) {
	p, err := policy.Parse([]byte(fmt.Sprintf(redteamPolicy, tg.url)))
	if err != nil {
		t.Fatal(err)
	}
	aud := &memAudit{}
	gw, err := New(Options{Policy: p, Authenticator: writeTokens(t), AdminAuthenticator: writeApprovers(t), Audit: aud,
		ApprovalDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(srv.Close)
	c := &rawClient{t: t, url: srv.URL + "/mcp/tools"}
	c.initialize()
	echo := rtCall(1, "echo", fmt.Sprintf(`{%q:"still here"}`, tg.echoArg))
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	for _, tc := range []struct {
		name   string
		body   []byte
		header http.Header
		status int    // the HTTP status
		rule   string // audited and answered
	}{
		{"utf7-smuggled-call", mcptest.UTF7SmuggledCall(tg.forbidden), hdr("Content-Type", "application/json; charset=utf-7"),
			415, "gateway:content-type"},
		{"utf7-hidden-traversal", []byte(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"read_file",` +
			`"arguments":{"path":"/srv/data/` + mcptest.UTF7Hide("../../") + `etc/shadow"}}}`),
			hdr("Content-Type", "application/json; charset=UTF-7"), 415, "gateway:content-type"},
		{"utf16-charset", echo, hdr("Content-Type", "application/json; charset=utf-16le"), 415, "gateway:content-type"},
		{"latin1-charset", echo, hdr("Content-Type", "application/json;charset=latin1"), 415, "gateway:content-type"},
		{"text-plain", echo, hdr("Content-Type", "text/plain"), 415, "gateway:content-type"},
		{"gzip-coding", gzipped(rtCall(3, tg.forbidden, `{}`)), hdr("Content-Encoding", "gzip"), 415, "gateway:content-type"},
		{"content-type-twice", echo, hdr("Content-Type", "application/json", "Content-Type", "application/json; charset=utf-7"),
			400, "gateway:invalid-request"},
		{"session-id-twice", echo, hdr("Mcp-Session-Id", c.session, "Mcp-Session-Id", "someone-elses"), 400,
			"gateway:invalid-request"},
		{"duplicate-name", []byte(`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","name":"` +
			tg.forbidden + `","arguments":{}}}`), nil, 400, "gateway:invalid-request"},
		{"case-variant-name", []byte(`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"` + tg.forbidden +
			`","Name":"echo","arguments":{}}}`), nil, 400, "gateway:invalid-request"},
		{"nul-in-name", []byte(`{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"` + tg.forbidden +
			`\u0000","arguments":{}}}`), nil, 400, "gateway:invalid-request"},
		{"lone-surrogate", rtCall(7, "echo", fmt.Sprintf(`{%q:"a\ud800b"}`, tg.echoArg)), nil, 400, "gateway:invalid-request"},
		{"unsafe-integer", rtCall(8, "add", `{"a":9007199254740993,"b":1}`), nil, 400, "gateway:invalid-request"},
		{"number-overflow", rtCall(9, "add", `{"a":1e400,"b":1}`), nil, 400, "gateway:invalid-request"},
		{"batch", []byte(`[` + string(echo) + `,` + string(rtCall(10, tg.forbidden, `{}`)) + `]`), nil, 400,
			"gateway:invalid-request"},
		{"byte-order-mark", append([]byte("\xef\xbb\xbf"), rtCall(11, tg.forbidden, `{}`)...), nil, 400, "gateway:parse-error"},
		// Judged on what the server reads: the escapes are decoded before the policy sees the name.
		{"escaped-forbidden-name", []byte(`{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"` +
			fmt.Sprintf(`\u%04x`, tg.forbidden[0]) + tg.forbidden[1:] + `","arguments":{}}}`), nil, 200, "default-deny"},
		{"nested-traversal", rtCall(13, "read_file", `{"path":"a/..\u002f../etc/shadow"}`), nil, 200, "default-deny"},
		{"method-override-header", echo, hdr("X-Http-Method-Override", "DELETE"), 200, ""},
	} {
		before := len(aud.records())
		code, body := c.post(tc.body, tc.header)
		if code != tc.status || (tc.rule != "" && !strings.Contains(body, tc.rule)) {
			t.Errorf("%s: %d %s, want %d naming %s", tc.name, code, body, tc.status, tc.rule)
		}
		if tc.rule != "" && !hasDenySince(aud, before, tc.rule) {
			t.Errorf("%s: no deny record with rule %s", tc.name, tc.rule)
		}
		// The gateway keeps serving allowed calls.
		if code, body := c.post(echo, nil); code != http.StatusOK || !strings.Contains(body, "still here") {
			t.Fatalf("after %s, an allowed call: %d %s", tc.name, code, body)
		}
	}
	if tg.recorder == nil {
		return
	}
	calls, err := tg.recorder.Calls()
	if err != nil {
		t.Fatal(err)
	}
	for _, call := range calls {
		if call.Tool != "echo" || call.ContentType != "application/json" || !bytes.Contains(call.Arguments, []byte("still here")) {
			t.Errorf("the server ran %s %s (Content-Type %q): only the canonical echo calls should reach it",
				call.Tool, call.Arguments, call.ContentType)
		}
	}
}

func hasDenySince(aud *memAudit, from int, rule string) bool {
	for _, r := range aud.records()[from:] {
		if r.Decision == "deny" && r.Rule == rule {
			return true
		}
	}
	return false
}

// The forwarded body is the canonical form of what was judged: members sorted, escapes decoded, whitespace gone.
func TestForwardedBodyIsCanonical(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[3])
	body := []byte("{ \"params\" : {\"arguments\":{\"text\":\"h\\u0069\"}, \"name\":\"ech\\u006f\"},\n" +
		"\"method\":\"tools/call\", \"id\": 1, \"jsonrpc\":\"2.0\"}")
	r := e.mustCall(tokenA, string(body), nil)
	if r.Error != nil || !strings.Contains(r.text(), "echo: hi") {
		t.Fatalf("call: %s %+v", r.text(), r.Error)
	}
	got := e.up.lastBody()
	want := `{"id":1,"jsonrpc":"2.0","method":"tools/call","params":{"arguments":{"text":"hi"},"name":"echo"}}`
	if got != want {
		t.Errorf("forwarded %s\nwant      %s", got, want)
	}
	var v map[string]any
	if json.Unmarshal([]byte(got), &v) != nil {
		t.Error("forwarded body is not JSON")
	}
}
