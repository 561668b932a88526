package mcpfront

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BridgeOptions say which stdio MCP server a bridge runs and how.
type BridgeOptions struct {
	// Argv is the server's command and arguments.
	Argv []string
	// Stderr receives the server's standard error (the container's log).
	Stderr io.Writer
	// Name is how the bridge introduces itself to the server and to its clients.
	Name string
	// Env is added to the bridge's own environment for the server (KEY=VALUE).
	Env []string
}

// Bridge runs a stdio MCP server and serves its tools over Streamable HTTP: a catalog server built for `docker run
// -i` becomes a server the gateway can reach. One session with the server carries the calls of every client (a
// stdio server has one), so the server keeps no per-client state between calls — as Docker's gateway, which starts
// such servers per call or shares a long-lived one, assumes too.
type Bridge struct {
	front   *Front
	session *mcp.ClientSession
	handler http.Handler
}

// StartBridge starts the server and lists its tools; the bridge is ready to serve when it returns. The server ends
// when ctx ends or Close is called.
func StartBridge(ctx context.Context, o BridgeOptions) (*Bridge, error) {
	if len(o.Argv) == 0 {
		return nil, errors.New("no command for the stdio MCP server")
	}
	if o.Name == "" {
		o.Name = "agops-mcp-bridge"
	}
	cmd := exec.CommandContext(ctx, o.Argv[0], o.Argv[1:]...)
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.Stderr = o.Stderr
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	b := &Bridge{}
	refresh := make(chan struct{}, 1)
	client := mcp.NewClient(&mcp.Implementation{Name: o.Name, Version: "v1"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			select {
			case refresh <- struct{}{}:
			default:
			}
		},
	})
	session, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}, nil)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", o.Argv[0], err)
	}
	b.session = session
	b.front, err = New(ctx, &mcp.Implementation{Name: o.Name, Version: "v1"}, []Member{{Name: o.Argv[0], Session: session}})
	if err != nil {
		session.Close()
		return nil, err
	}
	go func() {
		for {
			select {
			case <-refresh:
				lctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				if err := b.front.Refresh(lctx); err != nil {
					fmt.Fprintf(cmd.Stderr, "agops mcp-bridge: listing the tools again: %v\n", err)
				}
				cancel()
			case <-ctx.Done():
				return
			}
		}
	}()
	streamable := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return b.front.Server }, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.Handle("/", streamable)
	b.handler = mux
	return b, nil
}

// Handler serves MCP's Streamable HTTP transport on every path, and GET /healthz.
func (b *Bridge) Handler() http.Handler { return b.handler }

// Wait returns when the server has ended.
func (b *Bridge) Wait() error { return b.session.Wait() }

// Close ends the server.
func (b *Bridge) Close() error { return b.session.Close() }

// Serve serves the bridge on l until the server ends (an error: the container should restart) or ctx ends.
func (b *Bridge) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: b.handler, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	ended := make(chan error, 1)
	go func() { ended <- b.Wait() }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
	case werr := <-ended:
		err = fmt.Errorf("the stdio MCP server ended: %v", werr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	_ = b.Close()
	return err
}

// ImageCommand is the command a container of image ref runs when its spec names none: the image's entrypoint
// followed by its cmd, read from the registry (credentials from the Docker config, as the runtime's pulls may have
// them), for this machine's platform.
func ImageCommand(ctx context.Context, ref string) ([]string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", ref, err)
	}
	img, err := remote.Image(r, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithPlatform(v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}))
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", ref, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the configuration of image %s: %w", ref, err)
	}
	argv := append(append([]string(nil), cfg.Config.Entrypoint...), cfg.Config.Cmd...)
	if len(argv) == 0 {
		return nil, fmt.Errorf("image %s names no entrypoint or command", ref)
	}
	return argv, nil
}

// SecretEnv reads the secrets file Docker's MCP gateway was given (--secrets PATH: KEY=VALUE lines, # comments) as
// the variables the servers read: Docker's catalog names a server's secret like github.personal_access_token and
// passes it as GITHUB_PERSONAL_ACCESS_TOKEN, so each key becomes upper case with dots and dashes as underscores. A
// line that is not KEY=VALUE is an error naming its number, never its content.
func SecretEnv(r io.Reader) ([]string, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, err
	}
	var env []string
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" || strings.ContainsAny(key, " \t\x00") {
			return nil, fmt.Errorf("line %d is not KEY=VALUE", i+1)
		}
		name := strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
		env = append(env, name+"="+strings.Trim(strings.TrimSpace(value), `"`))
	}
	return env, nil
}
