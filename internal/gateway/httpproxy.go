package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/agops/agops/internal/policy"
)

// serveHTTP judges and proxies a request to a plain HTTP tool server: /http/{server}/{path...}. The policy sees the
// method and the cleaned path; the upstream gets exactly that path (and the query, which the policy does not see
// but the approval key and the audit digest include).
func (g *Gateway) serveHTTP(w http.ResponseWriter, r *http.Request) {
	st, up, ok := g.route(w, r, "http")
	if !ok {
		return
	}
	p := "/" + r.PathValue("path")
	// Servers read some characters as structure the policy does not see: ";" starts path parameters ("/a/..;/admin"
	// is "/admin" to Tomcat and Spring), "\\" is a separator to Windows and some routers, and control characters end
	// or split the path in others.
	if clean := path.Clean(p); r.URL.RawPath != "" || (clean != p && clean+"/" != p) ||
		strings.ContainsFunc(p, func(c rune) bool { return c == ';' || c == '\\' || c < 0x20 || c == 0x7f }) {
		g.refuse(w, r, nil, invalidRequest("the path must be clean and plainly encoded, without ';', '\\' or control characters"), "")
		return
	}
	body, release, rerr := g.readBody(w, r)
	defer release()
	if rerr != nil {
		g.refuse(w, r, nil, rerr, "")
		return
	}
	c := &call{
		requestID: requestIDFrom(r.Context()), remote: r.RemoteAddr, pol: st, up: up,
		digest: rawDigest(bytes.Join([][]byte{[]byte(r.URL.RawQuery), body}, []byte{0})),
		c:      policy.Call{Agent: agentFrom(r.Context()), Server: up.Name, Method: r.Method, Path: p},
	}
	if !g.callHeaders(w, r, c) {
		return
	}
	end, run := func() {}, true
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		end, run = g.keyed(w, r, c)
	}
	if !run {
		return
	}
	defer end()
	if derr := g.admit(r.Context(), c); derr != nil {
		answerDenial(w, c, derr)
		return
	}
	target := *up.url
	target.Path, target.RawPath = strings.TrimSuffix(up.url.Path, "/")+p, ""
	target.RawQuery = r.URL.RawQuery
	if c.key != nil {
		g.forwardKeyedHTTP(w, r, c, &target, body)
		return
	}
	g.proxyHTTP(w, r, c, &target, body)
}

// proxyHTTP streams a judged plain HTTP call to the tool server and its answer back.
func (g *Gateway) proxyHTTP(w http.ResponseWriter, r *http.Request, c *call, target *url.URL, body []byte) {
	ctx, cancel := g.callContext(r.Context(), c)
	defer cancel()
	status, failure := 0, error(nil)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL, pr.Out.Host = target, ""
			stripCallerHeaders(pr.Out.Header)
			pr.Out.Header.Set(agentHeader, c.c.Agent)
			pr.Out.Body, pr.Out.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		},
		Transport:      g.client.Transport,
		FlushInterval:  -1,
		ModifyResponse: func(resp *http.Response) error { status = resp.StatusCode; return nil },
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			failure = err
			writeRPCError(w, nil, newRPCError(http.StatusBadGateway, CodeUpstream, "gateway:upstream",
				"the tool server did not answer"), c.requestID)
		},
	}
	start := time.Now()
	rp.ServeHTTP(w, r.WithContext(ctx))
	g.recordResult(r.Context(), c, httpOutcome(status, failure), time.Since(start))
}

// stripCallerHeaders removes what the tool server must not see: the caller's credentials, and the headers meant for
// the gateway (an Idempotency-Key is scoped to the agent here; a tool server keeping its own would not be).
func stripCallerHeaders(h http.Header) {
	for _, k := range []string{"Authorization", "Cookie", HeaderIdempotencyKey, HeaderApproval} {
		h.Del(k)
	}
}

func httpOutcome(status int, failure error) outcome {
	o := outcome{status: "ok"}
	switch {
	case errors.Is(failure, context.DeadlineExceeded):
		o.status = "timeout"
	case failure != nil || status >= 500:
		o.status = "upstream-error"
	case status >= 400:
		o.status = "error"
	}
	return o
}

// plainStatus maps a judgement to an HTTP status for plain HTTP callers, who cannot read a JSON-RPC error in a 200.
func plainStatus(e *rpcError) int {
	if e.Status != http.StatusOK {
		return e.Status
	}
	switch e.Code {
	case CodeLimited:
		return http.StatusTooManyRequests
	case CodeIdempotency:
		return http.StatusConflict
	case codeInternal:
		return http.StatusServiceUnavailable
	}
	return http.StatusForbidden
}
