package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/agops/agops/internal/check"
	"github.com/agops/agops/internal/check/reach"
	"github.com/agops/agops/internal/kube"
)

type checkFlags struct {
	overlay     string
	format      string
	failOn      string
	skip        []string
	podCIDR     string
	serviceCIDR string
	noServiceLB bool
	enforcer    string
}

func newCheckCmd(g *globals, s streams) *cobra.Command {
	f := &checkFlags{}
	cmd := &cobra.Command{
		Use:   "check OUT|FILE",
		Short: "Check rendered manifests offline: readiness rules and who may reach whom under their NetworkPolicies",
		Long: "Reads an agops output folder (the --overlay is built), a kustomization folder or a YAML file, runs the " +
			"readiness rules (stable IDs, each with a one-line fix; see docs/check.md) and evaluates the NetworkPolicies " +
			"into a reachability matrix. Exits 1 when a finding is at least as severe as --fail-on.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			failOn, err := f.validate()
			if err != nil {
				return err
			}
			objs, err := kube.Load(args[0], f.overlay)
			if err != nil {
				return err
			}
			o := check.Options{Skip: f.skip}
			o.Reach.PodCIDR, o.Reach.ServiceCIDR, o.Reach.NoServiceLB = f.podCIDR, f.serviceCIDR, f.noServiceLB
			o.Reach.Enforcer = f.enforcer
			r, err := check.Analyze(objs, o)
			if err != nil {
				return err
			}
			if f.format == "json" {
				b, err := r.JSON()
				if err != nil {
					return err
				}
				if _, err := s.out.Write(b); err != nil {
					return err
				}
			} else if err := r.Text(s.out); err != nil {
				return err
			}
			if failOn != 0 && r.Exceeds(failOn) {
				return fmt.Errorf("%s: findings at or above --fail-on %s", r.Summary(), failOn)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.overlay, "overlay", "ha", "overlay of an agops output folder: ha or single-node")
	fl.StringVar(&f.format, "format", "text", "text or json")
	fl.StringVar(&f.failOn, "fail-on", "error", "exit 1 when a finding is at least this severe: info, warning, error, or none")
	fl.StringSliceVar(&f.skip, "skip", nil, "rule IDs to turn off (comma-separated)")
	fl.StringVar(&f.podCIDR, "pod-cidr", "10.42.0.0/16", "the cluster's pod address range")
	fl.StringVar(&f.serviceCIDR, "service-cidr", "10.43.0.0/16", "the cluster's Service address range")
	fl.BoolVar(&f.noServiceLB, "no-servicelb", false, "the cluster runs no k3s ServiceLB: its pods are left out of the matrix")
	fl.StringVar(&f.enforcer, "enforcer", reach.EnforcerAPI, "whose reading of the NetworkPolicies the matrix follows: api (the Kubernetes API's semantics) or kube-router (k3s's enforcer, which applies a policy's rules both ways between the pods it selects)")
	return cmd
}

// validate checks the flags and returns the --fail-on severity (0 for none).
func (f *checkFlags) validate() (check.Severity, error) {
	switch f.format {
	case "text", "json":
	default:
		return 0, usageError{fmt.Errorf("--format %q: want text or json", f.format)}
	}
	switch f.enforcer {
	case reach.EnforcerAPI, reach.EnforcerKubeRouter:
	default:
		return 0, usageError{fmt.Errorf("--enforcer %q: want %s or %s", f.enforcer, reach.EnforcerAPI, reach.EnforcerKubeRouter)}
	}
	if f.failOn == "none" {
		return 0, nil
	}
	sev, err := check.ParseSeverity(f.failOn)
	if err != nil {
		return 0, usageError{fmt.Errorf("--fail-on: %w", err)}
	}
	return sev, nil
}
