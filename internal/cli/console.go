package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"k8s.io/client-go/rest"

	"github.com/agops/agops/internal/console"
	"github.com/agops/agops/internal/devserver"
	"github.com/agops/agops/internal/gateway"
	"github.com/agops/agops/internal/kubeclient"
)

type consoleFlags struct {
	temporalFlags
	listen       string
	publicURL    string
	gatewayAdmin string
	tokenFile    string
	temporalUI   string
	auditLog     string
	auditKey     string
	policy       string
	lab          string
	users        string
	kubeSignIn   bool
	kubeconfig   string
	audience     string
	approvers    []string
	oidc         console.OIDC
	oidcSecret   string
	noTemporal   bool
	replicas     []string
}

func newConsoleCmd(g *globals, s streams) *cobra.Command {
	f := &consoleFlags{}
	cmd := &cobra.Command{
		Use:   "console --gateway-admin URL --token-file F [--users F | --kube-sign-in | --oidc-issuer URL]",
		Short: "Serve the operator console: approvals, audit, runs, policy and the lab in a browser (docs/console.md)",
		Long: "A web console for the people who govern the fleet. People sign in with a token from --users (lines of " +
			"\"TOKEN IDENTITY viewer|approver\"), a Kubernetes token (--kube-sign-in) or the team's identity provider " +
			"(--oidc-issuer); approvers decide held calls at the gateway in their own name, using the console's token " +
			"(an identity console:NAME in the gateway's approver tokens). `agops dev` serves the same console.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd.Context(), g, s)
		},
	}
	f.temporalFlags.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "127.0.0.1:8090", "address of the console")
	fl.StringVar(&f.publicURL, "public-url", "", "the console's address as browsers see it, behind a TLS proxy (https://… makes cookies Secure)")
	fl.StringVar(&f.gatewayAdmin, "gateway-admin", "", "the gateway's admin address, e.g. http://127.0.0.1:9090")
	fl.StringVar(&f.tokenFile, "token-file", "", "file whose first line is the console's token at the gateway (an identity console:NAME in its approver tokens)")
	fl.StringVar(&f.temporalUI, "temporal-ui", "", "base URL of Temporal's web UI, for links from runs")
	fl.BoolVar(&f.noTemporal, "no-temporal", false, "no runs page (no Temporal to reach)")
	fl.StringVar(&f.auditLog, "audit-log", "", "the gateway's audit log file (read only), when the console can read it")
	fl.StringArrayVar(&f.replicas, "gateway-replica", nil, "NAME=URL: a gateway replica's admin address, whose own audit log the console reads (repeatable; default: --gateway-admin, when no --audit-log)")
	fl.StringVar(&f.auditKey, "audit-key", "", "public key (.pub) the audit checkpoints are signed with")
	fl.StringVar(&f.policy, "policy", "", "the fleet policy the gateway enforces")
	fl.StringVar(&f.lab, "lab", "", "a folder agops migrate wrote, for the lab's map and report")
	fl.StringVar(&f.users, "users", "", "people who sign in with a token: lines of \"TOKEN IDENTITY viewer|approver\"")
	fl.BoolVar(&f.kubeSignIn, "kube-sign-in", false, "sign people in with Kubernetes tokens (TokenReview)")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig for --kube-sign-in out of a cluster (default: in-cluster)")
	fl.StringVar(&f.audience, "audience", "", "token audience required by --kube-sign-in (default: the API server's)")
	fl.StringArrayVar(&f.approvers, "approver", nil, "a user name or group that gets the approver role with --kube-sign-in or OIDC (repeatable)")
	fl.StringVar(&f.oidc.Issuer, "oidc-issuer", "", "OIDC issuer URL")
	fl.StringVar(&f.oidc.ClientID, "oidc-client-id", "", "OIDC client ID")
	fl.StringVar(&f.oidcSecret, "oidc-client-secret-file", "", "file holding the OIDC client secret")
	fl.StringVar(&f.oidc.RedirectURL, "oidc-redirect-url", "", "OIDC redirect URL: PUBLIC_URL/oidc/callback")
	fl.StringVar(&f.oidc.NameClaim, "oidc-name-claim", "", "claim naming the person (default email, then preferred_username)")
	fl.StringArrayVar(&f.oidc.Allowed, "oidc-allow", nil, "only these names or groups may sign in (repeatable; default anyone the provider signs in, as viewer)")
	return cmd
}

func (f *consoleFlags) run(ctx context.Context, g *globals, s streams) error {
	o := console.Options{TemporalUI: f.temporalUI, Namespace: f.namespace, AuditLog: f.auditLog, AuditKey: f.auditKey,
		PolicyFile: f.policy, Lab: f.lab, PublicURL: f.publicURL, Logger: g.logger(s.err)}
	if f.gatewayAdmin != "" {
		tok, _, err := gateway.FirstToken(f.tokenFile)
		if err != nil {
			return usageError{fmt.Errorf("--token-file: the console's token at the gateway: %w", err)}
		}
		o.Gateway = &gateway.AdminClient{BaseURL: f.gatewayAdmin, Token: tok}
		replicas, err := pairs("--gateway-replica", f.replicas, nil)
		if err != nil {
			return err
		}
		for _, name := range sortedNames(replicas) {
			o.AuditReplicas = append(o.AuditReplicas, console.AuditReplica{Name: name,
				Client: &gateway.AdminClient{BaseURL: replicas[name], Token: tok}})
		}
		if len(o.AuditReplicas) == 0 && f.auditLog == "" {
			o.AuditReplicas = []console.AuditReplica{{Name: "gateway", Client: o.Gateway}}
		}
	} else if len(f.replicas) > 0 {
		return usageError{errors.New("--gateway-replica needs --gateway-admin and --token-file")}
	}
	if err := f.signIns(ctx, &o); err != nil {
		return err
	}
	if !f.noTemporal {
		c, err := f.dial(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		o.Temporal = c
	}
	srv, err := console.New(o)
	if err != nil {
		return err
	}
	return serveConsole(ctx, f.listen, srv, func(addr string) {
		if !g.quiet {
			fmt.Fprintf(s.err, "agops: console on http://%s\n", addr)
		}
	})
}

func (f *consoleFlags) signIns(ctx context.Context, o *console.Options) error {
	if f.users != "" {
		u, err := console.NewStaticUsers(f.users)
		if err != nil {
			return err
		}
		o.SignIns = append(o.SignIns, u)
	}
	if f.kubeSignIn {
		cfg, err := rest.InClusterConfig()
		if f.kubeconfig != "" {
			cfg, err = loadKubeconfig(f.kubeconfig)
		}
		if err != nil {
			return fmt.Errorf("--kube-sign-in: %w", err)
		}
		cs, err := kubeclient.New(cfg)
		if err != nil {
			return err
		}
		o.SignIns = append(o.SignIns, &console.KubeSignIn{Reviews: cs.AuthenticationV1().TokenReviews(),
			Audience: f.audience, Approvers: f.approvers})
	}
	if f.oidc.Issuer != "" {
		if f.oidcSecret != "" {
			b, err := os.ReadFile(f.oidcSecret)
			if err != nil {
				return err
			}
			f.oidc.ClientSecret = strings.TrimSpace(string(b))
		}
		f.oidc.Approvers = f.approvers
		if err := f.oidc.Init(ctx); err != nil {
			return err
		}
		o.OIDC = &f.oidc
	}
	return nil
}

// serveConsole serves the console on addr until ctx ends; ready gets the address it listens on.
func serveConsole(ctx context.Context, addr string, srv *console.Server, ready func(string)) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("console: listening on %s: %w", addr, err)
	}
	hs := gateway.NewServer("", srv.Handler(), gateway.Timeouts{})
	ready(l.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

// devConsole is the console `agops dev` serves: the dev gateway's admin listener with a console token added to
// its approver tokens, the dev Temporal, audit log, key and policy, and a one-time sign-in link for the person at
// the machine as approver.
type devConsole struct {
	listen string
	lab    string
	users  string
	token  string
}

// prepare gives the console a token in the dev gateway's approver tokens before the gateway reads them, creating
// the file (with person's own token) when it is missing.
func (d *devConsole) prepare(state, person string) error {
	path := state + "/admin-tokens"
	if _, err := os.Stat(path); os.IsNotExist(err) {
		if err := gateway.CreateAdminTokens(path, person); err != nil {
			return err
		}
	}
	tok, err := gateway.ConsoleToken(path, "dev")
	d.token = tok
	return err
}

func (d *devConsole) start(ctx context.Context, log *slog.Logger, state, adminListen, policy, person string,
	c client.Client) (<-chan error, string, error) {
	tok := d.token
	once := console.NewOneTimeTokens()
	link, err := once.Issue(console.Person{Name: person, Role: console.Approver}, 24*time.Hour)
	if err != nil {
		return nil, "", err
	}
	var signIns []console.TokenSignIn
	if d.users != "" {
		u, err := console.NewStaticUsers(d.users)
		if err != nil {
			return nil, "", err
		}
		signIns = append(signIns, u)
	}
	audit := state + "/audit.jsonl"
	srv, err := console.New(console.Options{SignIns: signIns, Gateway: &gateway.AdminClient{BaseURL: "http://" + adminListen, Token: tok},
		Temporal: c, Namespace: devserver.DefaultNamespace, AuditLog: audit, AuditKey: audit + ".pub", PolicyFile: policy,
		Lab: d.lab, OneTime: once, Logger: log})
	if err != nil {
		return nil, "", err
	}
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	go func() { errc <- serveConsole(ctx, d.listen, srv, func(a string) { ready <- a }) }()
	select {
	case addr := <-ready:
		return errc, "http://" + addr + "/login?token=" + link, nil
	case err := <-errc:
		return nil, "", err
	}
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}
