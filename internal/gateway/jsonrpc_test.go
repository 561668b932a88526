package gateway

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestParseMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		body   string
		code   int // 0: valid
		method string
		tool   string
	}{
		{name: "valid-call", body: echoCall, method: "tools/call", tool: "echo"},
		{name: "valid-string-id", body: `{"jsonrpc":"2.0","id":"a","method":"tools/list"}`, method: "tools/list"},
		{name: "valid-notification", body: `{"jsonrpc":"2.0","method":"notifications/initialized"}`,
			method: "notifications/initialized"},
		{name: "valid-response", body: `{"jsonrpc":"2.0","id":3,"result":{}}`},
		{name: "valid-escaped-name", body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\u0435cho"}}`,
			method: "tools/call", tool: "\u0435cho"},
		{name: "valid-null-arguments", method: "tools/call", tool: "echo",
			body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":null}}`},
		{name: "invalid-empty", body: ` `, code: codeParseError},
		{name: "invalid-trailing-garbage", body: echoCall + `x`, code: codeParseError},
		{name: "invalid-two-values", body: echoCall + echoCall, code: codeParseError},
		{name: "invalid-batch", body: `[` + echoCall + `]`, code: codeInvalidRequest},
		{name: "invalid-scalar", body: `42`, code: codeInvalidRequest},
		{name: "invalid-version", body: `{"jsonrpc":"1.0","id":1,"method":"ping"}`, code: codeInvalidRequest},
		{name: "invalid-unknown-member", body: `{"jsonrpc":"2.0","id":1,"method":"ping","x":1}`, code: codeInvalidRequest},
		{name: "invalid-object-id", body: `{"jsonrpc":"2.0","id":{},"method":"ping"}`, code: codeInvalidRequest},
		{name: "invalid-null-id", body: `{"jsonrpc":"2.0","id":null,"method":"ping"}`, code: codeInvalidRequest},
		{name: "invalid-request-without-id", body: `{"jsonrpc":"2.0","method":"ping"}`, code: codeInvalidRequest},
		{name: "invalid-notification-with-id", body: `{"jsonrpc":"2.0","id":1,"method":"notifications/x"}`,
			code: codeInvalidRequest},
		{name: "invalid-result-and-error", body: `{"jsonrpc":"2.0","id":1,"result":{},"error":{}}`,
			code: codeInvalidRequest},
		{name: "invalid-method-number", body: `{"jsonrpc":"2.0","id":1,"method":1}`, code: codeInvalidRequest},
		{name: "invalid-deep", body: strings.Repeat(`[`, 200) + strings.Repeat(`]`, 200), code: codeInvalidRequest},
		{name: "invalid-long-s-key", code: codeInvalidRequest,
			body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","argument\u017f":{}}}`},
		{name: "invalid-name-variant", code: codeInvalidRequest,
			body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"Name":"echo"}}`},
		{name: "invalid-array-arguments", code: codeInvalidRequest,
			body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":[]}}`},
		{name: "invalid-number-name", code: codeInvalidRequest,
			body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":1}}`},
	} {
		m, err := parseMessage([]byte(tc.body))
		if err == nil && m.Method == "tools/call" {
			var tcall toolCall
			tcall, err = parseToolCall(m.Params)
			if err == nil && tcall.Name != tc.tool {
				t.Errorf("%s: tool %q, want %q", tc.name, tcall.Name, tc.tool)
			}
		}
		switch {
		case tc.code == 0 && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.code != 0 && (err == nil || err.Code != tc.code):
			t.Errorf("%s: error %v, want code %d", tc.name, err, tc.code)
		case tc.code == 0 && m.Method != tc.method:
			t.Errorf("%s: method %q", tc.name, m.Method)
		}
	}
}

func TestFoldKey(t *testing.T) {
	t.Parallel()
	for _, same := range [][2]string{{"name", "NAME"}, {"k", "\u212a"}, {"s", "\u017f"}, {"Method", "mEthod"}} {
		if foldKey(same[0]) != foldKey(same[1]) {
			t.Errorf("%q and %q fold apart", same[0], same[1])
		}
	}
	if foldKey("name") == foldKey("nam") || foldKey("\u0435") == foldKey("e") {
		t.Error("different keys fold together")
	}
}

// FuzzParseMessage: whatever the gateway accepts, the go-sdk (the upstream's decoder) reads the same way: same
// method, same tool name. A differential here would let a call be judged as one thing and run as another.
func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{
		echoCall,
		`{"jsonrpc":"2.0","id":1,"method":"tools/list","Method":"tools/call"}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","NAME":"b"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\u0061\ud800"}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`,
		`{"jsonrpc":"2.0","id":2,"result":{"tools":[]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := parseMessage(body)
		if err != nil || m.Response {
			return
		}
		msg, derr := jsonrpc.DecodeMessage(body)
		if derr != nil {
			return // the upstream refuses it too
		}
		req, ok := msg.(*jsonrpc.Request)
		if !ok || req.Method != m.Method {
			t.Fatalf("gateway read method %q, go-sdk %#v", m.Method, msg)
		}
		if m.Method != "tools/call" {
			return
		}
		tc, terr := parseToolCall(m.Params)
		if terr != nil {
			return
		}
		var p mcp.CallToolParams
		if json.Unmarshal(req.Params, &p) == nil && p.Name != tc.Name {
			t.Fatalf("gateway read tool %q, go-sdk %q", tc.Name, p.Name)
		}
	})
}
