package gateway

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func allowOnly(names ...string) func(string) bool {
	return func(n string) bool {
		for _, x := range names {
			if n == x {
				return true
			}
		}
		return false
	}
}

func TestEventsFilterToolLists(t *testing.T) {
	t.Parallel()
	list := `{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo","description":"a <b>"},{"name":"delete_all"}],"nextCursor":"c"}}`
	progress := `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}`
	in := ": keep-alive\n\n" +
		"event: message\nid: s_1\ndata: " + progress + "\n\n" +
		"event: message\r\nid: s_2\r\ndata: " + list + "\r\n\r\n" +
		"id: s_3\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\ndata: \"result\":{\"Tools\":[{\"name\":\"delete_all\"}]}}\n\n" +
		"data: " + list // unterminated last event
	rl := &relay{maxEvent: 1 << 20, allowed: allowOnly("echo")}
	var out bytes.Buffer
	if err := rl.events(&out, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if strings.Contains(got, "delete_all") {
		t.Errorf("a hidden tool went through:\n%s", got)
	}
	for _, want := range []string{
		": keep-alive\n\n",
		"event: message\nid: s_1\ndata: " + progress + "\n\n", // byte-for-byte
		"event: message\r\nid: s_2\r\ndata: ",
		`"description":"a <b>"`,
		`"nextCursor":"c"`,
		"id: s_3\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, `"name":"echo"`) != 2 {
		t.Errorf("the allowed tool is missing from a list:\n%s", got)
	}
}

func TestEventsReadTheCallResult(t *testing.T) {
	t.Parallel()
	res := `{"jsonrpc":"2.0","id":"7","result":{"content":[],"_meta":{"usage":{"totalTokens":42}}}}`
	other := `{"jsonrpc":"2.0","id":"8","result":{"content":[],"isError":true}}`
	rl := &relay{maxEvent: 1 << 20, allowed: allowOnly(), callID: json.RawMessage(`"7"`)}
	var out bytes.Buffer
	if err := rl.events(&out, strings.NewReader("data: "+other+"\n\ndata: "+res+"\n\n")); err != nil {
		t.Fatal(err)
	}
	if !rl.found || rl.out.status != "ok" || rl.out.tokens != 42 {
		t.Errorf("found %v outcome %+v", rl.found, rl.out)
	}
	if out.String() != "data: "+other+"\n\ndata: "+res+"\n\n" {
		t.Errorf("a result was altered:\n%s", out.String())
	}
}

func TestEventsLimit(t *testing.T) {
	t.Parallel()
	rl := &relay{maxEvent: 100, allowed: allowOnly()}
	err := rl.events(&bytes.Buffer{}, strings.NewReader("data: "+strings.Repeat("x", 200)+"\n\n"))
	if err == nil {
		t.Error("an event over the limit went through")
	}
}

func TestInspectResult(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]outcome{
		`{"id":1,"result":{"_meta":{"usage":{"totalTokens":5}}}}`:         {status: "ok", tokens: 5},
		`{"id":1,"result":{"usage":{"total_tokens":9}}}`:                  {status: "ok", tokens: 9},
		`{"id":1,"result":{"usage":{"total_tokens":-9}}}`:                 {status: "ok"},
		`{"id":1,"result":{"usage":"many"}}`:                              {status: "ok"},
		`{"id":1,"result":{"isError":true,"usage":{"total_tokens":2.0}}}`: {status: "error", tokens: 2},
		`{"id":1,"error":{"code":1,"message":"x"}}`:                       {status: "error"},
	} {
		var top map[string]json.RawMessage
		if err := json.Unmarshal([]byte(body), &top); err != nil {
			t.Fatal(err)
		}
		if got := inspectResult(top); got != want {
			t.Errorf("%s: %+v, want %+v", body, got, want)
		}
	}
}

func TestIDEqual(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		eq   bool
	}{{`1`, `1`, true}, {`1`, `1.0`, true}, {`"1"`, `1`, false}, {`"a"`, `"\u0061"`, true}, {`2`, `3`, false}} {
		if idEqual(json.RawMessage(tc.a), json.RawMessage(tc.b)) != tc.eq {
			t.Errorf("%s vs %s", tc.a, tc.b)
		}
	}
}

// FuzzEvents: whatever an upstream streams, a tool the caller may not see never survives the filter (a second pass
// over the output must not meet it), and the relay never fails on input within the limit.
func FuzzEvents(f *testing.F) {
	for _, s := range []string{
		"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"hidden\"},{\"name\":\"echo\"}]}}\n\n",
		"event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\ndata: \"result\":{\"TOOLS\":[{\"name\":\"hidden\"}]}}\r\n\r\n",
		"data: [{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"hidden\"}]}}]",
		": comment\n\nid: 1\ndata: {\"result\":{\"tools\":[{\"Name\":\"hidden\",\"name\":\"echo\"}]}}\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		first := &relay{maxEvent: 1 << 20, allowed: allowOnly("echo")}
		var out bytes.Buffer
		if err := first.events(&out, bytes.NewReader(in)); err != nil {
			t.Fatal(err)
		}
		second := &relay{maxEvent: 1 << 20, allowed: func(n string) bool {
			if n != "echo" {
				t.Fatalf("tool %q survived the filter in %q", n, out.String())
			}
			return true
		}}
		if err := second.events(&bytes.Buffer{}, bytes.NewReader(out.Bytes())); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzEndpointEvents: whatever an HTTP+SSE tool server streams, every "endpoint" event the client can read carries
// the gateway's endpoint, never the server's (a second pass over the output meets no other), and the relay never
// fails on input within the limit.
func FuzzEndpointEvents(f *testing.F) {
	for _, s := range []string{
		"event: endpoint\ndata: /sse?sessionid=abc\n\n",
		"event:endpoint\r\ndata: http://evil.example/x\r\n\r\nevent: endpoint\ndata: /again\n\n",
		"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\nevent: endpoint\ndata: a\ndata: b\n\n",
		"data: x\nevent: endpoint\n\n",
	} {
		f.Add([]byte(s))
	}
	const mine = "/mcp/tools?agops_session=S"
	f.Fuzz(func(t *testing.T, in []byte) {
		first := &relay{maxEvent: 1 << 20, allowed: allowOnly("echo"),
			onEndpoint: func([]byte) ([]byte, error) { return []byte(mine), nil }}
		var out bytes.Buffer
		if err := first.events(&out, bytes.NewReader(in)); err != nil {
			t.Fatal(err)
		}
		second := &relay{maxEvent: 1 << 20, allowed: allowOnly("echo"), onEndpoint: func(data []byte) ([]byte, error) {
			if string(data) != mine {
				t.Fatalf("endpoint %q survived in %q", data, out.String())
			}
			return data, nil
		}}
		if err := second.events(&bytes.Buffer{}, bytes.NewReader(out.Bytes())); err != nil {
			t.Fatal(err)
		}
	})
}

// A tool result resumed on a GET stream (its POST stream broke; Last-Event-Id replays it there) still counts its
// tokens: an agent cannot dodge tokensPerDay by dropping its POST streams.
func TestStrayResultTokensCount(t *testing.T) {
	t.Parallel()
	var counted []int64
	rl := &relay{maxEvent: 1 << 20, allowed: allowOnly("echo"), onStray: func(n int64) { counted = append(counted, n) }}
	in := "id: s_1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n" +
		"id: s_2\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[],\"_meta\":{\"usage\":{\"totalTokens\":40}}}}\n\n" +
		"id: s_3\ndata: {\"jsonrpc\":\"2.0\",\"id\":8,\"result\":{\"content\":[],\"usage\":{\"total_tokens\":2}}}\n\n" +
		"id: s_4\ndata: {\"jsonrpc\":\"2.0\",\"id\":9,\"result\":{\"content\":[]}}\n\n"
	var out bytes.Buffer
	if err := rl.events(&out, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if len(counted) != 2 || counted[0] != 40 || counted[1] != 2 {
		t.Errorf("tokens counted %v, want [40 2]", counted)
	}
	if out.String() != in {
		t.Errorf("the stream changed:\n%s", out.String())
	}
}
