// Package llmtest owns a deterministic OpenAI-compatible chat completions server that stands in for the model in
// tests and dev runs. It answers POST /v1/chat/completions from a Script (per-agent rules that reply with tool calls
// or content), serves GET /v1/models, records every request it receives, and injects failures and delays on demand,
// so the real client and agent loops run against real HTTP.
package llmtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agops/agops/internal/llm"
)

// ModelName is the model GET /v1/models lists; requests may name any model.
const ModelName = "llmtest"

// Server is a running scripted model server. It is safe for concurrent use.
type Server struct {
	script    Script
	hs        *httptest.Server
	done      chan struct{} // closed by Close: delayed handlers stop waiting
	closeOnce sync.Once

	mu         sync.Mutex
	received   []llm.Request
	answered   map[string]int // fingerprint → answers given
	duplicates int
	failN      int
	failStatus int
	delay      time.Duration
}

// NewServer starts a server on a free loopback port. The caller must Close it.
func NewServer(script Script) *Server {
	s := &Server{script: script, done: make(chan struct{}), answered: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.chat)
	mux.HandleFunc("GET /v1/models", s.models)
	s.hs = httptest.NewServer(mux)
	return s
}

// New starts a server that is closed when the test ends.
func New(t testing.TB, script Script) *Server {
	t.Helper()
	s := NewServer(script)
	t.Cleanup(s.Close)
	return s
}

// Close stops the server; requests waiting out a Delay end with a 503. Close may be called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.hs.Close()
	})
}

// URL is the base URL for a client, ending in /v1.
func (s *Server) URL() string { return s.hs.URL + "/v1" }

// Client returns an llm.Client for this server.
func (s *Server) Client(opts ...llm.Option) *llm.Client { return llm.New(s.URL(), opts...) }

// Requests returns every chat request received, in order, including those failed by FailNext or cancelled during
// a Delay.
func (s *Server) Requests() []llm.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]llm.Request(nil), s.received...)
}

// Count is the number of chat requests received (see Requests).
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.received)
}

// CountFor is the number of chat requests received whose system messages contain agent.
func (s *Server) CountFor(agent string) int {
	n := 0
	for _, r := range s.Requests() {
		if strings.Contains(viewOf(r.Messages).system, agent) {
			n++
		}
	}
	return n
}

// Duplicates is the number of answers given to a request with the same Fingerprint as an earlier answered one: how
// often the model ran twice on the same input. Requests failed by FailNext, rejected or cancelled are not answers,
// so a client's retries after them are not duplicates.
func (s *Server) Duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.duplicates
}

// FailNext makes the next n chat requests fail with status (an HTTP error status, e.g. 503 or 429) and an
// OpenAI-style error body. It replaces any failures still pending.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus = n, status
}

// Delay makes every later chat request wait d before it is answered (or failed). A client that goes away ends the
// wait, and so does Close (with a 503).
func (s *Server) Delay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// arrive records a request and says whether it is to fail (with which status) and how long to wait first.
func (s *Server) arrive(req llm.Request) (failStatus int, delay time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received = append(s.received, req)
	if s.failN > 0 {
		s.failN--
		failStatus = s.failStatus
	}
	return failStatus, s.delay
}

// answer counts an answer to the request with fingerprint fp.
func (s *Server) answer(fp string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.answered[fp] > 0 {
		s.duplicates++
	}
	s.answered[fp]++
}

// wait sleeps d unless the request or the server ends first; it reports whether to answer. A closing server
// answers 503; a client that went away gets nothing.
func (s *Server) wait(w http.ResponseWriter, r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-s.done:
		writeError(w, http.StatusServiceUnavailable, "llmtest: server closed", "server_error", "closed")
	}
	return false
}

const maxRequestBytes = 16 << 20

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	var in struct {
		llm.Request
		Stream bool `json:"stream"`
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err == nil {
		err = json.Unmarshal(body, &in)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "llmtest: decoding request: "+err.Error(), "invalid_request_error", "")
		return
	}
	failStatus, delay := s.arrive(in.Request)
	if !s.wait(w, r, delay) {
		return
	}
	switch {
	case failStatus != 0:
		writeError(w, failStatus, "llmtest: injected failure", "server_error", "injected")
	case in.Stream:
		writeError(w, http.StatusBadRequest, "llmtest: streaming is not supported", "invalid_request_error", "")
	default:
		s.reply(w, in.Request)
	}
}

// reply answers a valid request from the script, or fails loudly: a 400 naming what no rule matched.
func (s *Server) reply(w http.ResponseWriter, req llm.Request) {
	if err := checkConversation(req.Messages); err != nil {
		writeError(w, http.StatusBadRequest, "llmtest: "+err.Error(), "invalid_request_error", "invalid_messages")
		return
	}
	v := viewOf(req.Messages)
	rule, ok := s.script.match(v)
	if !ok {
		writeError(w, http.StatusBadRequest, noMatch(v), "invalid_request_error", "no_rule_matched")
		return
	}
	fp := Fingerprint(req)
	msg, usage := rule.reply(req, v, fp)
	s.answer(fp)
	writeJSON(w, http.StatusOK, completionOf(req, fp, msg, usage))
}

func noMatch(v view) string {
	return "llmtest: no rule matched the request: system " + quoteStart(v.system) + ", last user " +
		quoteStart(v.lastUser) + ", after tool " + quoteStart(v.afterTool)
}

// quoteStart quotes the start of s, enough to recognise it in a failure message.
func quoteStart(s string) string {
	if r := []rune(s); len(r) > 80 {
		s = string(r[:80]) + "…"
	}
	return strconv.Quote(s)
}

func (s *Server) models(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"object": "list",
		"data":   []map[string]any{{"id": ModelName, "object": "model", "created": created, "owned_by": "agops"}},
	})
}
