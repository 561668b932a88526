package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/agops/agops/internal/traffic"
)

// newTrafficCmd is what a rehearsal's client pod runs during the host kill: a request every --every, and a summary
// line (internal/traffic) the rehearsal reads from the pod's log.
func newTrafficCmd(_ *globals, s streams) *cobra.Command {
	o := traffic.Options{}
	cmd := &cobra.Command{
		Use:    "traffic --target URL|HOST:PORT [--every 100ms] [--for 2m]",
		Short:  "Call a service at a fixed interval and report failures and the longest outage (agops rehearse)",
		Hidden: true,
		Args:   exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := traffic.Run(cmd.Context(), o)
			if err != nil {
				return usageError{err}
			}
			return traffic.WriteLine(s.out, r)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Target, "target", "", "an http:// URL (GET, 2xx) or HOST:PORT (a TCP connection)")
	fl.DurationVar(&o.Every, "every", 100*time.Millisecond, "time between two requests")
	fl.DurationVar(&o.Timeout, "timeout", time.Second, "bound on one request")
	fl.DurationVar(&o.For, "for", 2*time.Minute, "how long to run")
	return cmd
}
