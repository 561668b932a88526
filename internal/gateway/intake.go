package gateway

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"os"
	"strings"
	"time"
)

// Headers a request may carry at most once: the gateway reads them, or forwards them to a tool server that may read
// another copy than the gateway did (Go takes the first, Node.js joins them with ", "). Every Mcp-* header too.
// (Idempotency-Key and X-Agops-Approval are refused twice by their own readers.)
var singleHeaders = []string{"Content-Type", "Content-Encoding", "Content-Length", "Transfer-Encoding",
	"Last-Event-Id", "Traceparent", "Tracestate", "Authorization", "Host",
	"X-Http-Method-Override", "X-Http-Method", "X-Method-Override", "X-Original-Url", "X-Rewrite-Url"}

// Headers that make some web frameworks run another method or path than the request line says; the policy judges
// the request line, so plain HTTP calls carrying them are refused.
var overrideHeaders = []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override", "X-Original-Url",
	"X-Rewrite-Url"}

// checkHeaders refuses a request that carries a header twice that the gateway or the tool server reads.
func checkHeaders(r *http.Request) *rpcError {
	for k, v := range r.Header {
		if len(v) > 1 && (strings.HasPrefix(k, "Mcp-") || containsFold(singleHeaders, k)) {
			return invalidRequest(fmt.Sprintf("the %s header is sent %d times; send it once", k, len(v)))
		}
	}
	return nil
}

// checkPlainHeaders refuses a plain HTTP call whose headers could make the tool server run another method or path
// than the one judged.
func checkPlainHeaders(r *http.Request) *rpcError {
	if err := checkHeaders(r); err != nil {
		return err
	}
	for _, h := range overrideHeaders {
		if _, ok := r.Header[http.CanonicalHeaderKey(h)]; ok {
			return invalidRequest(fmt.Sprintf("the %s header is not accepted: the policy judges the request line", h))
		}
	}
	return nil
}

// checkContent refuses an MCP body that a tool server could decode other than as the UTF-8 JSON the gateway reads:
// a media type other than application/json, a charset other than UTF-8 (the Express JSON parser that the TypeScript
// SDK's createMcpExpressApp installs decodes utf-7, utf-16 and utf-32 bodies as told, and older SDKs any charset), or a
// content coding (the same parser inflates gzip, deflate and br).
func checkContent(r *http.Request) *rpcError {
	unsupported := func(reason string) *rpcError {
		return newRPCError(http.StatusUnsupportedMediaType, codeInvalidRequest, "gateway:content-type", reason)
	}
	ct := r.Header.Values("Content-Type")
	if len(ct) != 1 {
		return unsupported(`send exactly one Content-Type: application/json`)
	}
	media, params, err := mime.ParseMediaType(ct[0])
	if err != nil || media != "application/json" {
		return unsupported(fmt.Sprintf("Content-Type %q: want application/json", ct[0]))
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return unsupported(fmt.Sprintf("Content-Type %q: only charset=utf-8 is accepted", ct[0]))
		}
	}
	if ce := r.Header.Values("Content-Encoding"); len(ce) > 0 && !(len(ce) == 1 && strings.EqualFold(ce[0], "identity")) {
		return unsupported("Content-Encoding is not accepted; send the body as it is")
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// readBody reads a request body within the size limit and the body timeout, holding its share of the memory all
// bodies may take together (Options.MaxBodyMemory) until release is called: a request that cannot get it within the
// body timeout is refused (503), so stalled senders cannot make the gateway hold more.
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request) (body []byte, release func(), rerr *rpcError) {
	release = func() {}
	tooLarge := newRPCError(http.StatusRequestEntityTooLarge, CodeTooLarge, "gateway:body-too-large",
		fmt.Sprintf("request body over %d bytes", g.opts.MaxBodyBytes))
	if r.ContentLength > g.opts.MaxBodyBytes {
		w.Header().Set("Connection", "close")
		return nil, release, tooLarge
	}
	deadline := time.Now().Add(g.opts.BodyReadTimeout)
	share := g.opts.MaxBodyBytes
	if r.ContentLength >= 0 {
		share = r.ContentLength
	}
	share = 2*share + 4096 // the body and its canonical form
	agent := agentFrom(r.Context())
	if !g.shares.take(agent, share) {
		w.Header().Set("Connection", "close")
		w.Header().Set("Retry-After", "1")
		return nil, release, newRPCError(http.StatusTooManyRequests, CodeLimited, "limits:bodyMemory",
			"this agent's request bodies in flight hold its share of the gateway's memory; try again")
	}
	release = func() { g.shares.give(agent, share) }
	wait, cancel := context.WithDeadline(r.Context(), deadline)
	err := g.bodies.acquire(wait, share)
	cancel()
	if err != nil {
		release()
		w.Header().Set("Connection", "close")
		w.Header().Set("Retry-After", "1")
		return nil, release, newRPCError(http.StatusServiceUnavailable, codeInternal, "gateway:busy",
			"too many request bodies in flight; try again")
	}
	release = func() { g.bodies.release(share); g.shares.give(agent, share) }
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(deadline)
	defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	body, err = readAll(http.MaxBytesReader(w, r.Body, g.opts.MaxBodyBytes), r.ContentLength, g.opts.MaxBodyBytes+1)
	if err != nil {
		// The rest of the body is not worth waiting for: answer, then drop the connection.
		w.Header().Set("Connection", "close")
	}
	var maxErr *http.MaxBytesError
	switch {
	case err == nil:
		return body, release, nil
	case errors.As(err, &maxErr):
		return nil, release, tooLarge
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, release, newRPCError(http.StatusRequestTimeout, CodeSlowClient, "gateway:slow-client",
			fmt.Sprintf("request body not received within %s", g.opts.BodyReadTimeout))
	default:
		return nil, release, newRPCError(http.StatusBadRequest, codeParseError, "gateway:read-error", "reading the request body failed")
	}
}
