package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The HTTP+SSE transport of MCP's 2024-11-05 revision, which many tool servers and agents still speak: the client
// GETs the server's SSE endpoint; the stream's first event, "endpoint", names a URL (a session in its query) where
// the client POSTs its messages; every answer comes on the stream, and a POST is answered 202 Accepted.
//
// The gateway relays the stream and announces an endpoint of its own in place of the server's: the path the client
// used, with ?agops_session=ID, an ID the gateway draws and binds to the agent that opened the stream, the server and
// the server's own endpoint (which the client never sees). A POST there is judged like any MCP message and
// forwarded to the server's endpoint; an answer the gateway gives itself — a refusal, the message the tool server
// would never send — goes on the session's stream as an event, where the client waits for it, and the POST gets 202.
// A session ends with its stream.

// legacySessionParam names the gateway's session in the endpoint it announces.
const legacySessionParam = "agops_session"

// legacyPrefix marks an HTTP+SSE session among the Streamable HTTP sessions of the session table.
const legacyPrefix = "sse:"

// legacySession is one HTTP+SSE session: the agent's stream, relayed.
type legacySession struct {
	endpoint *url.URL // the tool server's message endpoint
	stream   *streamWriter
	end      context.CancelFunc // ends the relay of the stream
}

// legacySessions holds the open HTTP+SSE sessions by the gateway's ID.
type legacySessions struct {
	mu sync.Mutex
	m  map[string]*legacySession
}

func (t *legacySessions) add(id string, s *legacySession) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]*legacySession{}
	}
	t.m[id] = s
}

func (t *legacySessions) get(id string) *legacySession {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[id]
}

// remove forgets the session and ends its stream.
func (t *legacySessions) remove(id string) {
	t.mu.Lock()
	s := t.m[id]
	delete(t.m, id)
	t.mu.Unlock()
	if s != nil {
		s.end()
	}
}

// streamWriter serializes the writes to a relayed event stream: the relay's events and the gateway's own.
type streamWriter struct {
	mu     sync.Mutex
	w      http.ResponseWriter
	closed bool
	// timeout bounds each write and flush (Options.StreamWriteTimeout): an agent that stops reading its stream ends
	// it, rather than holding the relay, and every POST that answers on the stream, forever.
	timeout time.Duration
}

// deadline sets the write deadline of the next write and flush; the lock is held.
func (s *streamWriter) deadline() {
	if s.timeout > 0 {
		_ = http.NewResponseController(s.w).SetWriteDeadline(time.Now().Add(s.timeout))
	}
}

var errStreamClosed = errors.New("the session's stream is closed")

func (s *streamWriter) Header() http.Header { return s.w.Header() }

func (s *streamWriter) WriteHeader(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.WriteHeader(code)
}

func (s *streamWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errStreamClosed
	}
	s.deadline()
	n, err := s.w.Write(p)
	if err != nil {
		s.closed = true
	}
	return n, err
}

func (s *streamWriter) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.deadline()
		if err := http.NewResponseController(s.w).Flush(); err != nil {
			s.closed = true
		}
	}
}

// event writes one whole event carrying a JSON-RPC message and flushes it.
func (s *streamWriter) event(msg []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errStreamClosed
	}
	var b bytes.Buffer
	b.WriteString("event: message\ndata: ")
	b.Write(bytes.TrimSpace(msg))
	b.WriteString("\n\n")
	s.deadline()
	if _, err := s.w.Write(b.Bytes()); err != nil {
		s.closed = true
		return err
	}
	if err := http.NewResponseController(s.w).Flush(); err != nil {
		s.closed = true
		return err
	}
	return nil
}

// ended reports whether the stream can no longer be written.
func (s *streamWriter) ended() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *streamWriter) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
}

// legacyEndpointKey carries, in a POST's context, the tool server's endpoint of the HTTP+SSE session it belongs to.
type legacyEndpointKey struct{}

func legacyEndpoint(ctx context.Context) *url.URL {
	u, _ := ctx.Value(legacyEndpointKey{}).(*url.URL)
	return u
}

// announce replaces the endpoint a tool server announced on a stream the agent opened (r) by the gateway's: the
// session is bound to the agent, and the server's endpoint is kept for the session's POSTs. upstream is the URL the
// stream came from: the endpoint must be on the same origin.
func (g *Gateway) announce(r *http.Request, up upstream, upstreamURL *url.URL, stream *streamWriter, end context.CancelFunc,
	data []byte) (string, []byte, error) {
	ep, err := upstreamURL.Parse(strings.TrimSpace(string(data)))
	if err != nil || ep.Scheme != upstreamURL.Scheme || ep.Host != upstreamURL.Host || ep.User != nil {
		return "", nil, fmt.Errorf("the tool server announced the endpoint %q, not one of its own", data)
	}
	id := rand.Text()
	agent := agentFrom(r.Context())
	evicted, ok := g.sessions.bind(up.Name, legacyPrefix+id, agent, g.now())
	if !ok {
		return "", nil, errors.New("session ID collision")
	}
	if evicted != "" {
		g.endEvicted(r, up, evicted)
	}
	g.legacy.add(id, &legacySession{endpoint: ep, stream: stream, end: end})
	mine := url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: legacySessionParam + "=" + id}
	return id, []byte(mine.RequestURI()), nil
}

// endEvicted ends a session the agent no longer may hold (Options.MaxSessionsPerAgent), of either transport.
func (g *Gateway) endEvicted(r *http.Request, up upstream, id string) {
	if lid, ok := strings.CutPrefix(id, legacyPrefix); ok {
		g.legacy.remove(lid)
		return
	}
	go g.endSession(r.Clone(context.WithoutCancel(r.Context())), up, id)
}

// serveLegacyPost handles a message POSTed to the endpoint the gateway announced on an HTTP+SSE stream. It runs the
// same intake and judgement as a Streamable HTTP POST, into a buffer: the tool server's 202 is passed on; an answer
// in a body (the gateway's refusal, or a server that answers inline) goes on the session's stream instead, where the
// client reads it, and the POST gets 202.
func (g *Gateway) serveLegacyPost(w http.ResponseWriter, r *http.Request, st *policyState, up upstream, id string) {
	s := g.legacy.get(id)
	if s == nil || !g.sessions.owned(up.Name, legacyPrefix+id, agentFrom(r.Context()), g.now()) {
		g.refuse(w, r, nil, newRPCError(http.StatusNotFound, CodeDenied, "gateway:session",
			"unknown session, a session of another agent, or one whose stream has ended"), "")
		return
	}
	if r.Header.Get("Idempotency-Key") != "" {
		g.refuse(w, r, nil, newRPCError(http.StatusBadRequest, CodeIdempotency, RuleIdempotencyUnavailable,
			"the HTTP+SSE transport answers on the session's stream, where a kept result cannot be replayed; use Streamable HTTP for keyed calls"), "")
		return
	}
	buf := &bufferedResponse{header: http.Header{}, max: g.opts.MaxResponseBytes}
	g.serveMCPMessage(buf, r.WithContext(context.WithValue(r.Context(), legacyEndpointKey{}, s.endpoint)), st, up)
	body := bytes.TrimSpace(buf.body.Bytes())
	if buf.status/100 != 2 && s.stream.ended() {
		// The stream ended while the message was on its way: the tool server's refusal is of a closed session.
		g.refuse(w, r, nil, newRPCError(http.StatusNotFound, CodeDenied, "gateway:session",
			"the session's stream has ended"), "")
		return
	}
	switch {
	case buf.status/100 == 2 && (len(body) == 0 || buf.status == http.StatusAccepted):
	case len(body) > 0 && (body[0] == '{' || body[0] == '['):
		if err := s.stream.event(body); err != nil {
			http.Error(w, "the session's stream has ended", http.StatusGone)
			return
		}
	default:
		w.WriteHeader(buf.status)
		_, _ = w.Write(buf.body.Bytes())
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// bufferedResponse keeps a response in memory, up to max bytes of body.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
	max    int64
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	if int64(b.body.Len()+len(p)) > b.max {
		return 0, errResponseTooLarge
	}
	return b.body.Write(p)
}
