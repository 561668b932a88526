package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"strings"
	"time"

	"github.com/agops/agops/internal/audit"
	"github.com/agops/agops/internal/policy"
)

// passThroughMethods are the MCP requests forwarded without judgement: lifecycle, listings (tools/list is filtered
// on the way back), logging and tasks (a task only exists through a judged tools/call). Notifications and the
// client's responses to server requests pass too. Everything else is refused unless Options.AllowMethods lists it.
func passThroughMethods(extra []string) map[string]bool {
	m := map[string]bool{}
	for _, s := range []string{
		"initialize", "ping", "server/discover", "subscriptions/listen",
		"tools/list", "prompts/list", "resources/list", "resources/templates/list",
		"logging/setLevel", "tasks/get", "tasks/result", "tasks/list", "tasks/cancel",
	} {
		m[s] = true
	}
	for _, s := range extra {
		if s != "tools/call" {
			m[s] = true
		}
	}
	return m
}

// Headers the gateway passes to an MCP upstream, besides every Mcp-* header (session, protocol version, and the
// standard Mcp-Method/Mcp-Name/Mcp-Param-* headers).
var mcpRequestHeaders = []string{"Accept", "Content-Type", "Last-Event-Id", "Traceparent", "Tracestate"}

const agentHeader = "X-Agops-Agent"

// route finds the loaded policy and the MCP or HTTP server a request is for, or refuses the request.
func (g *Gateway) route(w http.ResponseWriter, r *http.Request, kind string) (*policyState, upstream, bool) {
	st := g.policy.Load()
	if st == nil || st.p == nil {
		reason := "no policy loaded"
		if st != nil {
			reason = "the policy file changed and does not load; every call is refused until it does"
		}
		g.refuse(w, r, nil, newRPCError(http.StatusServiceUnavailable, codeInternal, "gateway:no-policy", reason), "")
		return nil, upstream{}, false
	}
	herr := checkHeaders(r)
	if kind == "http" {
		herr = checkPlainHeaders(r)
	}
	if herr != nil {
		g.refuse(w, r, nil, herr, "")
		return nil, upstream{}, false
	}
	up, ok := st.servers[r.PathValue("server")]
	if !ok || up.Kind != kind {
		g.refuse(w, r, nil, newRPCError(http.StatusNotFound, CodeDenied, "gateway:unknown-server",
			fmt.Sprintf("no %s server %q", kind, r.PathValue("server"))), "")
		return nil, upstream{}, false
	}
	if hostRouted(r.Context()) && up.path != "" && up.path != "/" &&
		(r.URL.Path != up.path && r.URL.Path != up.path+"/" || r.URL.RawPath != "") {
		// Another endpoint of the tool server (an admin or debug route) is not the MCP endpoint the policy governs.
		g.refuse(w, r, nil, newRPCError(http.StatusNotFound, CodeDenied, "gateway:unknown-path",
			fmt.Sprintf("%s is not the MCP endpoint of %s (%s)", r.URL.Path, up.Name, up.path)), "")
		return nil, upstream{}, false
	}
	if hostRouted(r.Context()) && r.URL.RawQuery != up.url.RawQuery && !legacyPost(r) {
		// The query goes to the tool server as it is: another one could reach another session or another handler.
		g.refuse(w, r, nil, newRPCError(http.StatusNotFound, CodeDenied, "gateway:unknown-path",
			fmt.Sprintf("the query %q is not the MCP endpoint's of %s", r.URL.RawQuery, up.Name)), "")
		return nil, upstream{}, false
	}
	if sid := r.Header.Get("Mcp-Session-Id"); kind == "mcp" && sid != "" &&
		!g.sessions.owned(up.Name, sid, agentFrom(r.Context()), g.now()) {
		g.refuse(w, r, nil, newRPCError(http.StatusNotFound, CodeDenied, "gateway:session",
			"unknown session, or a session of another agent"), "")
		return nil, upstream{}, false
	}
	return st, up, true
}

// serveMCPPost handles one JSON-RPC message POSTed to /mcp/{server}, or to the endpoint of an HTTP+SSE session.
func (g *Gateway) serveMCPPost(w http.ResponseWriter, r *http.Request) {
	if up, ok := g.aggregateServer(r); ok {
		g.serveAggregate(w, r, up)
		return
	}
	st, up, ok := g.route(w, r, "mcp")
	if !ok {
		return
	}
	if q := r.URL.Query(); q.Has(legacySessionParam) {
		if !legacyPost(r) {
			g.refuse(w, r, nil, invalidRequest("an HTTP+SSE message goes to the endpoint the gateway announced, with no other query"), "")
			return
		}
		g.serveLegacyPost(w, r, st, up, q.Get(legacySessionParam))
		return
	}
	g.serveMCPMessage(w, r, st, up)
}

// serveMCPMessage reads, judges and forwards one JSON-RPC message.
func (g *Gateway) serveMCPMessage(w http.ResponseWriter, r *http.Request, st *policyState, up upstream) {
	if herr := checkContent(r); herr != nil {
		w.Header().Set("Connection", "close")
		g.refuse(w, r, nil, herr, "")
		return
	}
	body, release, rerr := g.readBody(w, r)
	defer release()
	if rerr != nil {
		g.refuse(w, r, nil, rerr, "")
		return
	}
	msg, perr := parseMessage(body)
	if perr != nil {
		g.refuse(w, r, nil, perr, "")
		return
	}
	traceMessage(r, msg, "")
	switch {
	case msg.Method == "tools/call":
		g.serveToolCall(w, r, st, up, msg)
	case msg.Response || strings.HasPrefix(msg.Method, "notifications/") || g.methods[msg.Method]:
		if herr := checkStandardHeaders(r, msg, ""); herr != nil {
			g.refuse(w, r, msg.ID, herr, "")
			return
		}
		g.log.Debug("passing through", "request", requestIDFrom(r.Context()), "agent", agentFrom(r.Context()),
			"server", up.Name, "method", msg.Method)
		g.forwardMCP(w, r, st, up, msg.Canonical, msg.Method == "initialize", nil)
	default:
		g.refuse(w, r, msg.ID, newRPCError(http.StatusOK, CodeDenied, "gateway:method",
			fmt.Sprintf("method %q is not passed through by the gateway", msg.Method)), "")
	}
}

// serveToolCall judges a tools/call and forwards it if admitted.
func (g *Gateway) serveToolCall(w http.ResponseWriter, r *http.Request, st *policyState, up upstream, msg message) {
	tc, perr := parseToolCall(msg.Params)
	traceMessage(r, msg, tc.Name)
	if perr == nil {
		perr = checkStandardHeaders(r, msg, tc.Name)
	}
	if perr != nil {
		g.refuse(w, r, msg.ID, perr, tc.Name)
		return
	}
	digest, err := canonicalArgsDigest(tc.Args) // msg.Params is a member of the canonical message
	if err != nil {
		g.refuse(w, r, msg.ID, invalidRequest("arguments are not canonical JSON"), tc.Name)
		return
	}
	c := &call{
		requestID: requestIDFrom(r.Context()), remote: r.RemoteAddr, pol: st, up: up, digest: digest,
		rpcMethod: "tools/call", id: msg.ID,
		c: policy.Call{Agent: agentFrom(r.Context()), Server: up.Name, Tool: tc.Name, Args: tc.Args},
	}
	if !g.callHeaders(w, r, c) {
		return
	}
	end, run := g.keyed(w, r, c)
	if !run {
		return
	}
	defer end()
	if derr := g.admit(r.Context(), c); derr != nil {
		writeRPCError(w, msg.ID, derr, c.requestID)
		return
	}
	g.forwardMCP(w, r, st, up, msg.Canonical, false, c)
}

// checkStandardHeaders refuses a request whose Mcp-Method or Mcp-Name header disagrees with its body: an upstream
// that routes on headers must see what the gateway judged.
func checkStandardHeaders(r *http.Request, msg message, tool string) *rpcError {
	if v, ok := r.Header["Mcp-Method"]; ok && (len(v) != 1 || v[0] != msg.Method) {
		return invalidRequest("the Mcp-Method header disagrees with the body")
	}
	if v, ok := r.Header["Mcp-Name"]; ok && msg.Method == "tools/call" {
		name := ""
		if len(v) == 1 {
			name = decodeHeaderValue(v[0])
		}
		if name != tool {
			return invalidRequest("the Mcp-Name header disagrees with the body")
		}
	}
	return nil
}

// decodeHeaderValue undoes the =?base64?…?= wrapping MCP uses for header values that are not plain ASCII.
func decodeHeaderValue(v string) string {
	if enc, ok := strings.CutPrefix(v, "=?base64?"); ok {
		if enc, ok = strings.CutSuffix(enc, "?="); ok {
			b, err := base64.StdEncoding.DecodeString(enc)
			if err != nil {
				return "\x00invalid"
			}
			return string(b)
		}
	}
	return v
}

// serveMCPStream proxies GET (the server's message stream) and DELETE (end of session) on /mcp/{server}.
func (g *Gateway) serveMCPStream(w http.ResponseWriter, r *http.Request) {
	if up, ok := g.aggregateServer(r); ok {
		g.serveAggregate(w, r, up)
		return
	}
	st, up, ok := g.route(w, r, "mcp")
	if !ok {
		return
	}
	if r.ContentLength != 0 { // a body here is never read, and one that never arrives would hold the connection
		w.Header().Set("Connection", "close")
		g.refuse(w, r, nil, invalidRequest(r.Method+" on an MCP endpoint carries no body"), "")
		return
	}
	g.forwardMCP(w, r, st, up, nil, false, nil)
}

// forwardMCP sends a request to the MCP upstream and relays the answer. c is the judged call, nil for pass-through.
func (g *Gateway) forwardMCP(w http.ResponseWriter, r *http.Request, st *policyState, up upstream, body []byte, opens bool, c *call) {
	agent := agentFrom(r.Context())
	ctx, cancel := g.callContext(r.Context(), c)
	defer cancel()
	// A GET outside a session may open an HTTP+SSE session: its stream is written by the relay and, for the
	// gateway's own answers to the session's POSTs, by serveLegacyPost; ending the session ends the relay.
	var stream *streamWriter
	legacyID, endStream := "", context.CancelFunc(func() {})
	if r.Method == http.MethodGet && r.Header.Get("Mcp-Session-Id") == "" {
		stream = &streamWriter{w: w, timeout: g.opts.StreamWriteTimeout}
		w = stream
		ctx, endStream = context.WithCancel(ctx)
		defer func() {
			// The session is forgotten before the tool server's stream ends, so that its POSTs meet the gateway's
			// 404 rather than the server's refusal of a closed session.
			stream.close()
			if legacyID != "" {
				g.sessions.drop(up.Name, legacyPrefix+legacyID)
				g.legacy.remove(legacyID)
			}
			endStream()
		}()
	}
	if c != nil && c.key != nil {
		w = &detachedWriter{ResponseWriter: w} // the call runs to its end even when its caller is gone
	}
	req, err := g.upstreamRequest(ctx, r, up, body)
	if err != nil {
		g.upstreamFailed(w, r, c, outcome{status: "upstream-error"}, 0, err)
		return
	}
	start := time.Now()
	resp, err := g.client.Do(req)
	if err != nil {
		o := outcome{status: "upstream-error"}
		if errors.Is(err, context.DeadlineExceeded) {
			o.status = "timeout"
		}
		g.upstreamFailed(w, r, c, o, time.Since(start), err)
		return
	}
	defer resp.Body.Close()
	if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" && opens {
		evicted, ok := g.sessions.bind(up.Name, sid, agent, g.now())
		if !ok {
			g.upstreamFailed(w, r, c, outcome{status: "upstream-error"}, time.Since(start),
				errors.New("upstream reused a session ID of another agent"))
			return
		}
		if evicted != "" {
			g.endEvicted(r, up, evicted)
		}
	}
	rl := relay{
		maxEvent: g.opts.MaxResponseBytes,
		allowed:  func(tool string) bool { return safeAllowed(st.p, agent, up.Name, tool) },
	}
	recorded := false
	if c == nil && r.Method == http.MethodGet {
		rl.onStray = func(tokens int64) { g.strayTokens(r, up, agent, tokens) }
	}
	if stream != nil {
		rl.onEndpoint = func(data []byte) ([]byte, error) {
			if legacyID != "" {
				return nil, errors.New("the tool server announced a second endpoint")
			}
			id, mine, err := g.announce(r, up, req.URL, stream, endStream, data)
			if err != nil {
				g.log.Warn("HTTP+SSE stream refused", "server", up.Name, "err", err)
				return nil, err
			}
			legacyID = id
			return mine, nil
		}
	}
	if c != nil {
		rl.callID = c.id
		rl.onResult = func(o outcome, msg []byte) {
			recorded = true
			g.recordAnswered(r.Context(), c, o, time.Since(start), msg, nil)
		}
	}
	o := rl.response(w, resp)
	if legacyEndpoint(r.Context()) != nil && resp.StatusCode == http.StatusAccepted && rl.err == nil {
		// An HTTP+SSE message: the tool server answers on the session's stream.
		o = outcome{status: "accepted"}
		recorded = c != nil
		if c != nil {
			g.recordResult(r.Context(), c, o, time.Since(start))
		}
	}
	if r.Method == http.MethodDelete && resp.StatusCode/100 == 2 {
		g.sessions.drop(up.Name, r.Header.Get("Mcp-Session-Id"))
	}
	if c != nil && !recorded {
		g.keyLost(c, resp.StatusCode, rl.err)
		g.recordResult(r.Context(), c, o, time.Since(start))
	}
}

// strayTokens counts, and audits as a result record (so that budgets restored from the log count them too), the
// tokens of a tool result that reached the agent on a GET stream rather than with its call.
func (g *Gateway) strayTokens(r *http.Request, up upstream, agent string, tokens int64) {
	g.limits.addTokens(agent, tokens, g.now())
	g.metrics.tokens.WithLabelValues(up.Name).Add(float64(tokens))
	_ = g.appendAudit(context.WithoutCancel(r.Context()), audit.Record{
		Time: g.now(), Event: "result", RequestID: requestIDFrom(r.Context()), Caller: agent, Remote: r.RemoteAddr,
		Server: up.Name, Method: r.Method, Path: r.URL.Path, Status: "ok", Tokens: tokens,
		Reason: "a tool result delivered on the session's stream",
	})
}

// endSession ends, on the tool server, a session the gateway stopped binding because its agent opened too many
// (Options.MaxSessionsPerAgent): what the agent made the server hold is given back.
func (g *Gateway) endSession(r *http.Request, up upstream, id string) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	req, err := g.upstreamRequest(ctx, r, up, nil)
	if err != nil {
		return
	}
	req.Method, req.Body, req.ContentLength = http.MethodDelete, nil, 0
	req.Header.Set("Mcp-Session-Id", id)
	resp, err := g.client.Do(req)
	if err != nil {
		g.log.Warn("ending an evicted session", "server", up.Name, "err", err)
		return
	}
	resp.Body.Close()
	g.log.Info("session evicted: the agent opened too many", "server", up.Name, "agent", agentFrom(r.Context()))
}

// callContext bounds a judged call by Options.CallTimeout. A keyed call is also detached from its caller (a worker
// that may be killed: its retry will ask for the result) and notes when its request reaches the wire. Pass-through
// requests keep the request's context.
func (g *Gateway) callContext(ctx context.Context, c *call) (context.Context, context.CancelFunc) {
	if c == nil {
		return ctx, func() {}
	}
	if c.key != nil {
		ctx = httptrace.WithClientTrace(context.WithoutCancel(ctx), c.key.trace())
	}
	return context.WithTimeout(ctx, g.opts.CallTimeout)
}

// upstreamRequest builds the request to the MCP upstream: the caller's body and MCP headers, the agent's identity,
// never its token.
func (g *Gateway) upstreamRequest(ctx context.Context, r *http.Request, up upstream, body []byte) (*http.Request, error) {
	target := up.url.String()
	if ep := legacyEndpoint(r.Context()); ep != nil {
		// A message of an HTTP+SSE session: to the endpoint the tool server announced for it.
		target = ep.String()
	} else if hostRouted(r.Context()) {
		// Reached by the tool's own name: keep the caller's path on the upstream's address.
		t := *up.url
		t.Path, t.RawPath, t.RawQuery = r.URL.Path, r.URL.RawPath, r.URL.RawQuery
		target = t.String()
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for _, h := range mcpRequestHeaders {
		if v, ok := r.Header[h]; ok {
			req.Header[h] = v
		}
	}
	if body != nil {
		// The canonical body is UTF-8 JSON whatever the caller's Content-Type said (see checkContent).
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.Header {
		if strings.HasPrefix(k, "Mcp-") {
			req.Header[k] = v
		}
	}
	req.Header.Set(agentHeader, agentFrom(r.Context()))
	return req, nil
}

// upstreamFailed answers 502 for an upstream that could not be asked, and records the result of a judged call.
func (g *Gateway) upstreamFailed(w http.ResponseWriter, r *http.Request, c *call, o outcome, took time.Duration, err error) {
	requestID := requestIDFrom(r.Context())
	server := r.PathValue("server")
	g.log.Warn("upstream failed", "request", requestID, "server", server, "err", err)
	var id []byte
	if c != nil {
		id = c.id
		g.keyLost(c, 0, err)
		g.recordResult(r.Context(), c, o, took)
	} else {
		g.metrics.upstreamErrs.WithLabelValues(server).Inc()
	}
	writeRPCError(w, id, newRPCError(http.StatusBadGateway, CodeUpstream, "gateway:upstream",
		"the tool server did not answer"), requestID)
}

// legacyPost tells a POST to the endpoint of an HTTP+SSE session: its query is the gateway's session alone.
func legacyPost(r *http.Request) bool {
	q := r.URL.Query()
	return r.Method == http.MethodPost && len(q) == 1 && len(q[legacySessionParam]) == 1
}
