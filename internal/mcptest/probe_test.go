package mcptest

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/binary"
	"net/http"
	"testing"
	"time"
	"unicode/utf16"
)

// call is a tools/call request body.
func call(name, args string) []byte {
	return []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"` + name + `","arguments":` + args + `}}`)
}

// utf7HiddenCall reads as a call of echo in UTF-8, and as a call of the denied tool in UTF-7.
func utf7HiddenCall(n toolNames) []byte { return UTF7SmuggledCall(n.deny) }

// utf7HiddenName names a tool no policy lists in UTF-8 ("+AGQAZQ...-") and the denied tool in UTF-7.
func utf7HiddenName(n toolNames) []byte { return call(UTF7Hide(n.deny), `{}`) }

// utf7HiddenPath gives a path under /srv/data in UTF-8 and /srv/data/../../etc/shadow in UTF-7.
func utf7HiddenPath(n toolNames) []byte {
	return call(n.path, `{"`+n.pathArg+`":"/srv/data/`+UTF7Hide("../../")+`etc/shadow"}`)
}

func echoHi(toolNames) []byte { return call("echo", `{"message":"hi"}`) }

func utf16LE(b []byte) []byte {
	var out []byte
	for _, u := range utf16.Encode([]rune(string(b))) {
		out = binary.LittleEndian.AppendUint16(out, u)
	}
	return out
}

func utf16BEWithBOM(b []byte) []byte {
	out := []byte{0xFE, 0xFF}
	for _, u := range utf16.Encode([]rune(string(b))) {
		out = binary.BigEndian.AppendUint16(out, u)
	}
	return out
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

func zlibbed(b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

// ct builds a header with one or more Content-Type lines (none for no arguments).
func ct(values ...string) http.Header {
	if len(values) == 0 {
		return http.Header{}
	}
	return http.Header{"Content-Type": values}
}

// bodyProbe is one request sent to every server after a proper initialize, with what each server did with it
// (see rawSession.probe): the record of the three servers' real behaviour.
type bodyProbe struct {
	name string
	hdr  http.Header
	body func(toolNames) []byte
	want map[string]string // by server: reference, ts-sdk, go-sdk
}

func w(ref, ts, gosdk string) map[string]string {
	return map[string]string{"reference": ref, "ts-sdk": ts, "go-sdk": gosdk}
}

var bodyProbes = []bodyProbe{
	{"baseline", ct("application/json"), echoHi, w(
		`200 answered "Echo: hi"`,
		`200 ran echo {"message":"hi"}`,
		`200 ran echo {"message":"hi"}`)},
	{"utf7-hidden-call", ct("application/json; charset=utf-7"), utf7HiddenCall, w(
		`200 answered "Echo: x+ACIAfQAsACIAbgBhAG0AZQAiADoAIgBnAGUAdAAtAHQAaQBuAHkA..."`,
		`200 ran delete_all {}`,
		`200 ran echo {"message":"x+ACIAfQAsACIAbgBhAG0AZQAiADoAIgBkAGUAbABlAHQAZQBfAGEAbABsACIALAAiAGEAcgBnAHUAbQBlAG4AdABzACIAOgB7ACIAeAAiADoAIg-"}`)},
	{"utf7-hidden-name", ct("application/json; charset=utf-7"), utf7HiddenName, w(
		`200 tool error "MCP error -32602: Tool +AGcAZQB0AC0AdABpAG4AeQAtAGkAbQBhAGcA..."`,
		`200 ran delete_all {}`,
		`200 ran nothing: error -32602`)},
	{"utf7-hidden-path", ct("application/json; charset=utf-7"), utf7HiddenPath, w(
		`200 answered "Echo: /srv/data/+AC4ALgAvAC4ALgAv-etc/shadow"`,
		`200 ran read_file {"path":"/srv/data/../../etc/shadow"}`,
		`200 ran read_file {"path":"/srv/data/+AC4ALgAvAC4ALgAv-etc/shadow"}`)},
	{"utf7-hidden-call-as-utf8", ct("application/json"), utf7HiddenCall, w(
		`200 answered "Echo: x+ACIAfQAsACIAbgBhAG0AZQAiADoAIgBnAGUAdAAtAHQAaQBuAHkA..."`,
		`200 ran echo {"message":"x+ACIAfQAsACIAbgBhAG0AZQAiADoAIgBkAGUAbABlAHQAZQBfAGEAbABsACIALAAiAGEAcgBnAHUAbQBlAG4AdABzACIAOgB7ACIAeAAiADoAIg-"}`,
		`200 ran echo {"message":"x+ACIAfQAsACIAbgBhAG0AZQAiADoAIgBkAGUAbABlAHQAZQBfAGEAbABsACIALAAiAGEAcgBnAHUAbQBlAG4AdABzACIAOgB7ACIAeAAiADoAIg-"}`)},
	{"latin1", ct("application/json; charset=latin1"), func(toolNames) []byte {
		return call("echo", "{\"message\":\"caf\xe9\"}")
	}, w(
		"200 answered \"Echo: caf\ufffd\"",
		`415 ran nothing: no reply`,
		"200 ran echo {\"message\":\"caf\ufffd\"}")},
	{"iso-8859-1", ct("application/json; charset=iso-8859-1"), echoHi, w(
		`200 answered "Echo: hi"`,
		`415 ran nothing: no reply`,
		`200 ran echo {"message":"hi"}`)},
	{"utf-16le", ct("application/json; charset=utf-16le"), func(n toolNames) []byte { return utf16LE(echoHi(n)) },
		w(
			`400 error -32700`,
			`200 ran echo {"message":"hi"}`,
			`400 ran nothing: no reply`)},
	{"utf-16-bom-be", ct("application/json; charset=utf-16"), func(n toolNames) []byte {
		return utf16BEWithBOM(echoHi(n))
	}, w(
		`400 error -32700`,
		`200 ran echo {"message":"hi"}`,
		`400 ran nothing: no reply`)},
	{"utf-8-bom", ct("application/json"), func(n toolNames) []byte {
		return append([]byte("\xEF\xBB\xBF"), echoHi(n)...)
	}, w(
		`200 answered "Echo: hi"`,
		`200 ran echo {"message":"hi"}`,
		`400 ran nothing: no reply`)},
	{"gzip", http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}},
		func(n toolNames) []byte { return gzipped(echoHi(n)) }, w(
			`400 error -32700`,
			`200 ran echo {"message":"hi"}`,
			`400 ran nothing: no reply`)},
	{"deflate", http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"deflate"}},
		func(n toolNames) []byte { return zlibbed(echoHi(n)) }, w(
			`400 error -32700`,
			`200 ran echo {"message":"hi"}`,
			`400 ran nothing: no reply`)},
	{"duplicate-name-key", ct("application/json"), func(n toolNames) []byte {
		return []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"},` +
			`"name":"` + n.deny + `","arguments":{}}}`)
	}, w(
		`200 answered "Here's the image you requested:"`,
		`200 ran delete_all {}`,
		`200 ran delete_all {}`)},
	{"case-variant-key", ct("application/json"), func(n toolNames) []byte {
		return []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"` + n.deny +
			`","Name":"echo","arguments":{}}}`)
	}, w(
		`200 answered "Here's the image you requested:"`,
		`200 ran delete_all {}`,
		`200 ran delete_all {}`)},
	{"escaped-key-and-value", ct("application/json"), func(n toolNames) []byte {
		return []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"na\u006de":"` + escapeFirst(n.deny) +
			`","arguments":{}}}`)
	}, w(
		`200 answered "Here's the image you requested:"`,
		`200 ran delete_all {}`,
		`200 ran delete_all {}`)},
	{"lone-surrogate", ct("application/json"), func(toolNames) []byte {
		return call("echo", `{"message":"a\ud800b"}`)
	}, w(
		"200 answered \"Echo: a\ufffdb\"",
		`200 ran echo {"message":"a\ud800b"}`,
		"200 ran echo {\"message\":\"a\ufffdb\"}")},
	{"big-integer", ct("application/json"), func(n toolNames) []byte {
		return call(n.add, `{"a":9007199254740993,"b":0}`)
	}, w(
		`200 answered "The sum of 9007199254740992 and 0 is 9007199254740992."`,
		`200 ran add {"a":9007199254740992,"b":0}`,
		`200 ran add {"a":9007199254740992,"b":0}`)},
	{"number-1e400", ct("application/json"), func(n toolNames) []byte { return call(n.add, `{"a":1e400,"b":1}`) },
		w(
			`200 tool error "MCP error -32602: Input validation error: Invalid arguments ..."`,
			`200 ran nothing: tool error "MCP error -32602: Input validation error: Invalid arguments ..."`,
			`200 ran nothing: tool error "validating \"arguments\": unmarshaling arguments: json: cannot..."`)},
	{"batch", ct("application/json"), func(n toolNames) []byte {
		return []byte(`[` + string(echoHi(n)) + `,{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"` +
			n.deny + `","arguments":{}}}]`)
	}, w(
		`200 answered "Echo: hi"; answered "Here's the image you requested:"`,
		`200 ran echo {"message":"hi"}; delete_all {}`,
		`400 ran nothing: no reply`)},
	{"no-content-type", ct(), echoHi, w(
		`415 error -32000`,
		`415 ran nothing: error -32000`,
		`415 ran nothing: no reply`)},
	{"content-type-twice-json-first", ct("application/json", "text/plain"), echoHi, w(
		`415 error -32000`,
		`415 ran nothing: error -32000`,
		`200 ran echo {"message":"hi"}`)},
	{"content-type-twice-json-last", ct("text/plain", "application/json"), echoHi, w(
		`415 error -32000`,
		`415 ran nothing: error -32000`,
		`415 ran nothing: no reply`)},
	{"content-type-twice-utf7-first", ct("application/json; charset=utf-7", "application/json"), utf7HiddenCall,
		w(
			`415 error -32000`,
			`415 ran nothing: error -32000`,
			`200 ran echo {"message":"x+ACIAfQAsACIAbgBhAG0AZQAiADoAIgBkAGUAbABlAHQAZQBfAGEAbABsACIALAAiAGEAcgBnAHUAbQBlAG4AdABzACIAOgB7ACIAeAAiADoAIg-"}`)},
	{"content-type-twice-utf7-last", ct("application/json", "application/json; charset=utf-7"), utf7HiddenCall,
		w(
			`415 error -32000`,
			`415 ran nothing: error -32000`,
			`200 ran echo {"message":"x+ACIAfQAsACIAbgBhAG0AZQAiADoAIgBkAGUAbABlAHQAZQBfAGEAbABsACIALAAiAGEAcgBnAHUAbQBlAG4AdABzACIAOgB7ACIAeAAiADoAIg-"}`)},
	{"session-id-twice-valid-first", http.Header{"Content-Type": {"application/json"},
		"Mcp-Session-Id": {"$SID", "not-a-session"}}, echoHi, w(
		`400 error -32000`,
		`404 ran nothing: error -32001`,
		`200 ran echo {"message":"hi"}`)},
	{"session-id-twice-valid-last", http.Header{"Content-Type": {"application/json"},
		"Mcp-Session-Id": {"not-a-session", "$SID"}}, echoHi, w(
		`400 error -32000`,
		`404 ran nothing: error -32001`,
		`404 ran nothing: no reply`)},
	{"agent-header-twice", http.Header{"Content-Type": {"application/json"},
		"X-Agops-Agent": {"alice", "bob"}}, func(n toolNames) []byte { return call(n.whoami, `{}`) }, w(
		`200 answered "Here's the image you requested:"`,
		`200 ran whoami {} as alice, bob`,
		`200 ran whoami {} as alice`)},
	{"session-id-twice-same", http.Header{"Content-Type": {"application/json"},
		"Mcp-Session-Id": {"$SID", "$SID"}}, echoHi, w(
		`400 error -32000`,
		`404 ran nothing: error -32001`,
		`200 ran echo {"message":"hi"}`)},
}

// escapeFirst writes the first letter of s as a \u escape.
func escapeFirst(s string) string {
	return `\u00` + hexByte(s[0]) + s[1:]
}

func hexByte(b byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&15]})
}

// TestBodyParsing records how the reference server, the TypeScript SDK server (Express helper) and the Go SDK
// server read request bodies and headers a gateway might read differently. Every probe runs in a fresh session,
// so a probe that breaks a session cannot change the next one's outcome.
func TestBodyParsing(t *testing.T) {
	t.Parallel()
	ref, ts, gosdk := StartEverything(t), StartTSServer(t), StartGoServer(t)
	peers := []*rawPeer{
		{name: "reference", url: ref.URL, tools: referenceTools},
		{name: "ts-sdk", url: ts.URL, rec: ts, tools: testTools},
		{name: "go-sdk", url: gosdk.URL, rec: gosdk, tools: testTools},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, p := range bodyProbes {
		t.Run(p.name, func(t *testing.T) {
			for _, peer := range peers {
				s := openRaw(ctx, t, peer)
				got := s.probe(ctx, t, p.body(peer.tools), p.hdr)
				if want := p.want[peer.name]; got != want {
					t.Errorf("%s: %s\n   want %s", peer.name, got, want)
				}
			}
		})
	}
}
