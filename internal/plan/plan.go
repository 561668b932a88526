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
}

// DefaultOptions are the options the CLI starts from.
func DefaultOptions() Options {
	return Options{
		HelperImage: "ghcr.io/agops/agops:v0.1.0",
		Registry:    "registry.local/" + "agops",
		StorageSize: "10Gi",
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
	{"names", (*planner).ruleNames},
	{"dependencies", (*planner).ruleDependencies},
	{"kinds", (*planner).ruleKinds},
	{"ports", (*planner).rulePorts},
	{"containers", (*planner).ruleContainers},
	{"environment", (*planner).ruleEnvironment},
	{"storage", (*planner).ruleStorage},
	{"files", (*planner).ruleFiles},
	{"probes", (*planner).ruleProbes},
	{"credential-refs", (*planner).ruleCredentialRefs},
	{"resources", (*planner).ruleResources},
	{"security", (*planner).ruleSecurity},
	{"scheduling", (*planner).ruleScheduling},
	{"waits", (*planner).ruleWaits},
	{"services", (*planner).ruleServices},
	{"availability", (*planner).ruleAvailability},
	{"other-keys", (*planner).ruleOtherKeys},
	{"accounting", (*planner).ruleAccounting},
	{"project-keys", (*planner).ruleProjectKeys},
}

// planner carries the state shared by the rules.
type planner struct {
	p    *compose.Project
	opts Options

	names     map[string]string // compose service name -> Kubernetes name
	order     []string          // compose service names, sorted
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
	// waitedServices are Kubernetes workload names some init container waits on.
	waitedServices map[string]bool

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
	pl := &planner{
		p: p, opts: o,
		names: map[string]string{}, svcs: map[string]types.ServiceConfig{}, hints: map[string]compose.ServiceHints{},
		owner: map[string]string{}, work: map[string]*model.Workload{}, primary: map[string]*model.Container{},
		ports: map[string][]portInfo{}, renames: map[string]string{}, aliases: map[string][]string{},
		completes: map[string]bool{}, healthy: map[string]bool{}, waitedServices: map[string]bool{}, credentials: map[string]map[string]string{},
		claims: map[string]*model.Claim{}, configMaps: map[string]*model.ConfigMap{}, secrets: map[string]*model.Secret{},
		used: map[string]bool{}, keyRoots: map[string]map[string]bool{},
	}
	var errs []error
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
		Namespace:   namespaceName(pl.p.Name),
		HelperImage: pl.opts.HelperImage,
	}
	for _, n := range pl.primaryServices() {
		mp.Workloads = append(mp.Workloads, *pl.work[n])
	}
	slices.SortFunc(mp.Workloads, func(a, b model.Workload) int { return compareStrings(a.Name, b.Name) })
	for _, c := range sortedValues(pl.claims) {
		mp.Claims = append(mp.Claims, *c)
	}
	for _, c := range sortedValues(pl.configMaps) {
		mp.ConfigMaps = append(mp.ConfigMaps, *c)
	}
	for _, s := range sortedValues(pl.secrets) {
		mp.Secrets = append(mp.Secrets, *s)
	}
	mp.Decisions = pl.decisions
	model.SortDecisions(mp.Decisions)
	return mp
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
