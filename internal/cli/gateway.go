package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
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
			return gateway.Run(cmd.Context(), f.o)
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
	return cmd
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
	admin  string
	by     string
	reject bool
	list   bool
	output string
}

func newApproveCmd(_ *globals, s streams) *cobra.Command {
	f := &approveFlags{}
	cmd := &cobra.Command{
		Use:   "approve [ID] [--reject] [--by NAME] [--gateway URL] | --list",
		Short: "Approve (or --reject) a tool call the gateway holds for a human, or --list the pending ones",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.output != "text" && f.output != "json" {
				return usageError{fmt.Errorf("-o %q: want text or json", f.output)}
			}
			client := &gateway.AdminClient{BaseURL: f.admin}
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
			if f.by == "" {
				return usageError{fmt.Errorf("--by NAME is required: the audit log records who approved")}
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
	fl.StringVar(&f.by, "by", "", "who approves (recorded in the audit log)")
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
