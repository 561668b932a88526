package mcptest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// protocolVersion is the version the raw sessions negotiate; all three servers support it.
const protocolVersion = "2025-06-18"

// toolNames maps the roles a probe needs to a server's tools: the reference server has no delete_all or
// read_file, so a harmless tool of its own stands in (the answer still shows which tool ran).
type toolNames struct {
	deny, add, path, pathArg, whoami string
}

var (
	testTools      = toolNames{deny: "delete_all", add: "add", path: "read_file", pathArg: "path", whoami: "whoami"}
	referenceTools = toolNames{deny: "get-tiny-image", add: "get-sum", path: "echo", pathArg: "message",
		whoami: "get-tiny-image"}
)

// rawPeer is a running server probed with hand-made HTTP requests.
type rawPeer struct {
	name  string
	url   string
	rec   Recorder // nil for the reference server, which records nothing: its answers show what it ran
	tools toolNames
}

// rawSession is one initialized MCP session on a peer.
type rawSession struct {
	peer *rawPeer
	sid  string
}

// openRaw initializes a session the way a client does: initialize, then notifications/initialized.
func openRaw(ctx context.Context, t *testing.T, p *rawPeer) *rawSession {
	t.Helper()
	s := &rawSession{peer: p}
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"` + protocolVersion +
		`","capabilities":{},"clientInfo":{"name":"agops-probe","version":"1"}}}`
	resp, body, err := s.do(ctx, []byte(init), http.Header{"Content-Type": {"application/json"}})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: initialize: %v %s", p.name, err, body)
	}
	s.sid = resp.Header.Get("Mcp-Session-Id")
	if s.sid == "" {
		t.Fatalf("%s: initialize gave no Mcp-Session-Id", p.name)
	}
	note := `{"jsonrpc":"2.0","method":"notifications/initialized"}`
	resp, body, err = s.do(ctx, []byte(note), http.Header{"Content-Type": {"application/json"}})
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("%s: notifications/initialized: %v %s", p.name, err, body)
	}
	return s
}

// do POSTs body with the session's headers (Accept, Mcp-Session-Id, MCP-Protocol-Version) and then hdr, whose
// values replace them; "$SID" in a value stands for the session ID.
func (s *rawSession) do(ctx context.Context, body []byte, hdr http.Header) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.peer.url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json, text/event-stream")
	if s.sid != "" {
		req.Header.Set("Mcp-Session-Id", s.sid)
		req.Header.Set("Mcp-Protocol-Version", protocolVersion)
	}
	for k, vs := range hdr {
		req.Header.Del(k)
		for _, v := range vs {
			req.Header.Add(k, strings.ReplaceAll(v, "$SID", s.sid))
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, out, err
}

// probe sends one request and says what the server did with it: "STATUS ran TOOL ARGS" from a recording
// server's calls, or "STATUS answered ..." from the reference server's reply.
func (s *rawSession) probe(ctx context.Context, t *testing.T, body []byte, hdr http.Header) string {
	t.Helper()
	before := s.calls(t)
	resp, out, err := s.do(ctx, body, hdr)
	if err != nil {
		t.Fatalf("%s: %v", s.peer.name, err)
	}
	t.Logf("%s: %d %s", s.peer.name, resp.StatusCode, summary(out))
	if s.peer.rec == nil {
		return fmt.Sprintf("%d %s", resp.StatusCode, answered(out))
	}
	after := s.calls(t)
	if len(after) == len(before) {
		return fmt.Sprintf("%d ran nothing: %s", resp.StatusCode, answered(out))
	}
	var ran []string
	for _, c := range after[len(before):] {
		r := c.Tool + " " + string(c.Arguments)
		if c.Agent != "" {
			r += " as " + c.Agent
		}
		ran = append(ran, r)
	}
	return fmt.Sprintf("%d ran %s", resp.StatusCode, strings.Join(ran, "; "))
}

func (s *rawSession) calls(t *testing.T) []Call {
	t.Helper()
	if s.peer.rec == nil {
		return nil
	}
	calls, err := s.peer.rec.Calls()
	if err != nil {
		t.Fatal(err)
	}
	return calls
}

// rpcReply is the part of a JSON-RPC response a probe looks at.
type rpcReply struct {
	Result *struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		IsError bool `json:"isError"`
	} `json:"result"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// replies finds the JSON-RPC messages in an answer, whether a JSON body or an SSE stream.
func replies(out []byte) []rpcReply {
	var msgs [][]byte
	if t := bytes.TrimSpace(out); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		msgs = append(msgs, t)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if data, ok := bytes.CutPrefix(sc.Bytes(), []byte("data:")); ok {
			msgs = append(msgs, bytes.Clone(bytes.TrimSpace(data))) // the scanner reuses its buffer
		}
	}
	var rs []rpcReply
	for _, m := range msgs {
		var r rpcReply
		if json.Unmarshal(m, &r) == nil && (r.Result != nil || r.Error != nil) {
			rs = append(rs, r)
		}
	}
	return rs
}

// answered describes a reply: for each JSON-RPC response in it, the first text of a result (for the reference
// server it names the tool that ran: "Echo: ...", "The sum of ...", "Here's the image ..."), a tool error's text,
// or a JSON-RPC error code; "no reply" when there is none.
func answered(out []byte) string {
	var parts []string
	for _, r := range replies(out) {
		switch {
		case r.Error != nil:
			parts = append(parts, fmt.Sprintf("error %d", r.Error.Code))
		case len(r.Result.Content) == 0:
			parts = append(parts, "empty result")
		case r.Result.IsError:
			parts = append(parts, fmt.Sprintf("tool error %q", clip(r.Result.Content[0].Text, 60)))
		default:
			parts = append(parts, fmt.Sprintf("answered %q", clip(r.Result.Content[0].Text, 60)))
		}
	}
	if len(parts) == 0 {
		return "no reply"
	}
	slices.Sort(parts) // a batch's replies may come in any order
	return strings.Join(parts, "; ")
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// summary shortens an answer for the test log.
func summary(out []byte) string {
	return clip(strings.Join(strings.Fields(string(out)), " "), 200)
}
