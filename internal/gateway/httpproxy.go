package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
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
	if clean := path.Clean(p); r.URL.RawPath != "" || (clean != p && clean+"/" != p) {
		g.refuse(w, r, nil, invalidRequest("the path must be clean and plainly encoded"), "")
		return
	}
	body, rerr := g.readBody(w, r)
	if rerr != nil {
		g.refuse(w, r, nil, rerr, "")
		return
	}
	agent := agentFrom(r.Context())
	c := &call{
		requestID: requestIDFrom(r.Context()), remote: r.RemoteAddr, pol: st, up: up,
		digest: rawDigest(bytes.Join([][]byte{[]byte(r.URL.RawQuery), body}, []byte{0})),
		c:      policy.Call{Agent: agent, Server: up.Name, Method: r.Method, Path: p},
	}
	if derr := g.admit(r.Context(), c); derr != nil {
		e := *derr
		e.Status = plainStatus(derr)
		writeRPCError(w, nil, &e, c.requestID)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.opts.CallTimeout)
	defer cancel()
	target := *up.url
	target.Path, target.RawPath = strings.TrimSuffix(up.url.Path, "/")+p, ""
	target.RawQuery = r.URL.RawQuery
	status, failure := 0, error(nil)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL, pr.Out.Host = &target, ""
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Del("Cookie")
			pr.Out.Header.Set(agentHeader, agent)
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
	o := outcome{status: "ok"}
	switch {
	case errors.Is(failure, context.DeadlineExceeded):
		o.status = "timeout"
	case failure != nil || status >= 500:
		o.status = "upstream-error"
	case status >= 400:
		o.status = "error"
	}
	g.recordResult(r.Context(), c, o, time.Since(start))
}

// plainStatus maps a judgement to an HTTP status for plain HTTP callers, who cannot read a JSON-RPC error in a 200.
func plainStatus(e *rpcError) int {
	if e.Status != http.StatusOK {
		return e.Status
	}
	switch e.Code {
	case CodeLimited:
		return http.StatusTooManyRequests
	case codeInternal:
		return http.StatusServiceUnavailable
	}
	return http.StatusForbidden
}
