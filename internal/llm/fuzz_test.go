package llm

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecodeResponse: the decoder never panics, and what it accepts survives a JSON round trip of the Response
// (what durable workflows store) unchanged.
func FuzzDecodeResponse(f *testing.F) {
	f.Add([]byte(`{"id":"x","model":"m","choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`))
	f.Add([]byte(`{"choices":[{"message":{"content":null,"tool_calls":[{"id":"c","function":{"name":"f","arguments":{"a":[1,2]}}}]}}]}`))
	f.Add([]byte(`{"choices":[{"message":{"content":[{"type":"text","text":"a"},{"type":"image_url"}]}}]}`))
	f.Add([]byte(`{"error":"model not found"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := decodeResponse(data, "key")
		if err != nil {
			return
		}
		enc, err := json.Marshal(resp)
		if err != nil {
			t.Fatalf("encoding %+v: %v", resp, err)
		}
		var back Response
		if err := json.Unmarshal(enc, &back); err != nil {
			t.Fatalf("decoding %s: %v", enc, err)
		}
		if !reflect.DeepEqual(normal(back), normal(resp)) {
			t.Fatalf("round trip changed the response\n got %+v\nwant %+v", back, resp)
		}
	})
}

// normal makes an empty tool call list nil: omitempty drops it either way.
func normal(r Response) Response {
	if len(r.Message.ToolCalls) == 0 {
		r.Message.ToolCalls = nil
	}
	return r
}

// FuzzParseAPIError: any error body gives a bounded APIError that never shows the key.
func FuzzParseAPIError(f *testing.F) {
	const secret = "sk-fuzz-secret"
	f.Add(429, []byte(`{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}`))
	f.Add(404, []byte(`{"error":"model not found"}`))
	f.Add(400, []byte(`{"object":"error","message":"too long","type":"BadRequestError","code":400}`))
	f.Add(502, []byte("<html>Bad Gateway</html>"))
	f.Add(401, []byte(`{"error":{"message":"bad key sk-fuzz-secret"}}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := parseAPIError(status, body, secret)
		msg := e.Error()
		if strings.Contains(msg, secret) {
			t.Fatalf("error shows the key: %q", msg)
		}
		if len(e.Message) > messageMax+len("…") || len(e.Type) > wordMax+len("…") || len(e.Code) > wordMax+len("…") {
			t.Fatalf("unbounded error: %d/%d/%d bytes", len(e.Message), len(e.Type), len(e.Code))
		}
		if e.Retryable != retryableStatus(status) {
			t.Fatalf("status %d: Retryable %v", status, e.Retryable)
		}
	})
}
