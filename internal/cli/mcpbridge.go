package cli

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/agops/agops/internal/mcpfront"
)

type mcpBridgeFlags struct {
	listen   string
	image    string
	mirror   string
	install  string
	envFiles []string
}

// newMCPBridgeCmd serves a stdio MCP server over HTTP: what migrate runs in the pods of the catalog servers Docker's
// MCP gateway was told to start (docs/gateway.md).
func newMCPBridgeCmd(s streams) *cobra.Command {
	f := &mcpBridgeFlags{}
	cmd := &cobra.Command{
		Use:   "mcp-bridge --listen :8811 (--image REF | -- COMMAND [ARG...])",
		Short: "Serve a stdio MCP server over Streamable HTTP (in the pods of catalog servers migrate adds)",
		Long: "Runs COMMAND, or the entrypoint and cmd of image REF read from its registry, as an MCP server on " +
			"standard input and output, and serves its tools over MCP's Streamable HTTP transport on every path of " +
			"--listen (GET /healthz answers once its tools are listed). It exits when the server does, so that the " +
			"container restarts. --install DIR only copies this binary to DIR/agops (an init container's job: the " +
			"server's image has no agops of its own).",
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.install != "" {
				if len(args) > 0 || f.image != "" {
					return usageError{errors.New("--install takes nothing else")}
				}
				return installSelf(f.install)
			}
			argv := args
			switch {
			case f.image != "" && len(args) > 0:
				return usageError{errors.New("give --image or a command, not both")}
			case f.image != "":
				ref, err := f.image, error(nil)
				if f.mirror != "" {
					if ref, err = mirroredRef(f.image, f.mirror); err != nil {
						return usageError{err}
					}
				}
				if argv, err = mcpfront.ImageCommand(cmd.Context(), ref); err != nil {
					// x-agops has no field for a catalog server's command: the way around is the server's own service.
					return fmt.Errorf("%w (give the server's command after --, or declare the server as a service of its own)", err)
				}
			case len(args) == 0:
				return usageError{errors.New("no server to run: give --image REF or -- COMMAND")}
			}
			var env []string
			for _, path := range f.envFiles {
				file, err := os.Open(path)
				if err != nil {
					return err
				}
				vars, err := mcpfront.SecretEnv(file)
				file.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				env = append(env, vars...)
			}
			l, err := net.Listen("tcp", f.listen)
			if err != nil {
				return err
			}
			b, err := mcpfront.StartBridge(cmd.Context(), mcpfront.BridgeOptions{Argv: argv, Stderr: s.err, Env: env})
			if err != nil {
				l.Close()
				return err
			}
			fmt.Fprintf(s.err, "agops mcp-bridge: serving %s on %s\n", argv[0], l.Addr())
			return b.Serve(cmd.Context(), l)
		},
	}
	fl := cmd.Flags()
	fl.SetInterspersed(false) // the server's own flags follow its command
	fl.StringVar(&f.listen, "listen", ":8811", "address to serve MCP on")
	fl.StringVar(&f.image, "image", "", "run the entrypoint and cmd of this image (the container's own), read from its registry")
	fl.StringVar(&f.mirror, "mirror", "", "read --image from this registry mirror (REG[/prefix]), under the path agops airgap push gives it")
	fl.StringVar(&f.install, "install", "", "copy this binary to DIR/agops and exit")
	fl.StringArrayVar(&f.envFiles, "env-file", nil, "a secrets file of Docker's MCP gateway (KEY=VALUE lines): each key, upper case with dots as underscores, becomes a variable of the server (repeatable)")
	return cmd
}

// installSelf copies the running binary to dir/agops, executable, through a temporary file so that a half-written
// copy is never run.
func installSelf(dir string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	in, err := os.Open(self)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(dir, ".agops-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, "agops"))
}
