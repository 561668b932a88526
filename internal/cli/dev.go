package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/agops/agops/internal/agent/demo"
	"github.com/agops/agops/internal/agent/worker"
	"github.com/agops/agops/internal/devserver"
	"github.com/agops/agops/internal/gateway"
)

type devFlags struct {
	workerFlags
	state       string
	port        int
	policy      string
	agentID     string
	listen      string
	adminListen string
	upstreams   []string
	demoModel   bool
	console     devConsole
}

func newDevCmd(g *globals, s streams) *cobra.Command {
	f := &devFlags{}
	cmd := &cobra.Command{
		Use:   "dev --policy F [--state DIR] [--upstream SERVER=URL] [--demo-model | --model NAME=URL]",
		Short: "Run agent teams on this machine: a Temporal server (SQLite), the gateway and a worker, with one command",
		Long: "Starts a Temporal server persisted to STATE/temporal.db (the agops-devserver program, a child process: " +
			"found next to agops, or built with the go command from the module agops came from — the first build takes a " +
			"few minutes), and in this process the agops gateway (policy F, audit log STATE/audit.jsonl, its own token " +
			"for the worker) and a worker. Then `agops run TEAM.yaml` runs a team on it. Stopping and starting `agops dev` " +
			"on the same state folder resumes the runs where they were.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.policy == "" {
				return usageError{errors.New("--policy is required: the gateway decides every tool call by it")}
			}
			return withTracing(cmd.Context(), "agops-dev", func(ctx context.Context) error { return f.run(ctx, g, s) })
		},
	}
	f.addActivities(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.state, "state", filepath.Join(".agops", "dev"), "folder of the Temporal database, the audit log, approvals and transcripts")
	fl.IntVar(&f.port, "port", 7233, "Temporal frontend port (the server also takes the next 7)")
	fl.StringVar(&f.policy, "policy", "", "fleet policy for the gateway (required)")
	fl.StringVar(&f.agentID, "agent", "local/dev-worker", "the identity the worker has at the gateway (an agent of the policy)")
	fl.StringVar(&f.listen, "gateway-listen", "127.0.0.1:8080", "the gateway's agent address")
	fl.StringVar(&f.adminListen, "gateway-admin-listen", "127.0.0.1:9090", "the gateway's admin address (approvals, metrics)")
	fl.StringArrayVar(&f.upstreams, "upstream", nil, "SERVER=URL: where the policy's tool server SERVER really is (repeatable)")
	fl.StringVar(&f.console.listen, "console-listen", "127.0.0.1:8090", "the operator console's address (\"\" for none)")
	fl.StringVar(&f.console.lab, "lab", "", "a folder agops migrate wrote, for the console's lab page")
	fl.StringVar(&f.console.users, "console-users", "", "more people who sign in to the console: lines of \"TOKEN IDENTITY viewer|approver\"")
	fl.BoolVar(&f.demoModel, "demo-model", false, "answer model calls with a built-in stand-in (no language model: it calls each tool once, then reports)")
	return cmd
}

func (f *devFlags) run(ctx context.Context, g *globals, s streams) error {
	if err := os.MkdirAll(f.state, 0o700); err != nil {
		return err
	}
	token, tokens, err := devToken(f.state, f.agentID)
	if err != nil {
		return err
	}
	upstreams, err := pairs("--upstream", f.upstreams, nil)
	if err != nil {
		return err
	}
	if f.demoModel {
		url, stop, err := serveDemoModel()
		if err != nil {
			return err
		}
		defer stop()
		f.models = append(f.models, "*="+url)
	}
	if f.transcripts == filepath.Join(".agops", "transcripts") {
		f.transcripts = filepath.Join(f.state, "transcripts")
	}
	srv, err := devserver.Launch(ctx, devserver.Options{DBFile: filepath.Join(f.state, "temporal.db"), Port: f.port},
		devserver.LaunchOptions{Progress: s.err, Logger: g.logger(s.err)})
	if err != nil {
		return err
	}
	defer srv.Stop()
	person := envOr("USER", "admin")
	if gateway.ValidIdentity(person) != nil { // $USER may hold anything
		person = "admin"
	}
	if f.console.listen != "" {
		if err := f.console.prepare(f.state, person); err != nil {
			return fmt.Errorf("console: %w", err)
		}
	}
	gwCtx, stopGateway := context.WithCancel(ctx)
	defer stopGateway()
	gwErr, gwURL, err := f.startGateway(gwCtx, g, s, tokens, upstreams)
	if err != nil {
		return err
	}
	f.gateway = gwURL
	acts, err := f.activities(token)
	if err != nil {
		return err
	}
	if c, ok := acts.Store.(io.Closer); ok {
		defer c.Close()
	}
	c, err := client.DialContext(ctx, client.Options{HostPort: srv.HostPort(), Logger: devserver.QuietLogger()})
	if err != nil {
		return err
	}
	defer c.Close()
	w := worker.New(c, acts, worker.Options{})
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()
	consoleErr, consoleURL := (<-chan error)(nil), ""
	if f.console.listen != "" {
		if consoleErr, consoleURL, err = f.console.start(gwCtx, g.logger(s.err), f.state, f.adminListen, f.policy,
			person, c); err != nil {
			return fmt.Errorf("%w (--console-listen ADDR serves it elsewhere, \"\" not at all)", err)
		}
	}
	fmt.Fprintf(s.err, "agops: dev ready — Temporal %s, gateway %s (admin http://%s, approver token in %s), state %s\n",
		srv.HostPort(), gwURL, f.adminListen, filepath.Join(f.state, "admin-tokens"), f.state)
	if consoleURL != "" {
		fmt.Fprintf(s.err, "agops: console %s  (a sign-in link for you, valid once)\n", consoleURL)
	}
	fmt.Fprintf(s.err, "agops: try: agops run examples/ai-lab/team.yaml --input \"...\"\n")
	select {
	case <-ctx.Done():
		return nil
	case err := <-gwErr:
		return fmt.Errorf("gateway: %w", err)
	case err := <-consoleErr:
		return fmt.Errorf("console: %w", err)
	case <-srv.Exited():
		return srv.Err()
	}
}

// startGateway runs the gateway until ctx ends; its error (if it stops early) arrives on the channel.
func (f *devFlags) startGateway(ctx context.Context, g *globals, s streams, tokens string, upstreams map[string]string) (<-chan error, string, error) {
	audit := filepath.Join(f.state, "audit.jsonl")
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- gateway.Run(ctx, gateway.RunOptions{PolicyFile: f.policy, Listen: f.listen, AdminListen: f.adminListen,
			AuditLog: audit, ApprovalDir: audit + ".approvals", IdempotencyDir: audit + ".keys", Auth: "static",
			TokensFile: tokens, Upstreams: upstreams, Logger: g.logger(s.err),
			AdminTokensFile: filepath.Join(f.state, "admin-tokens"), CreateAdminTokens: true, AdminName: envOr("USER", "admin"),
			AuditKey: audit + ".key",
			Ready:    func(p, _ net.Addr) { ready <- p }})
	}()
	select {
	case addr := <-ready:
		return done, "http://" + addr.String(), nil
	case err := <-done:
		return nil, "", fmt.Errorf("gateway: %w", err)
	}
}

// devToken returns the worker's gateway token, kept in STATE/tokens (created once, mode 0600).
func devToken(state, agentID string) (token, file string, err error) {
	file = filepath.Join(state, "tokens")
	if b, err := os.ReadFile(file); err == nil {
		var tok, who string
		if _, err := fmt.Sscan(string(b), &tok, &who); err == nil && who == agentID {
			return tok, file, nil
		}
	}
	var raw [24]byte
	_, _ = rand.Read(raw[:])
	token = "dev-" + hex.EncodeToString(raw[:])
	if err := os.WriteFile(file, []byte(token+" "+agentID+"\n"), 0o600); err != nil {
		return "", "", err
	}
	return token, file, nil
}

// serveDemoModel serves the demo model on a loopback port.
func serveDemoModel() (url string, stop func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: demo.Handler()}
	go func() { _ = srv.Serve(l) }()
	return "http://127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port) + "/v1", func() { _ = srv.Close() }, nil
}
