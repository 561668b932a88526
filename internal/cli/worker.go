package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agops/agops/internal/agent/activities"
	"github.com/agops/agops/internal/agent/worker"
)

// workerFlags configure the activities: where the gateway, the transcripts and (optionally) other model servers are.
type workerFlags struct {
	temporalFlags
	gateway     string
	tokenFile   string
	transcripts string
	models      []string
	concurrency int
}

func (f *workerFlags) add(cmd *cobra.Command) {
	f.temporalFlags.add(cmd)
	f.addActivities(cmd)
	cmd.Flags().IntVar(&f.concurrency, "concurrency", 16, "model and tool calls in flight at most")
}

// addActivities adds the flags of the activities only (agops dev has its own Temporal flags).
func (f *workerFlags) addActivities(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.gateway, "gateway", envOr("AGOPS_GATEWAY_URL", "http://127.0.0.1:8080"), "the agops gateway's agent address ($AGOPS_GATEWAY_URL)")
	fl.StringVar(&f.tokenFile, "gateway-token-file", envOr("AGOPS_GATEWAY_TOKEN_FILE", ""), "file holding this worker's token for the gateway, read at each call ($AGOPS_GATEWAY_TOKEN_FILE)")
	fl.StringVar(&f.transcripts, "transcripts", envOr("AGOPS_TRANSCRIPTS", filepath.Join(".agops", "transcripts")),
		"where the agents' transcripts are, shared by the workers: a folder, a postgres:// DSN, or postgres for the "+
			"database that PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE and PGSSLMODE name ($AGOPS_TRANSCRIPTS)")
	// The default may come from the environment with a password in it: never show that in --help.
	fl.Lookup("transcripts").DefValue = activities.RedactDSN(f.transcripts)
	fl.StringArrayVar(&f.models, "model", nil, "NAME=URL: call the team's model NAME (* for all) at URL instead (repeatable)")
}

// activities builds the activities from the flags; token overrides the token file when set.
func (f *workerFlags) activities(token string) (*activities.Activities, error) {
	overrides, err := pairs("--model", f.models, nil)
	if err != nil {
		return nil, err
	}
	gw := &activities.Gateway{BaseURL: f.gateway}
	switch {
	case token != "":
		gw.Token = func() (string, error) { return token, nil }
	case f.tokenFile != "":
		gw.Token = activities.TokenFile(f.tokenFile)
	default:
		return nil, usageError{fmt.Errorf("--gateway-token-file is required: the gateway admits only known callers")}
	}
	acts := &activities.Activities{Tools: gw, ModelURLs: overrides}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if acts.Store, err = openTranscripts(ctx, f.transcripts); err != nil {
		return nil, err
	}
	return acts, nil
}

// openTranscripts opens the store that --transcripts names: PostgreSQL for a postgres:// or postgresql:// DSN or the
// word postgres (the DSN from libpq's PG* variables), else a folder. A PostgreSQL store is an io.Closer.
func openTranscripts(ctx context.Context, spec string) (activities.TranscriptStore, error) {
	dsn, ok, err := transcriptsDSN(spec)
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return &activities.FileStore{Dir: spec}, nil
	}
	return activities.OpenPostgres(ctx, dsn)
}

// transcriptsDSN returns the PostgreSQL DSN that --transcripts names, if it names one.
func transcriptsDSN(spec string) (dsn string, ok bool, err error) {
	if spec == "postgres" {
		if dsn, ok := activities.PostgresDSNFromEnv(); ok {
			return dsn, true, nil
		}
		return "", false, usageError{errors.New("--transcripts postgres takes the database from PGHOST, PGPORT, " +
			"PGUSER, PGPASSWORD, PGDATABASE and PGSSLMODE, and PGHOST is not set (for a folder named postgres, say ./postgres)")}
	}
	scheme, _, found := strings.Cut(spec, "://")
	if found && (strings.EqualFold(scheme, "postgres") || strings.EqualFold(scheme, "postgresql")) {
		return spec, true, nil
	}
	return "", false, nil
}

func newWorkerCmd(g *globals, s streams) *cobra.Command {
	f := &workerFlags{}
	cmd := &cobra.Command{
		Use:   "worker [--temporal HOST:PORT] [--gateway URL --gateway-token-file F] [--transcripts DIR|DSN|postgres]",
		Short: "Run an agops worker: carries out agent runs' model and tool calls for Temporal",
		Long: "Polls Temporal's agent task queue and runs the team workflows and their activities. Tool calls go through " +
			"the agops gateway with an idempotency key, so that a call retried after a worker died acts once. Run as many " +
			"as you like; a run moves to another worker when one dies.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withTracing(cmd.Context(), "agops-worker", func(ctx context.Context) error { return f.serve(ctx, g, s) })
		},
	}
	f.add(cmd)
	return cmd
}

// serve polls for work until ctx ends.
func (f *workerFlags) serve(ctx context.Context, g *globals, s streams) error {
	acts, err := f.activities("")
	if err != nil {
		return err
	}
	if store, ok := acts.Store.(io.Closer); ok {
		defer store.Close()
	}
	c, err := f.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	w := worker.New(c, acts, worker.Options{TaskQueue: f.queue, MaxConcurrentActivities: f.concurrency})
	if err := w.Start(); err != nil {
		return fmt.Errorf("starting the worker: %w", err)
	}
	if !g.quiet {
		fmt.Fprintf(s.err, "agops: worker polling %s on %s (namespace %s)\n", f.queue, f.address, f.namespace)
	}
	<-ctx.Done()
	w.Stop()
	return nil
}
