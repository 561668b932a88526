package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
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
}

func newApproveCmd(g *globals, s streams) *cobra.Command {
	f := &approveFlags{}
	cmd := &cobra.Command{
		Use:   "approve [ID] [--reject] [--by NAME] [--gateway URL] | --list",
		Short: "Approve (or --reject) a tool call the gateway holds for a human, or --list the pending ones",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client := &http.Client{Timeout: 30 * time.Second}
			base := strings.TrimRight(f.admin, "/")
			if f.list || len(args) == 0 {
				if len(args) > 0 || !f.list {
					return usageError{fmt.Errorf("give an approval ID, or --list")}
				}
				return show(client.Get(base + "/approvals"))(s.out)
			}
			if f.by == "" {
				return usageError{fmt.Errorf("--by NAME is required: the audit log records who approved")}
			}
			body, _ := json.Marshal(map[string]any{"approve": !f.reject, "by": f.by})
			return show(client.Post(base+"/approvals/"+args[0], "application/json", bytes.NewReader(body)))(s.out)
		},
	}
	_ = g
	fl := cmd.Flags()
	fl.StringVar(&f.admin, "gateway", "http://127.0.0.1:9090", "the gateway's admin address")
	fl.StringVar(&f.by, "by", "", "who approves (recorded in the audit log)")
	fl.BoolVar(&f.reject, "reject", false, "reject the call instead")
	fl.BoolVar(&f.list, "list", false, "list the calls waiting for approval")
	return cmd
}

// show prints a gateway admin answer, or returns its error.
func show(resp *http.Response, err error) func(io.Writer) error {
	return func(w io.Writer) error {
		if err != nil {
			return fmt.Errorf("reaching the gateway: %w", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("gateway: %s: %s", resp.Status, strings.TrimSpace(string(b)))
		}
		_, err := w.Write(b)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			fmt.Fprintln(w)
		}
		return err
	}
}
