package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/agops/agops/internal/gateway"
)

type gatewayFlags struct {
	o          gateway.RunOptions
	kubeconfig string
	hostRoutes []string
	upstreams  []string
}

func newGatewayCmd(g *globals, s streams) *cobra.Command {
	f := &gatewayFlags{}
	cmd := &cobra.Command{
		Use:   "gateway --policy F --audit-log F [--listen ADDR] [--admin-listen ADDR]",
		Short: "Run the governing MCP and HTTP tool gateway (docs/gateway.md)",
		Long: "Authenticates every caller, judges every tool call by the fleet policy, forwards only what is allowed, " +
			"waits for human approval where the policy asks, and writes every decision to a hash-chained audit log " +
			"before forwarding. Agents use /mcp/SERVER (or the tool's own name with --host-route); approvals, metrics and " +
			"probes are on the admin listener. The policy and token files are reloaded when they change.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.parse(); err != nil {
				return err
			}
			f.o.Logger = g.logger(s.err)
			if !g.quiet {
				f.o.Ready = func(proxy, admin net.Addr) {
					fmt.Fprintf(s.err, "agops: gateway serving agents on %s, admin on %s\n", proxy, admin)
				}
			}
			return withTracing(cmd.Context(), "agops-gateway", func(ctx context.Context) error { return gateway.Run(ctx, f.o) })
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.o.PolicyFile, "policy", "", "fleet policy file (required; reloaded when it changes)")
	fl.StringVar(&f.o.Listen, "listen", "127.0.0.1:8080", "address for agents")
	fl.StringVar(&f.o.AdminListen, "admin-listen", "127.0.0.1:9090", "address for approvals, metrics and probes (keep it away from agents)")
	fl.StringVar(&f.o.AuditLog, "audit-log", "", "append-only audit log (required; check it with agops audit verify)")
	fl.StringVar(&f.o.ApprovalDir, "approvals", "", "folder of pending and given approvals (default: AUDIT_LOG.approvals)")
	fl.StringVar(&f.o.IdempotencyDir, "idempotency-dir", "", "folder of the Idempotency-Keys of calls and their kept results (default: AUDIT_LOG.keys)")
	fl.StringVar(&f.o.Auth, "auth", "static", "static (--tokens file of \"TOKEN AGENT\" lines) or tokenreview (Kubernetes ServiceAccount tokens)")
	fl.StringVar(&f.o.TokensFile, "tokens", "", "token file for --auth static (reloaded when it changes)")
	fl.StringVar(&f.o.Audience, "audience", "agops-gateway", "token audience for --auth tokenreview")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig for --auth tokenreview out of a cluster (default: the in-cluster config)")
	fl.StringArrayVar(&f.hostRoutes, "host-route", nil, "HOST=SERVER: requests for HOST are MCP calls to SERVER on any path (repeatable)")
	fl.StringArrayVar(&f.upstreams, "upstream", nil, "SERVER=URL: where SERVER really is, over the policy's URL (repeatable)")
	fl.StringVar(&f.o.Peers, "peers", "", "a name resolving to every replica (a headless Service): approvals are decided on the replica that holds them")
	fl.StringVar(&f.o.AdminTokensFile, "admin-tokens", "", "approvers' token file of \"TOKEN IDENTITY\" lines for the admin listener (default: AUDIT_LOG.admin-tokens, created with one token for --admin-name when missing)")
	fl.StringVar(&f.o.AdminName, "admin-name", envOr("USER", "admin"), "the approver identity of a created --admin-tokens file")
	fl.StringVar(&f.o.AuditKey, "audit-key", "", "private key signing the audit log's checkpoints (default: AUDIT_LOG.key; created with its .pub when missing)")
	fl.StringVar(&f.o.AuditKeyName, "audit-key-name", "agops-gateway", "the name of a created --audit-key")
	fl.StringVar(&f.o.AuditCheckpoint, "audit-checkpoint", "", "where the latest signed checkpoint is written (default: AUDIT_LOG.checkpoint; put it on another volume, see docs/audit.md)")
	fl.StringVar(&f.o.WitnessDir, "witness-dir", "", "where this replica keeps the latest audit checkpoints its peers publish (default: AUDIT_LOG.witness)")
	fl.StringVar(&f.o.PeerTokenFile, "peer-token-file", "", "file holding the token the replicas share to reach each other's admin listeners (with --peers)")
	return cmd
}

// adminClient is the client of a gateway's admin listener, authenticated by the first token of tokenFile, else by
// $AGOPS_ADMIN_TOKEN; identity is the one the token file names for it ("" when unknown).
func adminClient(base, tokenFile string) (c *gateway.AdminClient, identity string, err error) {
	c = &gateway.AdminClient{BaseURL: base, Token: os.Getenv("AGOPS_ADMIN_TOKEN")}
	if tokenFile != "" {
		if c.Token, identity, err = gateway.FirstToken(tokenFile); err != nil {
			return nil, "", fmt.Errorf("--token-file: %w", err)
		}
	}
	if c.Token == "" {
		return nil, "", usageError{fmt.Errorf("the gateway's admin listener needs a token: --token-file FILE (the gateway's approver token file: AUDIT_LOG.admin-tokens, or STATE/admin-tokens of agops dev) or $AGOPS_ADMIN_TOKEN")}
	}
	return c, identity, nil
}

func (f *gatewayFlags) parse() error {
	if f.o.PolicyFile == "" || f.o.AuditLog == "" {
		return usageError{fmt.Errorf("--policy and --audit-log are required")}
	}
	if f.o.Auth == "static" && f.o.TokensFile == "" {
		return usageError{fmt.Errorf("--auth static needs --tokens FILE")}
	}
	if f.o.ApprovalDir == "" {
		f.o.ApprovalDir = f.o.AuditLog + ".approvals"
	}
	if f.o.IdempotencyDir == "" {
		f.o.IdempotencyDir = f.o.AuditLog + ".keys"
	}
	if f.o.AuditKey == "" {
		f.o.AuditKey = f.o.AuditLog + ".key"
	}
	if f.o.AdminTokensFile == "" {
		f.o.AdminTokensFile, f.o.CreateAdminTokens = f.o.AuditLog+".admin-tokens", true
	}
	var err error
	if f.o.HostRoutes, err = pairs("--host-route", f.hostRoutes, strings.ToLower); err != nil {
		return err
	}
	if f.o.Upstreams, err = pairs("--upstream", f.upstreams, nil); err != nil {
		return err
	}
	if f.o.Auth == "tokenreview" && f.kubeconfig != "" {
		cfg, err := loadKubeconfig(f.kubeconfig)
		if err != nil {
			return err
		}
		f.o.Kube = cfg
	}
	return nil
}

// pairs reads repeated KEY=VALUE flags.
func pairs(flag string, in []string, key func(string) string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range in {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" || v == "" {
			return nil, usageError{fmt.Errorf("%s %q: want KEY=VALUE", flag, p)}
		}
		if key != nil {
			k = key(k)
		}
		out[k] = v
	}
	return out, nil
}

type approveFlags struct {
	admin     string
	tokenFile string
	by        string
	reject    bool
	list      bool
	output    string
}

func newApproveCmd(_ *globals, s streams) *cobra.Command {
	f := &approveFlags{}
	cmd := &cobra.Command{
		Use:   "approve [ID] [--reject] [--gateway URL] [--token-file F] | --list",
		Short: "Approve (or --reject) a tool call the gateway holds for a human, or --list the pending ones",
		Long: "The approver is whoever the token authenticates (--token-file, or $AGOPS_ADMIN_TOKEN): a line of the " +
			"gateway's approver token file. Nobody approves a call made under their own identity.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.output != "text" && f.output != "json" {
				return usageError{fmt.Errorf("-o %q: want text or json", f.output)}
			}
			client, _, err := adminClient(f.admin, f.tokenFile)
			if err != nil {
				return err
			}
			if f.list || len(args) == 0 {
				if len(args) > 0 || !f.list {
					return usageError{fmt.Errorf("give an approval ID, or --list")}
				}
				pending, err := client.Pending(cmd.Context())
				if err != nil {
					return err
				}
				return f.print(s.out, pending)
			}
			a, err := client.Decide(cmd.Context(), args[0], !f.reject, f.by)
			if err != nil {
				return err
			}
			return f.print(s.out, []gateway.Approval{a})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.admin, "gateway", "http://127.0.0.1:9090", "the gateway's admin address")
	fl.StringVar(&f.tokenFile, "token-file", os.Getenv("AGOPS_ADMIN_TOKEN_FILE"), "approver token file: its first token authenticates you ($AGOPS_ADMIN_TOKEN_FILE)")
	fl.StringVar(&f.by, "by", "", "your identity, checked against the token's (optional; the token decides who approves)")
	fl.BoolVar(&f.reject, "reject", false, "reject the call instead")
	fl.BoolVar(&f.list, "list", false, "list the calls waiting for approval")
	fl.StringVarP(&f.output, "output", "o", "text", "text or json")
	return cmd
}

// print writes approvals as a table, or as JSON with -o json.
func (f *approveFlags) print(w io.Writer, as []gateway.Approval) error {
	if f.output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(as)
	}
	if len(as) == 0 {
		_, err := fmt.Fprintln(w, "no calls are waiting for approval")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tAGENT\tCALL\tRULE\tEXPIRES\tDECIDED BY")
	for _, a := range as {
		what := a.Server + "/" + a.Tool
		if a.Tool == "" {
			what = a.Server + " " + a.Method + " " + a.Path
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.State, a.Agent, what, a.Rule,
			a.Expires.Local().Format(time.DateTime), a.DecidedBy)
	}
	return tw.Flush()
}
