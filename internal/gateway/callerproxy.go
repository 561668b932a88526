package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// CallerProxy is the gateway's half inside a caller's pod (`agops tool-proxy`, a native sidecar): the caller keeps
// calling its tool servers at their Compose URLs with no header of its own, the tools' names resolve to loopback
// addresses in the pod (hostAliases), and the proxy listening there forwards each request to the gateway with the
// pod's ServiceAccount token, so that the gateway knows exactly which agent calls.
//
// What it trusts: the kubelet, which writes a token for the gateway's audience into the proxy's container only and
// rotates it; the pod's network namespace, which keeps its loopback addresses from every other pod. A request that
// already carries an Authorization header (an agent that sends its own token) passes unchanged. The request's Host
// header is kept, so the gateway routes it to the tool server the caller named, exactly as a request that reached
// it by the tool's Service. The proxy judges nothing: the gateway does.
type CallerProxy struct {
	gateway   *url.URL
	tokenFile string
	refresh   time.Duration
	log       *slog.Logger
	proxy     *httputil.ReverseProxy

	mu      sync.Mutex
	token   string
	readAt  time.Time
	readErr error
}

// CallerProxyOptions configure a CallerProxy.
type CallerProxyOptions struct {
	// Gateway is the gateway's base URL, by a name the pod's hostAliases do not change
	// (http://agops-gateway.ai-lab.svc.cluster.local:8080).
	Gateway string
	// TokenFile holds the pod's ServiceAccount token for the gateway's audience; it is read again at most every
	// TokenRefresh (the kubelet replaces it before it expires).
	TokenFile    string
	TokenRefresh time.Duration // default 30 s
	Logger       *slog.Logger  // nil: silent
	// Transport reaches the gateway; nil: a clone of http.DefaultTransport that ignores proxy settings.
	Transport http.RoundTripper
}

// NewCallerProxy checks o.
func NewCallerProxy(o CallerProxyOptions) (*CallerProxy, error) {
	u, err := url.Parse(o.Gateway)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("--gateway %q: want the gateway's base URL, http://HOST:PORT", o.Gateway)
	}
	if o.TokenFile == "" {
		return nil, errors.New("--token-file is required: the pod's ServiceAccount token for the gateway's audience")
	}
	p := &CallerProxy{gateway: u, tokenFile: o.TokenFile, log: o.Logger}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	refresh := o.TokenRefresh
	if refresh <= 0 {
		refresh = 30 * time.Second
	}
	tr := o.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// The caller's proxy settings are for the outside world, not for the gateway in its own cluster.
		t.Proxy = nil
		t.MaxIdleConnsPerHost = 64
		tr = t
	}
	p.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			// The tool the caller named: the gateway routes by it (--host-route), as when reached by the tool's Service.
			pr.Out.Host = pr.In.Host
		},
		Transport:     tr,
		FlushInterval: -1, // server-sent events go on at once
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.log.Warn("tool-proxy: the gateway did not answer", "host", r.Host, "err", err)
			proxyError(w, http.StatusBadGateway, "the agops gateway did not answer: "+err.Error())
		},
	}
	p.refresh = refresh
	return p, nil
}

// ServeHTTP forwards r to the gateway with the pod's token.
func (p *CallerProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") == "" {
		tok, err := p.currentToken()
		if err != nil {
			p.log.Error("tool-proxy: no token for the gateway", "err", err)
			proxyError(w, http.StatusServiceUnavailable, "no token for the agops gateway: "+err.Error())
			return
		}
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	p.proxy.ServeHTTP(w, r)
}

// currentToken is the token file's content, read again once it is older than the refresh interval. A file that
// cannot be read or is empty is an error: the proxy never forwards a call without the pod's identity.
func (p *CallerProxy) currentToken() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.readAt.IsZero() && time.Since(p.readAt) < p.refresh && p.readErr == nil {
		return p.token, nil
	}
	data, err := os.ReadFile(p.tokenFile)
	tok := strings.TrimSpace(string(data))
	switch {
	case err != nil:
		p.readErr = err
	case tok == "" || strings.ContainsAny(tok, " \t\r\n"):
		p.readErr = fmt.Errorf("%s holds no token", p.tokenFile)
	default:
		p.token, p.readErr = tok, nil
	}
	p.readAt = time.Now()
	return p.token, p.readErr
}

// proxyError answers with a JSON-RPC error without id, the form MCP clients show.
func proxyError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":%q}}`+"\n", "agops tool-proxy: "+msg)
}

// Serve listens on every address (loopback addresses the caller's tool names resolve to) and serves until ctx ends.
// Every address is bound before any is served: an address that cannot be bound is an error at once.
func (p *CallerProxy) Serve(ctx context.Context, addrs []string) error {
	if len(addrs) == 0 {
		return errors.New("tool-proxy: give at least one --listen address")
	}
	var lns []net.Listener
	closeAll := func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}
	for _, a := range addrs {
		host, _, err := net.SplitHostPort(a)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			closeAll()
			return fmt.Errorf("--listen %q: want a loopback address and port (127.0.0.2:8811): the proxy lends the pod's identity to whoever reaches it", a)
		}
		ln, err := net.Listen("tcp", a)
		if err != nil {
			closeAll()
			return fmt.Errorf("tool-proxy: %w", err)
		}
		lns = append(lns, ln)
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	errs := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { errs <- srv.Serve(ln) }()
	}
	p.log.Info("tool-proxy: serving", "listen", strings.Join(addrs, ","), "gateway", p.gateway.String())
	select {
	case <-ctx.Done():
	case err := <-errs:
		if !errors.Is(err, http.ErrServerClosed) {
			_ = srv.Close()
			return fmt.Errorf("tool-proxy: %w", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}
