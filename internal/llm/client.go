package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// DefaultMaxResponseBytes bounds the body Chat reads from the server.
const DefaultMaxResponseBytes = 16 << 20

// DefaultUserAgent is sent unless WithUserAgent says otherwise.
const DefaultUserAgent = "agops-llm"

// Client calls one OpenAI-compatible server. It is immutable and safe for concurrent use.
type Client struct {
	endpoint  string // BaseURL + /chat/completions
	shown     string // endpoint with any password redacted, for errors
	apiKey    string
	http      *http.Client
	userAgent string
	maxBody   int64
}

// Option configures a Client.
type Option func(*Client)

// WithAPIKey sends "Authorization: Bearer key". Without it no Authorization header is sent.
func WithAPIKey(key string) Option { return func(c *Client) { c.apiKey = key } }

// WithHTTPClient uses hc instead of http.DefaultClient (nil keeps the default).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithMaxResponseBytes bounds the response body (default DefaultMaxResponseBytes; n <= 0 keeps the default).
func WithMaxResponseBytes(n int64) Option {
	return func(c *Client) {
		if n > 0 {
			c.maxBody = n
		}
	}
}

// New returns a client for the server at baseURL, e.g. http://ollama:11434/v1; Chat posts to
// baseURL/chat/completions.
func New(baseURL string, opts ...Option) *Client {
	c := &Client{
		endpoint:  strings.TrimRight(baseURL, "/") + "/chat/completions",
		http:      http.DefaultClient,
		userAgent: DefaultUserAgent,
		maxBody:   DefaultMaxResponseBytes,
	}
	for _, o := range opts {
		o(c)
	}
	c.shown = c.endpoint
	if u, err := url.Parse(c.endpoint); err == nil {
		c.shown = u.Redacted()
	}
	return c
}

// wireRequest is Request as sent: never streaming.
type wireRequest struct {
	Request
	Stream bool `json:"stream"`
}

// Chat sends one chat completion request and returns the first choice. Errors are *APIError for error answers,
// *TransportError for network failures, wrap ErrResponseTooLarge for oversized answers, and wrap ctx.Err() when
// ctx ends; IsRetryable tells which are worth retrying.
func (c *Client) Chat(ctx context.Context, req Request) (Response, error) {
	body, err := json.Marshal(wireRequest{Request: req})
	if err != nil {
		return Response{}, fmt.Errorf("llm: encoding request: %w", err)
	}
	status, data, err := c.post(ctx, body)
	if err != nil {
		return Response{}, err
	}
	if status < 200 || status > 299 {
		return Response{}, fmt.Errorf("llm: POST %s: %w", c.shown, parseAPIError(status, data, c.apiKey))
	}
	resp, err := decodeResponse(data, c.apiKey)
	if err != nil {
		return Response{}, fmt.Errorf("llm: POST %s: %w", c.shown, err)
	}
	return resp, nil
}

// post sends body and reads the answer within the body limit. An oversized error answer is kept truncated, since
// only a snippet of it is shown.
func (c *Client) post(ctx context.Context, body []byte) (int, []byte, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("llm: building request for %s: %w", c.shown, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", c.userAgent)
	if c.apiKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	hresp, err := c.http.Do(hreq)
	if err != nil {
		return 0, nil, c.transportError(ctx, err)
	}
	defer hresp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(hresp.Body, c.maxBody+1))
	if err != nil {
		return 0, nil, c.transportError(ctx, err)
	}
	ok := hresp.StatusCode >= 200 && hresp.StatusCode <= 299
	if int64(len(data)) > c.maxBody && ok {
		return 0, nil, fmt.Errorf("llm: POST %s: %w: over %d bytes", c.shown, ErrResponseTooLarge, c.maxBody)
	}
	return hresp.StatusCode, data, nil
}

// transportError wraps a network failure: the caller's cancellation as such (not retryable), anything else as a
// *TransportError.
func (c *Client) transportError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("llm: POST %s: %w", c.shown, ctxErr)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &TransportError{URL: c.shown, Err: err}
}

// wireResponse is the chat completions answer as sent.
type wireResponse struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Message      Message `json:"message"`
		FinishReason string  `json:"finish_reason"`
	} `json:"choices"`
	Usage Usage           `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// decodeResponse decodes a 2xx body. A body with no choices is an error: an *APIError if it carries one (never
// retryable: the server said why), otherwise a plain one.
func decodeResponse(data []byte, secret string) (Response, error) {
	var w wireResponse
	if err := json.Unmarshal(data, &w); err != nil {
		return Response{}, fmt.Errorf("malformed response (%d bytes): %w", len(data), err)
	}
	if len(w.Choices) == 0 {
		if e := bytes.TrimSpace(w.Error); len(e) > 0 && string(e) != "null" {
			return Response{}, parseAPIError(http.StatusOK, data, secret)
		}
		return Response{}, errors.New("response has no choices")
	}
	ch := w.Choices[0]
	if ch.Message.Role == "" {
		ch.Message.Role = RoleAssistant
	}
	for i := range ch.Message.ToolCalls {
		if ch.Message.ToolCalls[i].Type == "" {
			ch.Message.ToolCalls[i].Type = "function"
		}
	}
	return Response{ID: w.ID, Model: w.Model, Message: ch.Message, FinishReason: ch.FinishReason, Usage: w.Usage}, nil
}
