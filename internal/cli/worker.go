package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/agops/agops/internal/agent/activities"
	"github.com/agops/agops/internal/agent/worker"
	"github.com/agops/agops/internal/llm"
	"github.com/agops/agops/internal/team"
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
	fl.StringVar(&f.transcripts, "transcripts", envOr("AGOPS_TRANSCRIPTS", filepath.Join(".agops", "transcripts")), "folder of the agents' transcripts, shared by the workers ($AGOPS_TRANSCRIPTS)")
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
	acts := &activities.Activities{Store: &activities.FileStore{Dir: f.transcripts}, Tools: gw}
	if len(overrides) > 0 {
		acts.Models = func(m team.Model) activities.Chatter {
			url := m.BaseURL
			if o, ok := overrides["*"]; ok {
				url = o
			}
			if o, ok := overrides[m.Name]; ok {
				url = o
			}
			return llm.New(url, apiKeyOf(m)...)
		}
	}
	return acts, nil
}

func newWorkerCmd(g *globals, s streams) *cobra.Command {
	f := &workerFlags{}
	cmd := &cobra.Command{
		Use:   "worker [--temporal HOST:PORT] [--gateway URL --gateway-token-file F] [--transcripts DIR]",
		Short: "Run an agops worker: carries out agent runs' model and tool calls for Temporal",
		Long: "Polls Temporal's agent task queue and runs the team workflows and their activities. Tool calls go through " +
			"the agops gateway with an idempotency key, so that a call retried after a worker died acts once. Run as many " +
			"as you like; a run moves to another worker when one dies.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			acts, err := f.activities("")
			if err != nil {
				return err
			}
			c, err := f.dial(cmd.Context())
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
			<-cmd.Context().Done()
			w.Stop()
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

// apiKeyOf returns the client option carrying the model's API key from its environment variable, if any.
func apiKeyOf(m team.Model) []llm.Option {
	if m.APIKeyEnv == "" {
		return nil
	}
	return []llm.Option{llm.WithAPIKey(getenv(m.APIKeyEnv))}
}

var getenv = os.Getenv
