package llm

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseAPIError(t *testing.T) {
	t.Parallel()
	const secret = "sk-test-0123456789"
	tests := []struct {
		name   string
		status int
		body   string
		want   APIError
	}{
		{"valid-openai", 429, `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`,
			APIError{Status: 429, Message: "Rate limit reached", Type: "requests", Code: "rate_limit_exceeded", Retryable: true}},
		{"valid-openai-null-code", 400, `{"error":{"message":"bad","type":"invalid_request_error","param":null,"code":null}}`,
			APIError{Status: 400, Message: "bad", Type: "invalid_request_error"}},
		{"valid-numeric-code", 500, `{"error":{"message":"boom","code":500}}`,
			APIError{Status: 500, Message: "boom", Code: "500", Retryable: true}},
		{"valid-ollama", 404, `{"error":"model \"llama3\" not found, try pulling it first"}`,
			APIError{Status: 404, Message: `model "llama3" not found, try pulling it first`}},
		{"valid-vllm-top-level", 400, `{"object":"error","message":"too long","type":"BadRequestError","code":400}`,
			APIError{Status: 400, Message: "too long", Type: "BadRequestError", Code: "400"}},
		{"valid-plain-text", 502, "<html>\n<body>Bad   Gateway</body>\n</html>\n",
			APIError{Status: 502, Message: "<html> <body>Bad Gateway</body> </html>", Retryable: true}},
		{"valid-empty-body", 503, "", APIError{Status: 503, Retryable: true}},
		{"valid-json-without-error", 409, `{"detail":"conflict"}`, APIError{Status: 409, Message: `{"detail":"conflict"}`, Retryable: true}},
		{"valid-408", 408, "timeout", APIError{Status: 408, Message: "timeout", Retryable: true}},
		{"valid-401-redacted", 401, `{"error":{"message":"bad key ` + secret + `","type":"auth"}}`,
			APIError{Status: 401, Message: "bad key [REDACTED]", Type: "auth"}},
		{"valid-plain-redacted", 403, "key=" + secret, APIError{Status: 403, Message: "key=[REDACTED]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := parseAPIError(tt.status, []byte(tt.body), secret)
			if *got != tt.want {
				t.Errorf("got %+v\nwant %+v", *got, tt.want)
			}
			if strings.Contains(got.Error(), secret) {
				t.Errorf("error shows the key: %v", got)
			}
		})
	}
}

func TestSnippetBounded(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("é", 1000)
	got := snippet(body)
	if len(got) > snippetMax+40 || !strings.HasSuffix(got, "(2000 bytes)") {
		t.Errorf("snippet of %d bytes is %d bytes: %q", len(body), len(got), got)
	}
	if strings.Contains(got, "\uFFFD") {
		t.Errorf("snippet cuts a rune: %q", got)
	}
}

func TestIsRetryable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("x"), false},
		{"transport", &TransportError{URL: "u", Err: errors.New("refused")}, true},
		{"wrapped-transport", fmt.Errorf("calling: %w", &TransportError{Err: errors.New("reset")}), true},
		{"api-retryable", fmt.Errorf("x: %w", &APIError{Status: 503, Retryable: true}), true},
		{"api-final", &APIError{Status: 400}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := IsRetryable(tt.err); got != tt.want {
				t.Errorf("IsRetryable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
