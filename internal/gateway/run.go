package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"golang.org/x/mod/sumdb/note"
	"k8s.io/client-go/rest"

	"github.com/agops/agops/internal/audit"
	"github.com/agops/agops/internal/kubeclient"
	"github.com/agops/agops/internal/policy"
)

// RunOptions describe a gateway process: what `agops gateway` runs.
type RunOptions struct {
	PolicyFile  string
	Listen      string // agents' listener, e.g. ":8080"
	AdminListen string // approvals, metrics and probes, e.g. "127.0.0.1:9090"
	AuditLog    string
	ApprovalDir string
	// IdempotencyDir keeps the Idempotency-Keys of calls (Options.IdempotencyDir); default AuditLog + ".keys".
	IdempotencyDir string
	// Auth is "static" (TokensFile: lines of "TOKEN AGENT") or "tokenreview" (Kubernetes ServiceAccount tokens for
	// Audience, checked with the API server of Kube).
	Auth       string
	TokensFile string
	// AdminTokensFile lists the humans who may use the admin listener (list and decide approvals, read metrics):
	// lines of "TOKEN IDENTITY", reloaded when the file changes. Required. A missing file means no approvers yet (a
	// Secret not created yet in the cluster), unless CreateAdminTokens makes one.
	AdminTokensFile string
	// CreateAdminTokens creates a missing AdminTokensFile (mode 0600) with one new token for AdminName: local use.
	CreateAdminTokens bool
	AdminName         string
	// AuditKey is the private key that signs the audit log's checkpoints (created, with its .pub beside it, when
	// missing); AuditKeyName names a created key; AuditCheckpoint is where the latest signed checkpoint is written
	// (default AuditLog + ".checkpoint": put it on another volume, or it proves nothing against whoever can write the
	// log's disk); AuditPublisher also hands each checkpoint to a place another principal keeps.
	AuditKey        string
	AuditKeyName    string
	AuditCheckpoint string
	AuditPublisher  audit.Publisher `json:"-"`
	// WitnessDir keeps the latest checkpoints the other replicas publish (default AuditLog + ".witness").
	WitnessDir string
	// PeerTokenFile holds the token the replicas share (its first line) to reach each other's admin listeners;
	// needed with Peers.
	PeerTokenFile string
	Audience      string
	Kube          *rest.Config `json:"-"`
	HostRoutes    map[string]string
	Upstreams     map[string]string
	// Peers is a name (a headless Service) that resolves to every replica; approvals are decided on the replica
	// that holds them (Options.Peers). Their admin port is AdminListen's.
	Peers  string
	Logger *slog.Logger `json:"-"`
	// Poll is how often the policy (and tokens) file is checked for changes; default 2 s.
	Poll time.Duration
	// Ready is called with the listeners' addresses once both serve.
	Ready func(proxy, admin net.Addr) `json:"-"`
}

// Run serves the gateway until ctx ends: it loads the policy, opens the audit log (restoring today's budgets from
// it), listens on both addresses, reloads the policy and tokens when their files change (keeping the old ones when
// the new ones do not load), and on the end stops accepting, lets calls in flight finish for up to 10 s, and closes
// the log.
func Run(ctx context.Context, o RunOptions) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Poll <= 0 {
		o.Poll = 2 * time.Second
	}
	p, err := policy.Load(o.PolicyFile)
	if err != nil {
		return err
	}
	auth, reload, err := authenticator(o)
	if err != nil {
		return err
	}
	admins, err := adminAuthenticator(o, auth, log)
	if err != nil {
		return err
	}
	peerToken, err := readPeerToken(o)
	if err != nil {
		return err
	}
	var peers func(context.Context) []string
	if o.Peers != "" {
		_, port, err := net.SplitHostPort(o.AdminListen)
		n, perr := strconv.Atoi(port)
		if err != nil || perr != nil {
			return fmt.Errorf("gateway: --peers needs an admin address with a port, not %q", o.AdminListen)
		}
		peers = PeersByDNS(o.Peers, n)
	}
	alog, err := openAudit(o, log, peers, peerToken)
	if err != nil {
		return err
	}
	defer alog.Close()
	var verifier note.Verifier
	if o.AuditKey != "" {
		if verifier, err = audit.LoadVerifier(audit.PubPath(o.AuditKey)); err != nil {
			return err
		}
	}
	opts := Options{Policy: p, Authenticator: auth, AdminAuthenticator: admins, PeerToken: peerToken, Audit: alog,
		AuditLogPath: o.AuditLog, AuditVerifier: verifier, AuditCheckpointPath: cmp.Or(o.AuditCheckpoint, o.AuditLog+".checkpoint"),
		ApprovalDir: o.ApprovalDir, Logger: log, Peers: peers, WitnessDir: cmp.Or(o.WitnessDir, o.AuditLog+".witness"),
		IdempotencyDir: cmp.Or(o.IdempotencyDir, o.AuditLog+".keys"), HostRoutes: o.HostRoutes, Upstreams: o.Upstreams}
	g, err := New(opts)
	if err != nil {
		return err
	}
	if err := restoreBudgets(g, o.AuditLog, log); err != nil {
		return err
	}
	pl, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("gateway: listening on %s: %w", o.Listen, err)
	}
	al, err := net.Listen("tcp", o.AdminListen)
	if err != nil {
		pl.Close()
		return fmt.Errorf("gateway: listening on %s: %w", o.AdminListen, err)
	}
	proxy, admin := NewServer("", g.Handler(), Timeouts{}), NewServer("", g.AdminHandler(), Timeouts{})
	errs := make(chan error, 2)
	go func() { errs <- proxy.Serve(pl) }()
	go func() { errs <- admin.Serve(al) }()
	log.Info("gateway serving", "proxy", pl.Addr().String(), "admin", al.Addr().String(), "policy", p.Name())
	if o.Ready != nil {
		o.Ready(pl.Addr(), al.Addr())
	}
	defer g.Close()
	watch := newWatcher(o.PolicyFile, o.TokensFile, o.AdminTokensFile)
	tick := time.NewTicker(o.Poll)
	defer tick.Stop()
	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-errs:
			serveErr = err
			break loop
		case <-tick.C:
			policyChanged, tokensChanged, adminsChanged := watch.changed()
			if adminsChanged {
				if err := admins.Reload(); err != nil {
					log.Error("approver token file not fully reloaded", "err", err)
				}
			}
			if policyChanged {
				np, err := policy.Load(o.PolicyFile)
				if err == nil {
					err = g.SetPolicy(np)
				}
				if err != nil {
					g.RefusePolicy(err)
				}
			}
			if tokensChanged && reload != nil {
				if err := reload(); err != nil {
					log.Error("token file not fully reloaded", "err", err)
				}
			}
		}
	}
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = proxy.Shutdown(shut)
	_ = admin.Shutdown(shut)
	_ = proxy.Close()
	_ = admin.Close()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}

func authenticator(o RunOptions) (Authenticator, func() error, error) {
	switch o.Auth {
	case "static":
		s, err := NewStaticTokens(o.TokensFile)
		if err != nil {
			return nil, nil, err
		}
		return s, s.Reload, nil
	case "tokenreview":
		cfg := o.Kube
		if cfg == nil {
			c, err := rest.InClusterConfig()
			if err != nil {
				return nil, nil, fmt.Errorf("gateway: token review needs the in-cluster config or a kubeconfig: %w", err)
			}
			cfg = c
		}
		client, err := kubeclient.New(cfg)
		if err != nil {
			return nil, nil, err
		}
		tr, err := NewTokenReview(client.AuthenticationV1().TokenReviews(), o.Audience, TokenReviewOptions{})
		return tr, nil, err
	}
	return nil, nil, fmt.Errorf("gateway: unknown authentication %q (static or tokenreview)", o.Auth)
}

// watcher notices changes of files by size and modification time.
type watcher struct {
	policy, tokens, admins string
	ps, ts, as             fileStamp
}

type fileStamp struct {
	size int64
	mod  time.Time
}

func stamp(path string) fileStamp {
	if path == "" {
		return fileStamp{}
	}
	st, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{st.Size(), st.ModTime()}
}

func newWatcher(policy, tokens, admins string) *watcher {
	return &watcher{policy: policy, tokens: tokens, admins: admins, ps: stamp(policy), ts: stamp(tokens), as: stamp(admins)}
}

func (w *watcher) changed() (policyChanged, tokensChanged, adminsChanged bool) {
	ps, ts, as := stamp(w.policy), stamp(w.tokens), stamp(w.admins)
	policyChanged, tokensChanged, adminsChanged = ps != w.ps, ts != w.ts, as != w.as
	w.ps, w.ts, w.as = ps, ts, as
	return
}
