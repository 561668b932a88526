package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"

	"github.com/agops/agops/internal/agent"
	"github.com/agops/agops/internal/agent/runs"
	"github.com/agops/agops/internal/devserver"
	"github.com/agops/agops/internal/team"
	"github.com/agops/agops/internal/telemetry"
)

// temporalFlags say where Temporal is.
type temporalFlags struct {
	address   string
	namespace string
	queue     string
}

func (f *temporalFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.address, "temporal", envOr("TEMPORAL_ADDRESS", "127.0.0.1:7233"), "Temporal frontend HOST:PORT ($TEMPORAL_ADDRESS)")
	fl.StringVar(&f.namespace, "namespace", envOr("TEMPORAL_NAMESPACE", "default"), "Temporal namespace ($TEMPORAL_NAMESPACE)")
	fl.StringVar(&f.queue, "task-queue", agent.TaskQueue, "the workers' task queue")
}

func (f *temporalFlags) dial(ctx context.Context) (client.Client, error) {
	ti, err := telemetry.TemporalClientInterceptor() // a run started here begins its trace (docs/telemetry.md)
	if err != nil {
		return nil, err
	}
	c, err := client.DialContext(ctx, client.Options{HostPort: f.address, Namespace: f.namespace, Logger: devserver.QuietLogger(),
		Interceptors: []interceptor.ClientInterceptor{ti}})
	if err != nil {
		return nil, fmt.Errorf("reaching Temporal at %s (is `agops dev` running?): %w", f.address, err)
	}
	return c, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func newTeamCmd(g *globals, s streams) *cobra.Command {
	cmd := verbGroup("team", "Check an agent team spec (docs/team.md)")
	cmd.AddCommand(&cobra.Command{
		Use:   "validate FILE",
		Short: "Check an AgentTeam: every problem, one line each with its field path",
		Args:  exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			tm, err := team.Load(args[0])
			if err != nil {
				return err
			}
			if !g.quiet {
				fmt.Fprintf(s.out, "%s: team %s is valid: %d agents, flow %s (%s)\n", args[0], tm.Name, len(tm.Agents),
					tm.Flow.Mode, strings.Join(tm.Members(), " → "))
			}
			return nil
		},
	})
	return cmd
}

type runFlags struct {
	temporalFlags
	input     string
	inputFile string
	detach    bool
	id        string
	heartbeat time.Duration
}

func newRunCmd(g *globals, s streams) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run TEAM.yaml --input TEXT [--detach]",
		Short: "Run an agent team durably on Temporal: print its progress live, then its result",
		Long: "Starts one durable run of the team (a Temporal workflow) and follows it: agents starting and answering, " +
			"approvals it waits for (give them with `agops runs approve`), and the result. Interrupting `agops run` " +
			"does not stop the run; `agops runs show` finds it again. Needs `agops dev` or a Temporal with agops workers.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tm, err := team.Load(args[0])
			if err != nil {
				return err
			}
			input, err := f.readInput(s.in)
			if err != nil {
				return err
			}
			if tm.CheckInput(input) != nil { // before reaching Temporal
				return usageError{fmt.Errorf("team %s needs --input: %s", tm.Name, tm.Input.Description)}
			}
			stopTracing, err := startTracing(cmd.Context(), "agops-run")
			if err != nil {
				return err
			}
			defer stopTracing()
			c, err := f.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			id, err := runs.Start(cmd.Context(), c, tm, input, runs.StartOptions{ID: f.id, TaskQueue: f.queue, Heartbeat: f.heartbeat})
			if err != nil {
				return err
			}
			fmt.Fprintf(s.err, "agops: run %s started (team %s)\n", id, tm.Name)
			if f.detach {
				fmt.Fprintln(s.out, id)
				return nil
			}
			progress := s.err
			if g.quiet {
				progress = io.Discard
			}
			res, err := runs.Follow(cmd.Context(), c, id, progress, 500*time.Millisecond)
			if err != nil {
				return fmt.Errorf("run %s: %w", id, err)
			}
			fmt.Fprintln(s.out, res.Output)
			return nil
		},
	}
	f.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.input, "input", "", "the run's input")
	fl.StringVar(&f.inputFile, "input-file", "", "read the input from a file (- for stdin)")
	fl.BoolVar(&f.detach, "detach", false, "print the run's ID and return at once")
	fl.StringVar(&f.id, "id", "", "the run's ID (default run-TEAM-RANDOM)")
	fl.DurationVar(&f.heartbeat, "heartbeat", agent.DefaultHeartbeat, "how soon a dead worker's model or tool call is retried elsewhere")
	return cmd
}

func (f *runFlags) readInput(stdin io.Reader) (string, error) {
	switch {
	case f.inputFile == "-":
		b, err := io.ReadAll(io.LimitReader(stdin, 1<<20))
		return string(b), err
	case f.inputFile != "":
		b, err := os.ReadFile(f.inputFile)
		return string(b), err
	}
	return f.input, nil
}

type runsFlags struct {
	temporalFlags
	limit     int
	output    string
	by        string
	reason    string
	reject    bool
	admin     string
	tokenFile string
}

func newRunsCmd(g *globals, s streams) *cobra.Command {
	cmd := verbGroup("runs", "List, show, approve and cancel durable agent runs")
	f := &runsFlags{}
	list := &cobra.Command{
		Use: "list", Short: "The most recent runs, newest first", Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.with(cmd, func(c client.Client) error {
				rs, err := runs.List(cmd.Context(), c, f.limit)
				if err != nil {
					return err
				}
				return printRuns(s.out, rs)
			})
		},
	}
	list.Flags().IntVar(&f.limit, "limit", 20, "how many runs")
	show := &cobra.Command{
		Use: "show RUN", Short: "A run's state, its agents' progress and the approvals it waits for", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.with(cmd, func(c client.Client) error {
				v, err := runs.Show(cmd.Context(), c, args[0])
				if err != nil {
					return err
				}
				return printView(s.out, v, f.output)
			})
		},
	}
	show.Flags().StringVarP(&f.output, "output", "o", "text", "text or json")
	approve := &cobra.Command{
		Use:   "approve RUN APPROVAL --token-file F [--by NAME] [--reject]",
		Short: "Approve (or reject) a call a run waits for; one the gateway holds is decided there too",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			admin, identity, err := adminClient(f.admin, f.tokenFile)
			if err != nil {
				return err
			}
			if f.by == "" {
				f.by = identity
			}
			if f.by == "" {
				return usageError{fmt.Errorf("--by NAME is required: the audit log records who approved")}
			}
			return f.with(cmd, func(c client.Client) error {
				if err := runs.Approve(cmd.Context(), c, admin, args[0], args[1], !f.reject, f.by, f.reason); err != nil {
					return err
				}
				if !g.quiet {
					verb := map[bool]string{true: "rejected", false: "approved"}[f.reject]
					fmt.Fprintf(s.out, "%s %s of run %s\n", verb, args[1], args[0])
				}
				return nil
			})
		},
	}
	fl := approve.Flags()
	fl.StringVar(&f.by, "by", "", "who decides (recorded in the run; the gateway records the identity of --token-file, which must be the same)")
	fl.StringVar(&f.tokenFile, "token-file", os.Getenv("AGOPS_ADMIN_TOKEN_FILE"), "approver token file for the gateway's admin listener ($AGOPS_ADMIN_TOKEN_FILE; or $AGOPS_ADMIN_TOKEN)")
	fl.StringVar(&f.reason, "reason", "", "why (shown to the agent on a rejection)")
	fl.BoolVar(&f.reject, "reject", false, "reject instead")
	fl.StringVar(&f.admin, "gateway-admin", envOr("AGOPS_GATEWAY_ADMIN", "http://127.0.0.1:9090"), "the gateway's admin address, for approvals it holds ($AGOPS_GATEWAY_ADMIN)")
	cancel := &cobra.Command{
		Use: "cancel RUN", Short: "Stop a run and its agents", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.with(cmd, func(c client.Client) error { return runs.Cancel(cmd.Context(), c, args[0]) })
		},
	}
	for _, sub := range []*cobra.Command{list, show, approve, cancel} {
		f.add(sub)
		cmd.AddCommand(sub)
	}
	return cmd
}

func (f *runsFlags) with(cmd *cobra.Command, do func(client.Client) error) error {
	c, err := f.dial(cmd.Context())
	if err != nil {
		return err
	}
	defer c.Close()
	return do(c)
}

func printRuns(w io.Writer, rs []runs.Summary) error {
	if len(rs) == 0 {
		_, err := fmt.Fprintln(w, "no runs")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tTEAM\tSTATE\tSTARTED\tTOOK")
	for _, r := range rs {
		took := "-"
		if !r.Closed.IsZero() {
			took = r.Closed.Sub(r.Started).Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Team, r.State, r.Started.Local().Format(time.DateTime), took)
	}
	return tw.Flush()
}

func printView(w io.Writer, v runs.View, output string) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	fmt.Fprintf(w, "run %s (team %s): %s since %s\n", v.ID, v.Team, v.State, v.Started.Local().Format(time.DateTime))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENT\tPHASE\tTURNS\tTOKENS\tTOOL CALLS\tLAST REPLY")
	for _, t := range v.Tasks {
		u := t.Usage[t.Agent]
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\n", t.Agent, t.Phase, t.Turns, u.Tokens, u.ToolCalls, oneLineCut(t.LastReply, 60))
	}
	_ = tw.Flush()
	for _, p := range v.Pending {
		fmt.Fprintf(w, "waiting: %s asks to call %s/%s %s — agops runs approve %s %s --token-file APPROVER-TOKENS (until %s)\n",
			p.Agent, p.Server, p.Tool, p.Arguments, v.ID, p.ID, p.Expires.Local().Format(time.DateTime))
	}
	if v.Status.Output != "" {
		fmt.Fprintf(w, "output:\n%s\n", v.Status.Output)
	}
	return nil
}

func oneLineCut(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
