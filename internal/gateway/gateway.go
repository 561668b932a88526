package gateway

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/mod/sumdb/note"

	"github.com/agops/agops/internal/audit"
	"github.com/agops/agops/internal/policy"
)

// Policy is what the gateway asks of the policy engine.
type Policy interface {
	Decide(policy.Call) policy.Decision
	// Allowed reports whether agent may call tool on server; it filters tools/list.
	Allowed(agent, server, tool string) bool
	Guidance(agent string) (policy.Guidance, bool)
	Servers() []policy.Server
}

// Authenticator maps a request to the agent it comes from; identity comes from nothing else.
type Authenticator interface {
	Authenticate(r *http.Request) (agent string, err error)
}

// Options configure a Gateway. Policy may be nil until SetPolicy; meanwhile every call is refused.
type Options struct {
	Policy        Policy
	Authenticator Authenticator  // required
	Audit         audit.Appender // required; if it also has Ready() error, /readyz asks it
	// ApprovalDir holds the approval store (required); it is created if missing.
	ApprovalDir string
	// IdempotencyDir holds the idempotency keys of calls sent with an Idempotency-Key header; it is created if
	// missing. Empty: such calls are refused (gateway:idempotency-unavailable), never run unprotected.
	IdempotencyDir string
	// IdempotencyTTL is how long a key and its recorded result are kept; default 24 h.
	IdempotencyTTL time.Duration
	// AdminAuthenticator authenticates the humans who use the admin listener (required): listing and deciding
	// approvals, metrics. The identity it returns is the approver; nobody approves a call of their own identity.
	AdminAuthenticator Authenticator
	// PeerAuthenticator authenticates the other replicas on the admin listener (keys, approvals by key, spending, and
	// decisions and listings passed on); nil: PeerToken is the one token they share. Neither: no replica is accepted.
	PeerAuthenticator Authenticator
	Logger            *slog.Logger     // nil: silent
	Clock             func() time.Time // nil: time.Now
	// Transport reaches the tool servers; nil: a clone of http.DefaultTransport.
	Transport http.RoundTripper

	MaxBodyBytes int64 // request body limit; default 1 MiB
	// MaxBodyMemory bounds the memory the request bodies being read and judged hold together (each holds twice its
	// size, for its canonical form); default 64 MiB, of which one agent may hold a quarter (429 limits:bodyMemory
	// beyond). A body that cannot get its share within BodyReadTimeout: 503.
	MaxBodyMemory    int64
	MaxResponseBytes int64         // a buffered upstream response or one SSE event; default 16 MiB
	BodyReadTimeout  time.Duration // time to receive a request body; default 10s
	CallTimeout      time.Duration // one forwarded call; default 10 min
	// StreamWriteTimeout bounds each write to an agent's HTTP+SSE stream; an agent that stops reading loses the
	// session. Default 30 s.
	StreamWriteTimeout time.Duration
	// ApprovalTimeout applies when a Decision has none; default 10 min.
	ApprovalTimeout time.Duration
	// ApprovalValidity is how long an approved call stays usable by a retry; default 1 h.
	ApprovalValidity time.Duration
	// What one agent can make the gateway and the tool servers hold, whatever its policy says (defaults in
	// brackets): approvals pending at once [16], MCP sessions per tool server [32; opening one more ends the least
	// recently used, upstream too], requests per minute on the agents' listener, every MCP message counted [600],
	// requests in flight at once, streams included [32].
	MaxPendingApprovals   int
	MaxSessionsPerAgent   int
	MaxRequestsPerMinute  int
	MaxConcurrentPerAgent int
	// AllowMethods lists extra MCP methods to pass through unjudged (e.g. "resources/read").
	AllowMethods []string
	// HostRoutes maps a host name callers use (the tool server's own Service name in the cluster) to a server of the
	// policy: a request for that host, on any path, is an MCP request for that server, forwarded with its path.
	HostRoutes map[string]string
	// Upstreams overrides the URL of a policy's server (in the cluster, the tool's -upstream Service).
	Upstreams map[string]string
	// Peers lists the admin base URLs of the other replicas (see PeersByDNS): an approval this replica does not
	// hold is decided on the peer that does, and listings include theirs; a keyed call this replica knows nothing
	// of asks them for its key first (see KeyState); an approval-gated call with no approval here uses, waits for
	// or is told about the approval a peer holds for the identical call before one is created here (see
	// AdminClient.ApprovalByKey and AdminClient.UseApproval).
	Peers func(context.Context) []string
	// WitnessDir keeps the latest audit checkpoint of every other replica, as they publish them
	// (POST /audit/checkpoints; see PeerPublisher); empty: none is kept.
	WitnessDir string
	// PeerToken is the bearer token this replica sends when it asks its peers for a key or an approval, or spends
	// a peer's approval: needed when they have an AdminAuthenticator, which must accept it.
	PeerToken string
	// TracerProvider makes the spans of every request on the agents' listener (docs/telemetry.md); nil: otel's
	// global one, which does nothing until telemetry.Setup installs one.
	TracerProvider trace.TracerProvider
	// AuditLogPath is the file Audit writes, served read only on the admin listener (GET /audit/records, GET
	// /audit/export) to people and consoles; "" serves none. AuditVerifier (nil: none) checks the signed
	// checkpoints at AuditCheckpointPath (default AuditLogPath + ".checkpoint").
	AuditLogPath        string
	AuditVerifier       note.Verifier
	AuditCheckpointPath string
}

// Gateway is the governing proxy. Its handlers are safe for concurrent use.
type Gateway struct {
	opts        Options
	log         *slog.Logger
	now         func() time.Time
	policy      atomic.Pointer[policyState]
	client      *http.Client
	limits      *limiter
	approvals   *approvalStore
	keys        *keyStore // nil without Options.IdempotencyDir
	sessions    *sessionTable
	legacy      legacySessions    // HTTP+SSE sessions (legacysse.go)
	aggregates  aggregateHandlers // the aggregate servers (aggregate.go)
	bodies      *byteBudget
	shares      *agentShares
	authFlood   *authFlood
	peerAuth    Authenticator // nil: no replica is accepted on the admin listener
	gate        *agentGate
	witness     *witness // nil without Options.WitnessDir
	auditReader *auditReader
	limitFlood  *authFlood
	metrics     *metrics
	auditFailed atomic.Bool
	methods     map[string]bool
	tracer      trace.Tracer
}

// policyState is one loaded policy with its servers resolved; a request keeps the one it started with.
type policyState struct {
	p       Policy
	servers map[string]upstream
	broken  error // set instead of p when the policy file changed and did not load: every call is refused
}

type upstream struct {
	policy.Server
	url *url.URL
	// path is the path of the server's URL in the policy (the tool's MCP endpoint as callers name it); a request
	// that reaches the gateway by the tool's own name must be for that path, not another endpoint of the server.
	path string
}

// New checks the options and opens the approval store and the idempotency store.
func New(o Options) (*Gateway, error) {
	var errs []error
	if o.Authenticator == nil {
		errs = append(errs, errors.New("gateway: Authenticator is required"))
	}
	if o.Audit == nil {
		errs = append(errs, errors.New("gateway: Audit is required"))
	}
	if o.ApprovalDir == "" {
		errs = append(errs, errors.New("gateway: ApprovalDir is required"))
	}
	if o.AdminAuthenticator == nil {
		errs = append(errs, errors.New("gateway: AdminAuthenticator is required: every admin route authenticates"))
	}
	if o.PeerToken != "" && len(o.PeerToken) < minTokenLen {
		errs = append(errs, fmt.Errorf("gateway: PeerToken shorter than %d characters", minTokenLen))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	setDefaults(&o)
	tracer := o.TracerProvider.Tracer(tracerName)
	g := &Gateway{
		opts: o, log: o.Logger, now: o.Clock, tracer: tracer,
		client:   &http.Client{Transport: tracingTransport{tracer: tracer, next: o.Transport}, CheckRedirect: noRedirects},
		limits:   newLimiter(),
		sessions: newSessionTable(o.MaxSessionsPerAgent),
		gate:     newAgentGate(o.MaxConcurrentPerAgent, o.MaxRequestsPerMinute),
		bodies:   newByteBudget(o.MaxBodyMemory),
		shares:   newAgentShares(o.MaxBodyMemory),
		methods:  passThroughMethods(o.AllowMethods),
		peerAuth: o.PeerAuthenticator,
	}
	if g.peerAuth == nil && o.PeerToken != "" {
		g.peerAuth = peerTokenAuth{sum: sha256.Sum256([]byte(o.PeerToken))}
	}
	write := func(rec audit.Record) { _ = g.appendAudit(context.Background(), rec) }
	g.authFlood = &authFlood{now: o.Clock, write: write, record: floodRecord}
	g.limitFlood = &authFlood{now: o.Clock, write: write, record: limitRecord}
	store, err := openApprovalStore(o.ApprovalDir, o.Clock)
	if err != nil {
		return nil, err
	}
	g.approvals = store
	g.auditReader = &auditReader{path: o.AuditLogPath, checkpoint: o.AuditCheckpointPath, verifier: o.AuditVerifier}
	if o.WitnessDir != "" {
		if err := os.MkdirAll(o.WitnessDir, 0o700); err != nil {
			return nil, fmt.Errorf("gateway: witness folder: %w", err)
		}
		g.witness = &witness{dir: o.WitnessDir}
	}
	if o.IdempotencyDir != "" {
		if g.keys, err = openKeyStore(o.IdempotencyDir, o.IdempotencyTTL, o.Clock); err != nil {
			return nil, err
		}
	}
	g.metrics = newMetrics(store)
	if o.Policy != nil {
		if err := g.SetPolicy(o.Policy); err != nil {
			return nil, err
		}
	}
	return g, nil
}

func setDefaults(o *Options) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.TracerProvider == nil {
		o.TracerProvider = otel.GetTracerProvider()
	}
	if o.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		o.Transport = t
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.BodyReadTimeout, 10*time.Second)
	def(&o.CallTimeout, 10*time.Minute)
	def(&o.ApprovalTimeout, 10*time.Minute)
	def(&o.ApprovalValidity, time.Hour)
	def(&o.IdempotencyTTL, 24*time.Hour)
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	defInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.StreamWriteTimeout <= 0 {
		o.StreamWriteTimeout = 30 * time.Second
	}
	defInt(&o.MaxPendingApprovals, 16)
	defInt(&o.MaxSessionsPerAgent, 32)
	defInt(&o.MaxRequestsPerMinute, 600)
	defInt(&o.MaxConcurrentPerAgent, 32)
	if o.MaxBodyMemory <= 0 {
		o.MaxBodyMemory = 64 << 20
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = 16 << 20
	}
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// SetPolicy swaps the policy atomically; calls in flight finish under the policy they started with. A policy whose
// servers are invalid is refused and the previous one stays.
func (g *Gateway) SetPolicy(p Policy) error {
	if p == nil {
		return errNoPolicy
	}
	st := &policyState{p: p, servers: map[string]upstream{}}
	var errs []error
	for _, s := range p.Servers() {
		if len(s.Members) > 0 {
			// An aggregate: the gateway serves it (aggregate.go); the policy checked that its members are MCP
			// servers it has.
			st.servers[s.Name] = upstream{Server: s}
			continue
		}
		var mcpPath string
		if pu, err := url.Parse(s.URL); err == nil {
			mcpPath = pu.Path
		}
		if o, ok := g.opts.Upstreams[s.Name]; ok {
			s.URL = o
		}
		u, err := url.Parse(s.URL)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("server %q: url: %w", s.Name, err))
			continue
		case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
			errs = append(errs, fmt.Errorf("server %q: url %q is not an absolute http(s) URL", s.Name, s.URL))
		case s.Kind != "mcp" && s.Kind != "http":
			errs = append(errs, fmt.Errorf("server %q: kind %q is neither mcp nor http", s.Name, s.Kind))
		case st.servers[s.Name].url != nil:
			errs = append(errs, fmt.Errorf("server %q: defined twice", s.Name))
		}
		st.servers[s.Name] = upstream{Server: s, url: u, path: mcpPath}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gateway: policy refused: %w", err)
	}
	g.policy.Store(st)
	g.log.Info("policy loaded", "servers", len(st.servers))
	return nil
}

// RefusePolicy drops the policy because its file changed and does not load (err says why): until a policy loads
// again, every call is refused (gateway:no-policy) rather than judged by a policy its authors replaced, which would
// keep access the new file takes away.
func (g *Gateway) RefusePolicy(err error) {
	g.policy.Store(&policyState{broken: err})
	g.log.Error("policy does not load; every call is refused until it does", "err", err)
}

// Close flushes what the gateway holds for the audit log (the aggregate of refused unauthenticated requests).
func (g *Gateway) Close() {
	if g.keys != nil {
		_ = g.keys.close()
	}
	g.authFlood.stop()
	g.limitFlood.stop()
	if n := g.aggregates.inner; n != nil {
		n.close()
	}
}

// Handler serves the agents: /mcp, /http, /guidance and the probes, and, for a host in Options.HostRoutes, the MCP
// endpoint of that host's server on any path.
func (g *Gateway) Handler() http.Handler {
	mux := g.mux()
	if len(g.opts.HostRoutes) == 0 {
		return mux
	}
	post, stream := g.authenticated(g.serveMCPPost), g.authenticated(g.serveMCPStream)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		server, ok := g.opts.HostRoutes[strings.ToLower(host)]
		if !ok {
			mux.ServeHTTP(w, r)
			return
		}
		r.SetPathValue("server", server)
		r = r.WithContext(context.WithValue(r.Context(), hostRoutedKey{}, true))
		switch r.Method {
		case http.MethodPost:
			post.ServeHTTP(w, r)
		case http.MethodGet, http.MethodDelete:
			stream.ServeHTTP(w, r)
		default:
			w.Header().Set("Allow", "GET, POST, DELETE")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
}

type hostRoutedKey struct{}

// hostRouted tells whether the request reached the gateway by a tool server's own name.
func hostRouted(ctx context.Context) bool {
	v, _ := ctx.Value(hostRoutedKey{}).(bool)
	return v
}

func (g *Gateway) mux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", g.healthz)
	mux.HandleFunc("GET /readyz", g.readyz)
	mux.Handle("POST /mcp/{server}", g.authenticated(g.serveMCPPost))
	mux.Handle("GET /mcp/{server}", g.authenticated(g.serveMCPStream))
	mux.Handle("DELETE /mcp/{server}", g.authenticated(g.serveMCPStream))
	mux.Handle("/http/{server}/{path...}", g.authenticated(g.serveHTTP))
	mux.Handle("GET /guidance", g.authenticated(g.serveGuidance))
	return mux
}

// AdminHandler serves approvals (and, for its peers, the approval of an approval key and the spending of one), the
// idempotency keys this replica holds (for its peers), metrics and the probes; bind it to an address agents cannot
// reach.
func (g *Gateway) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", g.healthz)
	mux.HandleFunc("GET /readyz", g.readyz)
	mux.Handle("GET /metrics", g.metricsHandler())
	mux.HandleFunc("GET /approvals", g.listApprovals)
	mux.HandleFunc("GET /usage", g.serveUsage)
	mux.HandleFunc("POST /approvals/{id}", g.decideApproval)
	mux.HandleFunc("GET /approvals/by-key/{key}", g.serveApprovalByKey)
	mux.HandleFunc("POST /approvals/{id}/use", g.serveUseApproval)
	mux.HandleFunc("GET /keys/{name}", g.serveKey)
	mux.HandleFunc("POST /audit/checkpoints", g.serveWitnessPost)
	mux.HandleFunc("GET /audit/checkpoints", g.serveWitnessList)
	mux.HandleFunc("GET /audit/records", g.serveAuditRecords)
	mux.HandleFunc("GET /audit/export", g.serveAuditExport)
	return mux
}
