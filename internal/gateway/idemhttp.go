package gateway

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// hopHeaders are the hop-by-hop headers (RFC 9110 §7.6.1), and the forwarding headers the reverse proxy also drops.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer",
	"Transfer-Encoding", "Upgrade", "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
}

// forwardKeyedHTTP forwards a plain HTTP call sent with an Idempotency-Key: detached from its caller, its answer
// read whole (up to Options.MaxResponseBytes) and kept for a retry before the caller gets it.
func (g *Gateway) forwardKeyedHTTP(w http.ResponseWriter, r *http.Request, c *call, target *url.URL, body []byte) {
	ctx, cancel := g.callContext(r.Context(), c)
	defer cancel()
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, r.Method, target.String(), bytes.NewReader(body))
	var resp *http.Response
	if err == nil {
		copyHeaders(req.Header, r.Header)
		stripCallerHeaders(req.Header)
		req.Header.Del("Accept-Encoding") // the transport asks for gzip and decodes it: the kept body is plain
		req.Header.Set(agentHeader, c.c.Agent)
		resp, err = g.client.Do(req)
	}
	if err != nil {
		g.keyLost(c, 0, err)
		g.recordResult(r.Context(), c, httpOutcome(0, err), time.Since(start))
		writeRPCError(w, nil, newRPCError(http.StatusBadGateway, CodeUpstream, "gateway:upstream",
			"the tool server did not answer"), c.requestID)
		return
	}
	defer resp.Body.Close()
	data, err := readAll(resp.Body, resp.ContentLength, g.opts.MaxResponseBytes+1)
	if err == nil && int64(len(data)) > g.opts.MaxResponseBytes {
		err = errResponseTooLarge
	}
	if err != nil {
		g.keyLost(c, resp.StatusCode, err)
		g.recordResult(r.Context(), c, httpOutcome(resp.StatusCode, err), time.Since(start))
		writeRPCError(w, nil, newRPCError(http.StatusBadGateway, CodeUpstream, "gateway:upstream",
			fmt.Sprintf("the tool server's answer could not be read whole (at most %d bytes are kept for a call "+
				"with an %s)", g.opts.MaxResponseBytes, HeaderIdempotencyKey)), c.requestID)
		return
	}
	g.recordAnswered(r.Context(), c, httpOutcome(resp.StatusCode, nil), time.Since(start), nil,
		&HTTPAnswer{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: data})
	copyHeaders(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(data)
}

// copyHeaders copies the end-to-end headers of from into to: not the hop-by-hop ones, nor those its Connection
// header names.
func copyHeaders(to, from http.Header) {
	for k, v := range from {
		to[k] = append([]string(nil), v...)
	}
	for _, v := range from.Values("Connection") {
		for k := range strings.SplitSeq(v, ",") {
			to.Del(strings.TrimSpace(k))
		}
	}
	for _, k := range hopHeaders {
		to.Del(k)
	}
}
