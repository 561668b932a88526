package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agops/agops/internal/mcpfront"
)

// An aggregate is a server of the policy with members instead of a URL: what Docker's MCP gateway was, one MCP
// endpoint for the tools of several servers. The gateway serves it itself. Each session an agent opens on it is a
// front (internal/mcpfront) whose members are sessions the gateway opens on the member servers for that agent,
// through its own handler, with the agent's own bearer token: every initialize, tools/list and tools/call a member
// sees has been authenticated, judged, limited and audited exactly as if the agent had called the member directly.
// The aggregate adds no access of its own: its tools/list is the union of what each member's lists show the agent,
// and a call goes to the member that has the tool.
//
// The front parses what the agent sends with the MCP SDK and sends each member a new request, so the message a
// member sees is one the gateway wrote: no second reading of the agent's bytes exists to disagree with the first.

// aggregateSessionIdle ends an agent's aggregate session, and its sessions on the members, after this long unused.
const aggregateSessionIdle = 30 * time.Minute

// aggregateHandlers serves the aggregates of the loaded policy; a policy that changes an aggregate's members gets a
// new one.
type aggregateHandlers struct {
	mu   sync.Mutex
	byID map[string]*aggregate // by server name

	innerOnce sync.Once
	inner     *innerNet
}

// aggregate serves one aggregate server: Streamable HTTP, and the HTTP+SSE transport Docker's gateway offered with
// --transport=sse.
type aggregate struct {
	members    []string
	streamable http.Handler
	sse        http.Handler
}

// aggregateServer tells whether the request is for an aggregate server of the loaded policy (which route refuses
// when no policy is loaded).
func (g *Gateway) aggregateServer(r *http.Request) (upstream, bool) {
	st := g.policy.Load()
	if st == nil || st.p == nil {
		return upstream{}, false
	}
	up, ok := st.servers[r.PathValue("server")]
	return up, ok && len(up.Members) > 0
}

// serveAggregate serves an MCP request for an aggregate server, from an authenticated agent. A session on the
// aggregate belongs to the agent that opened it, as a session on any server does: another agent's request for it is
// refused before it reaches the session (which would refuse it too, on the members, but end it for its owner).
func (g *Gateway) serveAggregate(w http.ResponseWriter, r *http.Request, up upstream) {
	a := g.aggregateFor(up)
	agent, key := agentFrom(r.Context()), aggregatePrefix+up.Name
	sid, legacy := r.Header.Get("Mcp-Session-Id"), false
	if r.Method == http.MethodPost && r.URL.Query().Has("sessionid") {
		sid, legacy = r.URL.Query().Get("sessionid"), true
	}
	if sid != "" && !g.sessions.owned(key, sid, agent, g.now()) {
		g.refuse(w, r, nil, newRPCError(http.StatusNotFound, CodeDenied, "gateway:session",
			"unknown session, or a session of another agent"), "")
		return
	}
	bw := &bindingWriter{ResponseWriter: w, bind: func(id string) bool {
		_, ok := g.sessions.bind(key, id, agent, g.now())
		return ok
	}}
	switch {
	case legacy, r.Method == http.MethodGet && sid == "":
		// The older HTTP+SSE transport: a GET without a session opens a stream whose endpoint event names it.
		bw.sse = sid == ""
		a.sse.ServeHTTP(bw, r)
	default:
		bw.header = sid == ""
		a.streamable.ServeHTTP(bw, r)
	}
}

// aggregatePrefix marks the sessions of aggregates in the session table.
const aggregatePrefix = "aggregate:"

// bindingWriter binds the session a response opens to the agent: Streamable HTTP names it in the Mcp-Session-Id
// header, HTTP+SSE in the endpoint its stream announces first (?sessionid=). A session that cannot be bound is not
// announced.
type bindingWriter struct {
	http.ResponseWriter
	bind   func(id string) bool
	header bool // look for Mcp-Session-Id
	sse    bool // look for the endpoint event
	head   []byte
	done   bool
	failed bool
}

func (b *bindingWriter) WriteHeader(code int) {
	if b.header && !b.done {
		b.done = true
		if id := b.Header().Get("Mcp-Session-Id"); id != "" && !b.bind(id) {
			b.failed = true
			b.Header().Del("Mcp-Session-Id")
			code = http.StatusServiceUnavailable
		}
	}
	b.ResponseWriter.WriteHeader(code)
}

func (b *bindingWriter) Write(p []byte) (int, error) {
	if b.failed {
		return 0, errors.New("aggregate: the session could not be bound to the agent")
	}
	if !b.sse || b.done {
		if b.header && !b.done {
			b.WriteHeader(http.StatusOK)
		}
		return b.ResponseWriter.Write(p)
	}
	// Hold the stream's first bytes until the endpoint event is whole.
	b.head = append(b.head, p...)
	end := bytes.Index(b.head, []byte("\n\n"))
	if end < 0 {
		if len(b.head) > 4096 {
			b.failed = true
			return 0, errors.New("aggregate: no endpoint event")
		}
		return len(p), nil
	}
	b.done = true
	id := ""
	for _, line := range strings.Split(string(b.head[:end]), "\n") {
		if data, ok := strings.CutPrefix(line, "data:"); ok {
			if u, err := url.Parse(strings.TrimSpace(data)); err == nil {
				id = u.Query().Get("sessionid")
			}
		}
	}
	if id == "" || !b.bind(id) {
		b.failed = true
		return 0, errors.New("aggregate: the session could not be bound to the agent")
	}
	if _, err := b.ResponseWriter.Write(b.head); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (b *bindingWriter) Flush() {
	if b.sse && !b.done {
		return
	}
	if f, ok := b.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (b *bindingWriter) Unwrap() http.ResponseWriter { return b.ResponseWriter }

// aggregateFor returns the handlers of aggregate server up, made on first use and again when its members change.
func (g *Gateway) aggregateFor(up upstream) *aggregate {
	h := &g.aggregates
	h.mu.Lock()
	defer h.mu.Unlock()
	if a := h.byID[up.Name]; a != nil && slices.Equal(a.members, up.Members) {
		return a
	}
	if h.byID == nil {
		h.byID = map[string]*aggregate{}
	}
	a := &aggregate{members: slices.Clone(up.Members)}
	getServer := func(r *http.Request) *mcp.Server { return g.aggregateSession(r, up.Name, a.members) }
	a.streamable = mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
		SessionTimeout: aggregateSessionIdle,
		// The agents' listener is no local server: every request was authenticated by its bearer token, which a
		// page that rebinds a name to loopback cannot send.
		DisableLocalhostProtection: true,
		MaxRequestBodyBytes:        g.opts.MaxBodyBytes,
	})
	a.sse = mcp.NewSSEHandler(getServer, &mcp.SSEOptions{DisableLocalhostProtection: true, MaxRequestBodyBytes: g.opts.MaxBodyBytes})
	h.byID[up.Name] = a
	return a
}

// aggregateSession makes the server of one agent's session on an aggregate: a front over sessions on the members,
// opened as that agent. A member that cannot be reached is left out (and logged); the agent sees the tools of the
// others.
func (g *Gateway) aggregateSession(r *http.Request, name string, members []string) *mcp.Server {
	agent := agentFrom(r.Context())
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	creds := &memberCredentials{auth: r.Header.Get("Authorization"), remote: r.RemoteAddr}
	client := g.aggregates.innerClient(g)
	var sessions []mcpfront.Member
	for _, m := range members {
		connect := func(cctx context.Context) (*mcp.ClientSession, error) {
			c := mcp.NewClient(&mcp.Implementation{Name: "agops-aggregate/" + name, Version: "v1"}, nil)
			// The session lives as long as the agent's (ctx), whatever request opened it; it carries the
			// credentials of the request that opens it (a later request's, on a reconnect).
			use := creds
			if mc, ok := cctx.Value(memberCredentialsKey{}).(*memberCredentials); ok {
				use = mc
			}
			return c.Connect(withMemberCredentials(ctx, use), &mcp.StreamableClientTransport{
				Endpoint: "http://agops-gateway.internal/mcp/" + m, HTTPClient: client, MaxRetries: -1,
				// The front lists the members' tools whenever the agent lists its own: no stream to hold open.
				DisableStandaloneSSE: true,
			}, nil)
		}
		s, err := connect(withMemberCredentials(ctx, creds))
		if err != nil {
			g.log.Warn("aggregate: a member is left out of the agent's session", "aggregate", name, "member", m, "agent", agent, "err", err)
			continue
		}
		sessions = append(sessions, mcpfront.Member{Name: m, Session: s, Connect: connect})
	}
	front, err := mcpfront.New(withMemberCredentials(ctx, creds), &mcp.Implementation{Name: name, Version: "agops"}, sessions)
	if err != nil {
		// Listing failed (a member broke after it answered initialize): serve what the others offer.
		g.log.Warn("aggregate: listing the members' tools", "aggregate", name, "agent", agent, "err", err)
		for _, s := range sessions {
			_ = s.Session.Close()
		}
		front, _ = mcpfront.New(ctx, &mcp.Implementation{Name: name, Version: "agops"}, nil)
	}
	closeAll := func() {
		front.Close()
		cancel()
	}
	// Each request of the agent carries its own token to the members (a projected token is rotated), and a
	// tools/list lists the members again, under the policy in force.
	front.Server.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			c := creds
			if extra := req.GetExtra(); extra != nil && extra.Header.Get("Authorization") != "" {
				c = &memberCredentials{auth: extra.Header.Get("Authorization"), remote: creds.remote}
			}
			ctx = withMemberCredentials(ctx, c)
			if method == "tools/list" {
				if err := front.Refresh(ctx); err != nil {
					return nil, fmt.Errorf("listing the tools of the aggregate's members: %w", err)
				}
			}
			return next(ctx, method, req)
		}
	})
	// The members' sessions end with the agent's: the SDK ends an idle one after aggregateSessionIdle.
	go func() {
		deadline := time.NewTimer(time.Minute)
		defer deadline.Stop()
		for {
			for ss := range front.Server.Sessions() {
				_ = ss.Wait()
				closeAll()
				return
			}
			select {
			case <-deadline.C: // never connected
				closeAll()
				return
			case <-ctx.Done():
				closeAll()
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return front.Server
}

// memberCredentials are what a front's requests to the members carry: the agent's Authorization header, and its
// address for the audit log.
type memberCredentials struct {
	auth, remote string
}

type memberCredentialsKey struct{}

func withMemberCredentials(ctx context.Context, c *memberCredentials) context.Context {
	return context.WithValue(ctx, memberCredentialsKey{}, c)
}

// innerClient is the HTTP client fronts reach the gateway's own handler with: in memory, never over a network.
func (h *aggregateHandlers) innerClient(g *Gateway) *http.Client {
	h.innerOnce.Do(func() { h.inner = newInnerNet(g.mux()) })
	return &http.Client{Transport: memberAuth{h.inner.transport}}
}

// memberAuth sets each request's Authorization to the agent's, from its context: a request without one is not
// sent.
type memberAuth struct{ next http.RoundTripper }

func (m memberAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	c, _ := r.Context().Value(memberCredentialsKey{}).(*memberCredentials)
	if c == nil || c.auth == "" {
		return nil, errors.New("aggregate: a request to a member without the agent's credentials")
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", c.auth)
	return m.next.RoundTrip(r)
}

// innerNet is an in-memory network on which an http.Server serves the gateway's handler to its own fronts.
type innerNet struct {
	conns     chan net.Conn
	done      chan struct{}
	srv       *http.Server
	transport *http.Transport
}

func newInnerNet(h http.Handler) *innerNet {
	n := &innerNet{conns: make(chan net.Conn), done: make(chan struct{})}
	n.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	n.transport = &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			client, server := net.Pipe()
			remote := "aggregate"
			if c, _ := ctx.Value(memberCredentialsKey{}).(*memberCredentials); c != nil && c.remote != "" {
				remote = c.remote
			}
			select {
			case n.conns <- innerConn{Conn: server, remote: remote}:
				return client, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-n.done:
				return nil, net.ErrClosed
			}
		},
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     time.Minute,
	}
	go func() { _ = n.srv.Serve(innerListener{n}) }()
	return n
}

// close ends the inner server and its connections.
func (n *innerNet) close() {
	select {
	case <-n.done:
	default:
		close(n.done)
	}
	_ = n.srv.Close()
	n.transport.CloseIdleConnections()
}

type innerListener struct{ n *innerNet }

func (l innerListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.n.conns:
		return c, nil
	case <-l.n.done:
		return nil, net.ErrClosed
	}
}
func (l innerListener) Close() error   { return nil }
func (l innerListener) Addr() net.Addr { return innerAddr("agops-gateway.internal") }

// innerConn reports the agent's address as its remote end, so that the member calls are audited with it.
type innerConn struct {
	net.Conn
	remote string
}

func (c innerConn) RemoteAddr() net.Addr { return innerAddr(c.remote) }

type innerAddr string

func (a innerAddr) Network() string { return "memory" }
func (a innerAddr) String() string  { return string(a) }
