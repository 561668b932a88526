package cli

import (
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/agops/agops/internal/gateway"
)

type toolProxyFlags struct {
	o      gateway.CallerProxyOptions
	listen []string
	probe  string
}

// newToolProxyCmd is the native sidecar migrate puts into the pods of tool servers' callers (docs/gateway.md).
func newToolProxyCmd(g *globals, s streams) *cobra.Command {
	f := &toolProxyFlags{}
	cmd := &cobra.Command{
		Use:   "tool-proxy --listen 127.0.0.2:PORT --gateway URL --token-file F",
		Short: "Carry a pod's identity to the agops gateway, for callers that send no token (a sidecar migrate adds)",
		Long: "Listens on loopback addresses that the pod's tool names resolve to (hostAliases) and forwards every " +
			"request to the gateway with the pod's ServiceAccount token from --token-file, unless the request " +
			"already carries an Authorization header. The caller keeps its Compose URLs and sends no header. " +
			"--probe ADDR only checks that ADDR accepts connections (the sidecar's startup probe).",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.probe != "" {
				conn, err := net.DialTimeout("tcp", f.probe, 2*time.Second)
				if err != nil {
					return fmt.Errorf("tool-proxy is not listening on %s yet: %w", f.probe, err)
				}
				return conn.Close()
			}
			f.o.Logger = g.logger(s.err)
			p, err := gateway.NewCallerProxy(f.o)
			if err != nil {
				return usageError{err}
			}
			return p.Serve(cmd.Context(), f.listen)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.listen, "listen", nil, "loopback address and port a tool's name resolves to in the pod (repeatable)")
	fl.StringVar(&f.o.Gateway, "gateway", "", "the gateway's base URL, by a name the pod's hostAliases leave alone")
	fl.StringVar(&f.o.TokenFile, "token-file", "", "the pod's ServiceAccount token for the gateway's audience (a projected volume; re-read as the kubelet rotates it)")
	fl.StringVar(&f.probe, "probe", "", "only check that this address accepts connections, and exit")
	return cmd
}
