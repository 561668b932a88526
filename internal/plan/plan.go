// Package plan turns a loaded Compose project into the model through an ordered list of named rules. Every rule
// records a Decision for each Compose key it carries over, approximates, drops or cannot decide alone; the report,
// --strict and the tests all read those Decisions.
package plan

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/agops/agops/internal/compose"
	"github.com/agops/agops/internal/model"
)

// Options tune the plan.
type Options struct {
	// HelperImage is the agops image that runs `agops wait` in init containers.
	HelperImage string
	// Registry prefixes the image name of services that only have build:.
	Registry string
	// StorageClass and StorageSize apply to PVCs without hints; empty class means the cluster default.
	StorageClass string
	StorageSize  string
	// NPUResource is the extended resource requested for /dev/accel devices; empty means needs-input.
	NPUResource string

	// Tiers places services in tiers by name, over every other rule (--tier service=tier).
	Tiers map[string]model.Tier
	// EgressAllow narrows egress to the outside to these destinations ("CIDR" or "CIDR:port"); empty allows any
	// address outside the cluster where the Compose network allowed egress.
	EgressAllow []string
	// PodCIDR and ServiceCIDR are the cluster's address ranges, kept out of "the outside" in egress rules and out of
	// the sources a published port admits.
	PodCIDR, ServiceCIDR string
	// Published ports admit k3s ServiceLB's pods of the service's LoadBalancer, and besides them: LBPods, pods that
	// forward outside traffic ("NAMESPACE" or "NAMESPACE:KEY=VALUE,..."; --lb-pods); NodeCIDRs, the nodes'
	// addresses, for NodePort traffic (--node-cidr); LBSources, the addresses another load balancer forwards from,
	// or its clients' when it keeps them (--lb-source). The pod and Service CIDRs are excepted from these ranges.
	LBPods, NodeCIDRs, LBSources []string
	// ClusterDomain is the DNS domain of Services (cluster.local on k3s and Talos).
	ClusterDomain string
	// Posture is "compose" (keep what Compose did) or "restricted" (harden what can be hardened).
	Posture string
	// AllowedRegistries are registry hosts the ai-lab admission guard accepts besides those the project uses.
	AllowedRegistries []string
	// NoGateway leaves tool servers reachable directly, without the agops gateway.
	NoGateway bool
	// PolicyYAML is the fleet policy for the gateway (agops migrate --policy); empty gives a starter policy.
	PolicyYAML []byte
	// WithTemporal adds a Temporal server on the project's PostgreSQL when the project has none (--with-temporal).
	WithTemporal bool
	// OTLPEndpoint is the OpenTelemetry collector's OTLP/HTTP URL (--otel-endpoint): the agops gateways and workers
	// export their traces there (docs/telemetry.md). Empty: no export.
	OTLPEndpoint string
}

// The postures.
const (
	PostureCompose    = "compose"
	PostureRestricted = "restricted"
)

// DefaultOptions are the options the CLI starts from.
func DefaultOptions() Options {
	return Options{
		HelperImage: "ghcr.io/agops/agops:v0.1.0",
		Registry:    "registry.local/" + "agops",
		StorageSize: "10Gi",
		// k3s's defaults.
		PodCIDR: "10.42.0.0/16", ServiceCIDR: "10.43.0.0/16",
		ClusterDomain: "cluster.local",
		Posture:       PostureCompose,
	}
}

// Plan converts the project. Problems that make a faithful conversion impossible (unknown or cyclic dependencies,
// invalid ports, oversized files) are returned together, one line each.
func Plan(p *compose.Project, o Options) (*model.Project, error) {
	pl, err := newPlanner(p, o)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		r.apply(pl)
	}
	if len(pl.errs) > 0 {
		slices.SortStableFunc(pl.errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return nil, errors.Join(pl.errs...)
	}
	return pl.finish(), nil
}

// rule is one named step of the conversion.
type rule struct {
	name  string
	apply func(*planner)
}

// rules run in this order; later rules read what earlier ones decided.
var rules = []rule{
	{"models", (*planner).ruleModels},
	{"mcp-toolkit", (*planner).ruleToolkit},
	{"with-temporal", (*planner).ruleWithTemporal},
	{"names", (*planner).ruleNames},
	{"tiers", (*planner).ruleTiers},
	{"dependencies", (*planner).ruleDependencies},
	{"kinds", (*planner).ruleKinds},
	{"ports", (*planner).rulePorts},
	{"containers", (*planner).ruleContainers},
	{"mcp-bridges", (*planner).ruleMCPBridges},
	{"environment", (*planner).ruleEnvironment},
	{"storage", (*planner).ruleStorage},
	{"files", (*planner).ruleFiles},
	{"probes", (*planner).ruleProbes},
	{"model-weights", (*planner).ruleModelWeights},
	{"temporal", (*planner).ruleTemporal},
	{"credential-refs", (*planner).ruleCredentialRefs},
	{"resources", (*planner).ruleResources},
	{"security", (*planner).ruleSecurity},
	{"agent-workers", (*planner).ruleAgentWorkers},
	{"scheduling", (*planner).ruleScheduling},
	{"waits", (*planner).ruleWaits},
	{"services", (*planner).ruleServices},
	{"availability", (*planner).ruleAvailability},
	{"pre-start", (*planner).rulePreStart},
	{"network", (*planner).ruleNetwork},
	{"temporal-access", (*planner).ruleTemporalAccess},
	{"governance", (*planner).ruleGovernance},
	{"agent-wiring", (*planner).ruleAgentWiring},
	{"telemetry", (*planner).ruleTelemetry},
	{"pod-security", (*planner).rulePodSecurity},
	{"admission", (*planner).ruleAdmission},
	{"quotas", (*planner).ruleQuotas},
	{"other-keys", (*planner).ruleOtherKeys},
	{"accounting", (*planner).ruleAccounting},
	{"project-keys", (*planner).ruleProjectKeys},
}

// planner carries the state shared by the rules.
type planner struct {
	p    *compose.Project
	opts Options

	names   map[string]string // compose service name -> Kubernetes name
	tier    map[string]model.Tier
	tierWhy map[string]string
	// guards are the Pod Security levels, quotas and defaults of each namespace, by namespace name.
	guards    map[string]*model.Namespace
	links     []model.Link
	policies  []model.NetworkPolicy
	guardsVAP []model.AdmissionGuard
	order     []string // compose service names, sorted
	svcs      map[string]types.ServiceConfig
	hints     map[string]compose.ServiceHints
	owner     map[string]string // compose service -> compose service whose pod it joins (network_mode service:)
	work      map[string]*model.Workload
	primary   map[string]*model.Container // compose service -> its container
	ports     map[string][]portInfo       // compose service -> container ports
	renames   map[string]string           // original host name peers use -> Kubernetes name
	aliases   map[string][]string         // compose service -> extra names (hostname, container_name, aliases)
	completes map[string]bool             // services others wait on to complete
	healthy   map[string]bool             // services others wait on to be healthy
	// credentials are the credential environment values of each service, by variable name.
	credentials map[string]map[string]string
	// credentialIndex lists every known credential value and the Secret key that holds it, in rule order.
	credentialIndex []credentialRef
	// plainValues are values the project also uses as plain settings (user and database names, host names): a
	// credential equal to one is no reason to treat the setting, or a command's literal, as secret.
	plainValues map[string]bool
	// models are the models the project serves, and modelServers the same by the Compose name of their server.
	models       []*modelUse
	modelServers map[string]*modelUse
	// envSecrets is the Secret of each service's credentials, once it has one.
	envSecrets map[string]*model.Secret
	// waitedServices are Kubernetes workload names some init container waits on.
	waitedServices map[string]bool
	// addedTemporal is the Compose name of the Temporal server --with-temporal added, if any.
	addedTemporal string
	// noWorkload is model.Project.NoWorkload.
	noWorkload map[string]string
	// gateways holds the planner key of the agops gateway of each namespace that has one.
	gateways map[string]string
	// toolkits are the containers of Docker's MCP gateway, each with the catalog servers it ran (Compose names),
	// and toolkitTools what its command said; bridged maps each of those servers to its toolkit container.
	toolkits     map[string][]string
	toolkitTools map[string]toolkitGateway
	bridged      map[string]bridgedServer

	claims     map[string]*model.Claim
	configMaps map[string]*model.ConfigMap
	secrets    map[string]*model.Secret
	used       map[string]bool // Kubernetes names taken per object kind, "kind/name"

	decisions []model.Decision
	// keyRoots indexes, per service, the top-level Compose keys some decision covers.
	keyRoots map[string]map[string]bool
	errs     []error
}

func newPlanner(p *compose.Project, o Options) (*planner, error) {
	if o.ClusterDomain == "" {
		o.ClusterDomain = "cluster.local"
	}
	if o.Posture == "" {
		o.Posture = PostureCompose
	}
	pl := &planner{
		p: p, opts: o,
		names: map[string]string{}, tier: map[string]model.Tier{}, tierWhy: map[string]string{}, guards: map[string]*model.Namespace{}, svcs: map[string]types.ServiceConfig{}, hints: map[string]compose.ServiceHints{},
		owner: map[string]string{}, work: map[string]*model.Workload{}, primary: map[string]*model.Container{},
		ports: map[string][]portInfo{}, renames: map[string]string{}, aliases: map[string][]string{},
		completes: map[string]bool{}, healthy: map[string]bool{}, waitedServices: map[string]bool{}, credentials: map[string]map[string]string{},
		envSecrets: map[string]*model.Secret{}, modelServers: map[string]*modelUse{},
		claims: map[string]*model.Claim{}, configMaps: map[string]*model.ConfigMap{}, secrets: map[string]*model.Secret{},
		used: map[string]bool{}, keyRoots: map[string]map[string]bool{}, gateways: map[string]string{},
		toolkits: map[string][]string{}, toolkitTools: map[string]toolkitGateway{}, bridged: map[string]bridgedServer{},
		noWorkload: map[string]string{},
	}
	var errs []error
	if err := CheckPublishedOptions(o); err != nil {
		errs = append(errs, err)
	}
	if err := CheckTelemetryOptions(o); err != nil {
		errs = append(errs, err)
	}
	for name, s := range p.Services {
		pl.svcs[name] = s
		pl.order = append(pl.order, name)
		h, err := compose.Hints(s)
		if err != nil {
			errs = append(errs, err)
		}
		pl.hints[name] = h
	}
	sort.Strings(pl.order)
	if len(pl.order) == 0 {
		errs = append(errs, errors.New("the compose project has no services (check --profile)"))
	}
	return pl, errors.Join(errs...)
}

// record appends a Decision.
func (pl *planner) record(service, key string, o model.Outcome, reason, hint string) {
	pl.add(model.Decision{Service: service, Key: key, Outcome: o, Reason: reason, Hint: hint})
}

// security records a Decision that weakens isolation; the report lists these first.
func (pl *planner) security(service, key string, o model.Outcome, reason, hint string) {
	pl.add(model.Decision{Service: service, Key: key, Outcome: o, Reason: reason, Hint: hint, Security: true})
}

func (pl *planner) add(d model.Decision) {
	pl.decisions = append(pl.decisions, d)
	roots := pl.keyRoots[d.Service]
	if roots == nil {
		roots = map[string]bool{}
		pl.keyRoots[d.Service] = roots
	}
	for _, part := range strings.Split(d.Key, "/") {
		if i := strings.IndexAny(part, ".["); i >= 0 {
			part = part[:i]
		}
		roots[part] = true
	}
}

// fail records a problem that stops the conversion.
func (pl *planner) fail(format string, args ...any) {
	pl.errs = append(pl.errs, fmt.Errorf(format, args...))
}

// primaryServices are the services that own a pod, in name order.
func (pl *planner) primaryServices() []string {
	var out []string
	for _, n := range pl.order {
		if _, joined := pl.owner[n]; !joined {
			out = append(out, n)
		}
	}
	return out
}

// workloadOf returns the workload a service's container lives in.
func (pl *planner) workloadOf(service string) *model.Workload {
	if o, ok := pl.owner[service]; ok {
		return pl.work[o]
	}
	return pl.work[service]
}

func (pl *planner) finish() *model.Project {
	mp := &model.Project{
		Name:        pl.p.Name,
		Instance:    namespaceName(pl.p.Name),
		HelperImage: pl.opts.HelperImage,
		Namespaces:  pl.namespaces(),
	}
	if len(pl.noWorkload) > 0 {
		mp.NoWorkload = pl.noWorkload
	}
	for i := range mp.Namespaces {
		if g := pl.guards[mp.Namespaces[i].Name]; g != nil {
			g.Name, g.Tier = mp.Namespaces[i].Name, mp.Namespaces[i].Tier
			mp.Namespaces[i] = *g
		}
	}
	for _, n := range pl.primaryServices() {
		w := *pl.work[n]
		w.Namespace, w.Tier = pl.nsOf(n), pl.tier[n]
		mp.Workloads = append(mp.Workloads, w)
	}
	slices.SortFunc(mp.Workloads, func(a, b model.Workload) int { return compareStrings(a.Name, b.Name) })
	users := referencedBy(mp.Workloads)
	for _, c := range sortedValues(pl.claims) {
		for _, ns := range users["claim/"+c.Name] {
			cc := *c
			cc.Namespace = ns
			mp.Claims = append(mp.Claims, cc)
		}
	}
	for _, c := range sortedValues(pl.configMaps) {
		for _, ns := range users["configmap/"+c.Name] {
			cc := *c
			cc.Namespace = ns
			mp.ConfigMaps = append(mp.ConfigMaps, cc)
		}
	}
	for _, s := range sortedValues(pl.secrets) {
		for _, ns := range users["secret/"+s.Name] {
			sc := *s
			sc.Namespace = ns
			mp.Secrets = append(mp.Secrets, sc)
		}
	}
	byNamespace := func(ns1, n1, ns2, n2 string) int {
		if c := compareStrings(ns1, ns2); c != 0 {
			return c
		}
		return compareStrings(n1, n2)
	}
	slices.SortFunc(mp.Claims, func(a, b model.Claim) int { return byNamespace(a.Namespace, a.Name, b.Namespace, b.Name) })
	slices.SortFunc(mp.ConfigMaps, func(a, b model.ConfigMap) int { return byNamespace(a.Namespace, a.Name, b.Namespace, b.Name) })
	slices.SortFunc(mp.Secrets, func(a, b model.Secret) int { return byNamespace(a.Namespace, a.Name, b.Namespace, b.Name) })
	mp.Links = pl.links
	slices.SortFunc(mp.Links, func(a, b model.Link) int { return byNamespace(a.Namespace, a.Name, b.Namespace, b.Name) })
	mp.Guards = pl.guardsVAP
	mp.Policies = splitDirections(pl.policies)
	slices.SortFunc(mp.Policies, func(a, b model.NetworkPolicy) int { return byNamespace(a.Namespace, a.Name, b.Namespace, b.Name) })
	mp.Decisions = pl.decisions
	model.SortDecisions(mp.Decisions)
	return mp
}

// referencedBy maps "claim/NAME", "configmap/NAME" and "secret/NAME" to the sorted namespaces of the workloads that
// use them; a Secret two tiers use is copied into both namespaces.
func referencedBy(ws []model.Workload) map[string][]string {
	seen := map[string]map[string]bool{}
	use := func(key, ns string) {
		if seen[key] == nil {
			seen[key] = map[string]bool{}
		}
		seen[key][ns] = true
	}
	for _, w := range ws {
		for _, c := range append(append([]model.Container{}, w.Pod.InitContainers...), w.Pod.Containers...) {
			for _, e := range c.EnvFrom {
				if e.ConfigMap != "" {
					use("configmap/"+e.ConfigMap, w.Namespace)
				}
				if e.Secret != "" {
					use("secret/"+e.Secret, w.Namespace)
				}
			}
			for _, e := range c.Env {
				if e.SecretRef != nil {
					use("secret/"+e.SecretRef.Name, w.Namespace)
				}
			}
		}
		for _, v := range w.Pod.Volumes {
			switch {
			case v.Claim != "":
				use("claim/"+v.Claim, w.Namespace)
			case v.ConfigMap != nil:
				use("configmap/"+v.ConfigMap.Name, w.Namespace)
			case v.Secret != nil:
				use("secret/"+v.Secret.Name, w.Namespace)
			}
			for _, p := range v.Projected {
				if p.Secret != nil {
					use("secret/"+p.Secret.Name, w.Namespace)
				}
				if p.ConfigMap != nil {
					use("configmap/"+p.ConfigMap.Name, w.Namespace)
				}
			}
		}
	}
	out := map[string][]string{}
	for key, nss := range seen {
		out[key] = sortedKeys(nss)
	}
	return out
}

func sortedValues[V any](m map[string]*V) []*V {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*V, 0, len(keys))
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
