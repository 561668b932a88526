package cli

import (
	"cmp"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agops/agops/internal/airgap"
	"github.com/agops/agops/internal/compose"
	"github.com/agops/agops/internal/migrate"
	"github.com/agops/agops/internal/model"
	"github.com/agops/agops/internal/pin"
	"github.com/agops/agops/internal/plan"
)

// loadFlags are the Compose loading flags shared by the verbs that read a project.
type loadFlags struct {
	files       []string
	projectDir  string
	projectName string
	envFiles    []string
	profiles    []string
	tiers       []string
	policy      string
	plan        plan.Options
}

func (f *loadFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	f.plan = plan.DefaultOptions()
	fl.StringArrayVarP(&f.files, "file", "f", nil, "compose file (repeatable, merged in order; default: compose.yaml and compose.override.yaml)")
	fl.StringVar(&f.projectDir, "project-directory", "", "project folder (default: the folder of the first file)")
	fl.StringVarP(&f.projectName, "project-name", "p", "", "project name (default: name: in the file, else the folder name)")
	fl.StringArrayVar(&f.envFiles, "env-file", nil, "environment file for interpolation (repeatable; default: .env)")
	fl.StringArrayVar(&f.profiles, "profile", nil, "profile to enable (repeatable; default: COMPOSE_PROFILES)")
	fl.StringVar(&f.plan.HelperImage, "helper-image", f.plan.HelperImage, "agops image for init containers that wait on dependencies (see agops image push)")
	fl.StringVar(&f.plan.Registry, "registry", f.plan.Registry, "registry prefix for images of services that only have build:")
	fl.StringVar(&f.plan.StorageClass, "storage-class", "", "storage class of volume claims (default: the cluster's default)")
	fl.StringVar(&f.plan.StorageSize, "storage-size", f.plan.StorageSize, "size of volume claims without an x-agops size")
	fl.StringVar(&f.plan.NPUResource, "npu-resource", "", "extended resource requested for /dev/accel NPUs (e.g. vendor.com/npu)")
	fl.StringArrayVar(&f.tiers, "tier", nil, "place a service in a tier: SERVICE=web|ai-lab|data (repeatable; wins over x-agops.tier)")
	fl.StringArrayVar(&f.plan.EgressAllow, "egress-allow", nil, "narrow egress outside the cluster to CIDR or CIDR:PORT (repeatable; default: any address outside the cluster, where the Compose network allowed it)")
	fl.StringVar(&f.plan.Posture, "posture", f.plan.Posture, "compose (keep what Compose did) or restricted (also drop every capability of root containers)")
	fl.StringVar(&f.plan.PodCIDR, "pod-cidr", f.plan.PodCIDR, "the cluster's pod address range, never counted as outside")
	fl.StringVar(&f.plan.ServiceCIDR, "service-cidr", f.plan.ServiceCIDR, "the cluster's Service address range, never counted as outside")
	fl.StringArrayVar(&f.plan.LBSources, "lb-source", nil, "admit this CIDR to published ports: the addresses a load balancer other than k3s's ServiceLB forwards from, or its clients' when it keeps them (repeatable; the pod and Service CIDRs are excepted)")
	fl.StringArrayVar(&f.plan.NodeCIDRs, "node-cidr", nil, "admit the nodes' addresses in this CIDR to published ports, for NodePort traffic (repeatable)")
	fl.StringArrayVar(&f.plan.LBPods, "lb-pods", nil, "admit these pods to published ports: NAMESPACE or NAMESPACE:KEY=VALUE[,KEY=VALUE], for a proxy that forwards outside traffic such as an ingress controller (repeatable)")
	fl.StringVar(&f.policy, "policy", "", "fleet policy for the agops gateway in front of the tool servers (default: a starter policy that keeps what Compose allowed; see docs/policy.md)")
	fl.BoolVar(&f.plan.NoGateway, "no-gateway", false, "leave tool servers reachable directly, without the agops gateway")
	fl.BoolVar(&f.plan.WithTemporal, "with-temporal", false, "add Temporal ("+plan.TemporalImage+") on the project's PostgreSQL when the project has none, for its agent workers")
	fl.StringArrayVar(&f.plan.AllowedRegistries, "allowed-registry", nil, "registry host the ai-lab admission guard also accepts images from (repeatable; the project's own registries always are)")
	fl.StringVar(&f.plan.OTLPEndpoint, "otel-endpoint", "", "OpenTelemetry collector's OTLP/HTTP URL (e.g. http://otel-collector.observability:4318): the agops gateways and workers export traces there (docs/telemetry.md)")
	fl.StringVar(&f.plan.ClusterDomain, "cluster-domain", f.plan.ClusterDomain, "DNS domain of Services, used by names that cross tiers")
}

// options checks the flags and returns the migrate options they describe.
func (f *loadFlags) options(s streams) (migrate.Options, error) {
	o := migrate.Options{Plan: f.plan, Stdout: s.out}
	if len(f.tiers) > 0 {
		o.Plan.Tiers = map[string]model.Tier{}
	}
	for _, t := range f.tiers {
		svc, tier, ok := strings.Cut(t, "=")
		parsed, err := plan.ParseTier(tier)
		if !ok || svc == "" || err != nil {
			return o, usageError{fmt.Errorf("--tier %s: want SERVICE=TIER with TIER one of web, ai-lab, data", t)}
		}
		o.Plan.Tiers[svc] = parsed
	}
	for _, e := range f.plan.EgressAllow {
		if _, _, err := plan.ParseEgressAllow(e); err != nil {
			return o, usageError{err}
		}
	}
	for _, c := range []struct{ flag, v string }{{"--pod-cidr", f.plan.PodCIDR}, {"--service-cidr", f.plan.ServiceCIDR}} {
		if _, _, err := net.ParseCIDR(c.v); err != nil {
			return o, usageError{fmt.Errorf("%s %q: not a CIDR", c.flag, c.v)}
		}
	}
	if err := plan.CheckPublishedOptions(f.plan); err != nil {
		return o, usageError{err}
	}
	if err := plan.CheckTelemetryOptions(f.plan); err != nil {
		return o, usageError{err}
	}
	if f.policy != "" {
		data, err := os.ReadFile(f.policy)
		if err != nil {
			return o, fmt.Errorf("--policy: %w", err)
		}
		o.Plan.PolicyYAML = data
	}
	switch f.plan.Posture {
	case plan.PostureCompose, plan.PostureRestricted:
	default:
		return o, usageError{fmt.Errorf("--posture %q: want compose or restricted", f.plan.Posture)}
	}
	o.Compose.Files = f.files
	o.Compose.ProjectDir = f.projectDir
	o.Compose.ProjectName = f.projectName
	o.Compose.EnvFiles = f.envFiles
	o.Compose.Profiles = f.profiles
	o.Compose.Environ = os.Environ()
	return o, nil
}

type migrateFlags struct {
	load          loadFlags
	out           string
	format        string
	overlay       string
	strict        bool
	inlineSecrets bool
	pinDigests    bool
	insecureReg   bool
	bundle        string
	mirror        string
	airgap        bool
	cluster       string
}

func newMigrateCmd(g *globals, s streams) *cobra.Command {
	f := &migrateFlags{}
	cmd := &cobra.Command{
		Use:   "migrate [-f compose.yaml] -o OUT",
		Short: "Convert a Compose project into Kubernetes manifests (base + single-node and ha overlays) and a report",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			o, err := f.load.options(s)
			if err != nil {
				return err
			}
			o.Out, o.Format, o.Overlay, o.Strict, o.InlineSecrets = f.out, f.format, f.overlay, f.strict, f.inlineSecrets
			o.RegistryMirror, o.Airgap, o.Cluster, o.Bundle = f.mirror, f.airgap, f.cluster, f.bundle
			switch {
			case f.bundle != "":
				r, err := airgap.NewResolver(f.bundle)
				if err != nil {
					return err
				}
				o.Pin = r
			case f.pinDigests:
				o.Pin = pin.Registry{Insecure: f.insecureReg}
			}
			if g.process {
				tuneGC(o.Compose)
			}
			res, err := migrate.Run(cmd.Context(), o)
			if !g.quiet && res.Model != nil {
				fmt.Fprint(s.err, res.Report.Line())
				if err == nil && f.format == migrate.FormatFiles {
					fmt.Fprintf(s.err, "agops: wrote %s (report: %s/report.md)\n", f.out, f.out)
				}
			}
			return err
		},
	}
	f.load.register(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&f.out, "output", "o", "", "output folder (replaced atomically)")
	fl.StringVar(&f.format, "format", migrate.FormatFiles, "files (a kustomize tree in -o) or yaml (one overlay to stdout)")
	fl.StringVar(&f.overlay, "overlay", "ha", "overlay printed by --format yaml: ha or single-node")
	fl.BoolVar(&f.strict, "strict", false, "fail when any decision needs input")
	fl.BoolVar(&f.inlineSecrets, "inline-secrets", false, "write Secret values into the output (off: values never leave your machine's files)")
	fl.BoolVar(&f.pinDigests, "pin-digests", false, "write every image as name:tag@sha256:… (asks each image's registry)")
	fl.BoolVar(&f.insecureReg, "insecure-registry", false, "with --pin-digests: reach registries over plain HTTP")
	fl.StringVar(&f.mirror, "registry-mirror", "", "REG[/prefix]: also write the nodes' mirror configuration (cluster/k3s-registries.yaml, cluster/talos-registry-mirrors.yaml); image names stay as they are")
	fl.BoolVar(&f.airgap, "airgap", false, "with --registry-mirror: the nodes never fall back to the public registries")
	fl.StringVar(&f.cluster, "cluster", "", "folder written by agops cluster init: the report gains the site plan (which files go to which machine, in which order to run what)")
	fl.StringVar(&f.bundle, "bundle", "", "pin every image to the digest this air-gap bundle holds, offline (implies --pin-digests)")
	return cmd
}

func (f *migrateFlags) validate() error {
	switch f.format {
	case migrate.FormatFiles:
		if f.out == "" {
			return usageError{fmt.Errorf("-o OUT is required with --format files")}
		}
	case migrate.FormatYAML:
	default:
		return usageError{fmt.Errorf("--format must be files or yaml, not %q", f.format)}
	}
	if f.overlay != "ha" && f.overlay != "single-node" {
		return usageError{fmt.Errorf("--overlay must be ha or single-node, not %q", f.overlay)}
	}
	return nil
}

// tuneGC makes the garbage collector of a migrate process of its own run less often. Most of what compose-go and
// the renderer allocate dies young, and with the default GOGC a small live heap is collected every few megabytes:
// at 1,000 services, GOGC 400 under a soft limit of 80 MiB took about 0.2 s less CPU and 15 MB less peak memory
// than the default (BENCHMARKS.md). The limit grows with the compose files, at about one and a half times the live
// heap generated projects of that size need (a tighter limit makes the collector run without end: 32 MiB at 300
// services took twice the CPU); should a project need more, the runtime caps the collector at half the CPU and lets
// the heap grow. GOGC or GOMEMLIMIT in the environment win.
func tuneGC(o compose.Options) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(400)
	debug.SetMemoryLimit(gcLimit(o))
}

// gcLimit is tuneGC's soft memory limit for a project: 32 MiB and 192 bytes per byte of its compose files (80 MiB
// for 1,000 generated services).
func gcLimit(o compose.Options) int64 {
	files := o.Files
	if len(files) == 0 {
		dir := cmp.Or(o.ProjectDir, ".")
		for _, name := range []string{"compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml",
			"compose.override.yaml", "compose.override.yml", "docker-compose.override.yaml", "docker-compose.override.yml"} {
			files = append(files, filepath.Join(dir, name))
		}
	}
	var size int64
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() {
			size += st.Size()
		}
	}
	return 32<<20 + 192*size
}
