package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/agops/agops/internal/llm"
	"github.com/agops/agops/internal/llmtest"
)

const secret = "sk-live-SECRET-4f9a1c"

// serve starts an httptest server answering every request with h.
func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// TestChatToolRoundTrip runs a tool-calling turn and the answer after the tool result against the scripted server.
func TestChatToolRoundTrip(t *testing.T) {
	t.Parallel()
	srv := llmtest.New(t, llmtest.Script{
		{Agent: "weather agent", AfterTool: "get_weather", Content: "It is {{last_tool}}.", Usage: [2]int64{30, 4}},
		{Agent: "weather agent", ToolCalls: []llmtest.Call{{Name: "get_weather", Args: `{"city":"Oslo"}`}}},
	})
	c := srv.Client()
	ctx := context.Background()
	msgs := []llm.Message{
		{Role: llm.RoleSystem, Content: "You are the weather agent."},
		{Role: llm.RoleUser, Content: "Weather in Oslo?"},
	}
	tools := []llm.ToolDef{{Type: "function", Function: llm.FunctionDef{Name: "get_weather",
		Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}}}
	first, err := c.Chat(ctx, llm.Request{Model: "m", Messages: msgs, Tools: tools})
	if err != nil {
		t.Fatal(err)
	}
	if first.FinishReason != "tool_calls" || len(first.Message.ToolCalls) != 1 || first.Message.Content != "" {
		t.Fatalf("first turn: %+v", first)
	}
	call := first.Message.ToolCalls[0]
	args, err := call.Args()
	if err != nil || args["city"] != "Oslo" || call.Type != "function" || !strings.HasPrefix(call.ID, "call_") {
		t.Fatalf("tool call %+v, args %v, %v", call, args, err)
	}
	if u := first.Usage; u.PromptTokens <= 0 || u.CompletionTokens <= 0 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Errorf("computed usage %+v", u)
	}
	msgs = append(msgs, first.Message, llm.Message{Role: llm.RoleTool, ToolCallID: call.ID, Content: "sunny, 21°C"})
	second, err := c.Chat(ctx, llm.Request{Model: "m", Messages: msgs, Tools: tools})
	if err != nil {
		t.Fatal(err)
	}
	want := llm.Response{ID: second.ID, Model: "m", Message: llm.Message{Role: "assistant", Content: "It is sunny, 21°C."},
		FinishReason: "stop", Usage: llm.Usage{PromptTokens: 30, CompletionTokens: 4, TotalTokens: 34}}
	if second.ID == "" || second.ID == first.ID || !equalResponse(second, want) {
		t.Errorf("second turn: %+v\nwant %+v", second, want)
	}
	if srv.Count() != 2 || srv.Duplicates() != 0 {
		t.Errorf("server saw %d requests, %d duplicates; want 2, 0", srv.Count(), srv.Duplicates())
	}
}

func equalResponse(a, b llm.Response) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// TestChatWire checks what goes over the wire: the path, headers and body.
func TestChatWire(t *testing.T) {
	t.Parallel()
	temp := 0.2
	tests := []struct {
		name     string
		base     string // appended to the server URL
		opts     []llm.Option
		req      llm.Request
		wantAuth string
		wantBody string
	}{
		{"valid-no-key", "/v1", nil, llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Content: "hi"}}},
			"", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":false}`},
		{"valid-key-trailing-slash", "/v1/", []llm.Option{llm.WithAPIKey(secret), llm.WithUserAgent("t/1")},
			llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Content: "hi"}}, Temperature: &temp, MaxTokens: 9},
			"Bearer " + secret, `{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.2,"max_tokens":9,"stream":false}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			type seen struct {
				r    *http.Request
				body []byte
			}
			ch := make(chan seen, 1)
			url := serve(t, func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				ch <- seen{r, body}
				_, _ = io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":"ok"}}]}`)
			})
			resp, err := llm.New(url+tt.base, tt.opts...).Chat(context.Background(), tt.req)
			if err != nil || resp.Message.Content != "ok" {
				t.Fatalf("Chat: %+v, %v", resp, err)
			}
			s := <-ch
			got, body := s.r, s.body
			if got.Method != http.MethodPost || got.URL.Path != "/v1/chat/completions" {
				t.Errorf("%s %s, want POST /v1/chat/completions", got.Method, got.URL.Path)
			}
			if a := got.Header.Get("Authorization"); a != tt.wantAuth {
				t.Errorf("Authorization %q, want %q", a, tt.wantAuth)
			}
			if ct := got.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if string(body) != tt.wantBody {
				t.Errorf("body\n got %s\nwant %s", body, tt.wantBody)
			}
		})
	}
}

// TestChatErrors covers the error shapes servers send and which of them are retryable.
func TestChatErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		h         http.HandlerFunc
		wantAPI   int // status of the *APIError, 0: not an APIError
		wantText  string
		retryable bool
	}{
		{"invalid-openai-429", answer(429, `{"error":{"message":"Rate limit","type":"requests","code":"rate_limit_exceeded"}}`),
			429, "429 Too Many Requests: Rate limit (type requests, code rate_limit_exceeded)", true},
		{"invalid-ollama-404", answer(404, `{"error":"model 'x' not found"}`), 404, "model 'x' not found", false},
		{"invalid-plain-502", answer(502, "upstream connect error"), 502, "502 Bad Gateway: upstream connect error", true},
		{"invalid-400", answer(400, `{"error":{"message":"context too long","type":"invalid_request_error"}}`), 400,
			"context too long", false},
		{"invalid-409", answer(409, "busy"), 409, "busy", true},
		{"invalid-500-error-in-200", answer(200, `{"error":{"message":"overloaded"}}`), 200, "overloaded", false},
		{"invalid-no-choices", answer(200, `{"id":"x","choices":[]}`), 0, "response has no choices", false},
		{"invalid-malformed", answer(200, `{"choices":[{"message":`), 0, "malformed response", false},
		{"invalid-html-200", answer(200, `<html>`), 0, "malformed response", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := serve(t, tt.h)
			_, err := llm.New(url).Chat(context.Background(), llm.Request{Model: "m"})
			if err == nil || !strings.Contains(err.Error(), tt.wantText) || !strings.Contains(err.Error(), url) {
				t.Fatalf("error %v, want one naming %s and containing %q", err, url, tt.wantText)
			}
			var ae *llm.APIError
			if errors.As(err, &ae) != (tt.wantAPI != 0) || tt.wantAPI != 0 && ae.Status != tt.wantAPI {
				t.Errorf("error %#v, want an APIError with status %d", err, tt.wantAPI)
			}
			if llm.IsRetryable(err) != tt.retryable {
				t.Errorf("IsRetryable(%v) = %v, want %v", err, !tt.retryable, tt.retryable)
			}
		})
	}
}

// TestChatTransportErrors: an unreachable server and a dropped connection are retryable transport errors.
func TestChatTransportErrors(t *testing.T) {
	t.Parallel()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name string
		url  string
	}{
		{"invalid-refused", closed.URL},
		{"invalid-dropped", serve(t, func(w http.ResponseWriter, _ *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"cho")
				_ = conn.Close()
			}
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := llm.New(tt.url, llm.WithAPIKey(secret)).Chat(context.Background(), llm.Request{Model: "m"})
			var te *llm.TransportError
			if !errors.As(err, &te) || !llm.IsRetryable(err) {
				t.Fatalf("error %#v, want a retryable *TransportError", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the key: %v", err)
			}
		})
	}
}

// TestChatBodyLimit: an answer over the limit is refused, not truncated into a wrong answer.
func TestChatBodyLimit(t *testing.T) {
	t.Parallel()
	big := func(n int) http.HandlerFunc {
		return answer(200, `{"choices":[{"message":{"role":"assistant","content":"`+strings.Repeat("x", n)+`"}}]}`)
	}
	tests := []struct {
		name    string
		h       http.HandlerFunc
		opts    []llm.Option
		wantErr bool
	}{
		{"valid-under-limit", big(900), []llm.Option{llm.WithMaxResponseBytes(1024)}, false},
		{"invalid-over-limit", big(1024), []llm.Option{llm.WithMaxResponseBytes(1024)}, true},
		{"invalid-over-default", big(llm.DefaultMaxResponseBytes), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := llm.New(serve(t, tt.h), tt.opts...).Chat(context.Background(), llm.Request{Model: "m"})
			if (err != nil) != tt.wantErr || tt.wantErr && (!errors.Is(err, llm.ErrResponseTooLarge) || llm.IsRetryable(err)) {
				t.Fatalf("error %v, want too large: %v (and not retryable)", err, tt.wantErr)
			}
		})
	}
}

// TestChatKeyNeverInErrors: servers that echo the key back do not make it show in errors.
func TestChatKeyNeverInErrors(t *testing.T) {
	t.Parallel()
	echo := func(status int, format string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			_, _ = io.WriteString(w, strings.ReplaceAll(format, "AUTH", r.Header.Get("Authorization")))
		}
	}
	tests := []struct {
		name string
		h    http.HandlerFunc
	}{
		{"invalid-openai-echo", echo(401, `{"error":{"message":"Incorrect API key: AUTH","type":"AUTH","code":"AUTH"}}`)},
		{"invalid-ollama-echo", echo(403, `{"error":"AUTH"}`)},
		{"invalid-text-echo", echo(500, "header was AUTH")},
		{"invalid-long-text-echo", echo(500, strings.Repeat("x", 290)+"AUTH")},
		{"invalid-200-error-echo", echo(200, `{"error":"AUTH"}`)},
		{"invalid-malformed-echo", echo(200, `{"AUTH"`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := llm.New(serve(t, tt.h), llm.WithAPIKey(secret)).Chat(context.Background(), llm.Request{Model: "m"})
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), secret[:len(secret)-4]) {
				t.Errorf("error shows the key: %v", err)
			}
		})
	}
}

// TestChatContextCancel: the caller's cancellation and deadline end the call and are not retryable.
func TestChatContextCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		start func(srv *llmtest.Server) (context.Context, context.CancelFunc)
		want  error
	}{
		{"invalid-cancelled-before", func(*llmtest.Server) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
		{"invalid-cancelled-while-waiting", func(srv *llmtest.Server) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				for srv.Count() == 0 {
					runtime.Gosched()
				}
				cancel()
			}()
			return ctx, cancel
		}, context.Canceled},
		{"invalid-deadline", func(*llmtest.Server) (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 10*time.Millisecond)
		}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := llmtest.New(t, llmtest.Script{{Content: "late"}})
			srv.Delay(time.Hour)
			ctx, cancel := tt.start(srv)
			defer cancel()
			_, err := srv.Client().Chat(ctx, llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Content: "hi"}}})
			if !errors.Is(err, tt.want) || llm.IsRetryable(err) {
				t.Fatalf("error %v, want %v, not retryable", err, tt.want)
			}
		})
	}
}
