package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/agops/agops/internal/standin"
)

// standInFlags are the flags of `agops stand-in` and `agops stand-in check`.
type standInFlags struct {
	listen, probe       string
	every, timeout      time.Duration
	once                bool
	workload, container string
}

func newStandInCmd(g *globals, s streams) *cobra.Command {
	f := &standInFlags{}
	cmd := &cobra.Command{
		Use:    "stand-in [flags] [-- COMMAND [ARG...]]",
		Short:  "Stand in for a container: listen on its ports, dial what its configuration names, report (agops rehearse --stand-ins)",
		Hidden: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && cmd.ArgsLenAtDash() != 0 {
				return usageError{fmt.Errorf("unknown command %q for %q (the container's command goes after --)", args[0], cmd.CommandPath())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.config(g, s)
			if err != nil {
				return err
			}
			if c.Listen, err = standin.ParsePorts(f.listen); err != nil {
				return usageError{err}
			}
			if c.Probes, err = standin.ParseProbes(f.probe); err != nil {
				return usageError{err}
			}
			c.Command = args
			return standin.Run(cmd.Context(), c, s.out)
		},
	}
	fl := cmd.PersistentFlags()
	fl.StringVar(&f.container, "container", "", "the container stood in for (names the socket `stand-in check` dials)")
	fl.DurationVar(&f.timeout, "timeout", standin.DefaultDialTimeout, "bound on one dial (and on the check)")
	fl = cmd.Flags()
	fl.StringVar(&f.listen, "listen", "", "ports to listen on: PORT[/TCP|UDP],...")
	fl.StringVar(&f.probe, "probe", "", "peers to dial: NAMESPACE/WORKLOAD=HOST:PORT/PROTOCOL[@CONTAINERPORT],...")
	fl.DurationVar(&f.every, "every", standin.DefaultEvery, "time between two rounds of dials")
	fl.BoolVar(&f.once, "once", false, "one round of dials, then exit 0 (Jobs and init containers)")
	fl.StringVar(&f.workload, "workload", "", "the workload stood in for, NAMESPACE/NAME (carried in reports)")
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Exit 0 if this container's stand-in listens on all its ports (what replaces exec probes)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.config(g, s)
			if err != nil {
				return err
			}
			return standin.Check(cmd.Context(), c)
		},
	})
	return cmd
}

// config is what the stand-in reads of its container: the flags, the environment and the hostname.
func (f *standInFlags) config(g *globals, s streams) (standin.Config, error) {
	if f.every <= 0 || f.timeout <= 0 {
		return standin.Config{}, usageError{fmt.Errorf("--every and --timeout must be positive, not %s and %s", f.every, f.timeout)}
	}
	host, _ := os.Hostname()
	return standin.Config{
		Env: os.Environ(), Hostname: host, Workload: f.workload, Container: f.container,
		Every: f.every, Timeout: f.timeout, Once: f.once, Logger: g.logger(s.err),
	}, nil
}
