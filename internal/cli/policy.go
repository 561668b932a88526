package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agops/agops/internal/policy"
)

func newPolicyCmd(g *globals, s streams) *cobra.Command {
	cmd := verbGroup("policy", "Check a fleet policy and see how it decides a call (docs/policy.md)")
	var strict bool
	validate := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a fleet policy: every problem, one line each with its field path; warnings for likely mistakes",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := policy.Load(args[0])
			if err != nil {
				return err
			}
			n := printWarnings(g, s, args[0], p)
			if strict && n > 0 {
				return fmt.Errorf("%s: %d warnings, and --strict makes them errors", args[0], n)
			}
			if !g.quiet {
				fmt.Fprintf(s.out, "%s: policy %s is valid: %d servers, %d agents%s\n", args[0], p.Name(), len(p.Servers()), len(p.Agents()), countWarnings(n))
			}
			return nil
		},
	}
	validate.Flags().BoolVar(&strict, "strict", false, "fail when the policy has warnings")
	cmd.AddCommand(validate)
	e := &explainFlags{}
	explain := &cobra.Command{
		Use:   "explain FILE --agent A --tool T [--server S] [--args JSON]",
		Short: "Say whether the policy allows a call, needs approval or denies it, and which rule decided",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := policy.Load(args[0])
			if err != nil {
				return err
			}
			c, err := e.call(p)
			if err != nil {
				return err
			}
			printWarnings(g, s, args[0], p)
			d := p.Decide(c)
			fmt.Fprintf(s.out, "%s: %s (rule %s)\n", d.Verdict, d.Reason, d.Rule)
			if !g.quiet {
				fmt.Fprintln(s.out, strings.TrimRight(p.Explain(c), "\n"))
			}
			return nil
		},
	}
	fl := explain.Flags()
	fl.StringVar(&e.agent, "agent", "", "the caller: namespace/serviceaccount, or a static token's identity")
	fl.StringVar(&e.server, "server", "", "the tool server (default: the policy's only server)")
	fl.StringVar(&e.tool, "tool", "", "the MCP tool name")
	fl.StringVar(&e.args, "args", "", "the tool's arguments as a JSON object")
	fl.StringVar(&e.method, "method", "", "HTTP method, for a plain HTTP tool server")
	fl.StringVar(&e.path, "path", "", "HTTP path, for a plain HTTP tool server")
	cmd.AddCommand(explain)
	return cmd
}

// printWarnings writes the policy's warnings to stderr, one line each as errors are ("agops: policy.yaml:30:
// warning: spec.rules[0].deny: ..."), unless -q; it returns how many there are.
func printWarnings(g *globals, s streams, file string, p *policy.Policy) int {
	ws := p.Warnings()
	if !g.quiet {
		for _, l := range policy.WarningLines(file, ws) {
			fmt.Fprintf(s.err, "agops: %s\n", l)
		}
	}
	return len(ws)
}

func countWarnings(n int) string {
	switch n {
	case 0:
		return ""
	case 1:
		return " (1 warning)"
	}
	return fmt.Sprintf(" (%d warnings)", n)
}

type explainFlags struct {
	agent, server, tool, args, method, path string
}

// call checks the flags against the policy and builds the call to decide.
func (e *explainFlags) call(p *policy.Policy) (policy.Call, error) {
	if e.agent == "" {
		return policy.Call{}, usageError{fmt.Errorf("--agent is required")}
	}
	if (e.tool == "") == (e.method == "" && e.path == "") {
		return policy.Call{}, usageError{fmt.Errorf("give --tool for an MCP call, or --method and --path for an HTTP call")}
	}
	server := e.server
	if server == "" {
		servers := p.Servers()
		if len(servers) != 1 {
			return policy.Call{}, usageError{fmt.Errorf("the policy has %d servers: say which with --server", len(servers))}
		}
		server = servers[0].Name
	}
	c := policy.Call{Agent: e.agent, Server: server, Tool: e.tool, Method: strings.ToUpper(e.method), Path: e.path}
	if e.args != "" {
		if !json.Valid([]byte(e.args)) {
			return policy.Call{}, usageError{fmt.Errorf("--args: not valid JSON")}
		}
		c.Args = json.RawMessage(e.args)
	}
	return c, nil
}
