package plan

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/agops/agops/internal/model"
)

// Temporal's fixed settings.
const (
	// temporalPort is the frontend's gRPC port, the one clients (agops worker, the UI, tctl) dial.
	temporalPort = 7233
	// temporalHealthService is the gRPC health service the frontend reports SERVING once it takes calls.
	temporalHealthService = "temporal.api.workflowservice.v1.WorkflowService"
	// TemporalImage is the Temporal --with-temporal adds: the server, which sets its schema up in PostgreSQL first.
	TemporalImage = "temporalio/auto-setup:1.30.1"
	// temporalSetup is how long the startup probe waits at least: the schema set-up of a new database takes minutes.
	temporalSetup = 5 * time.Minute
	// workflowEngine is the x-agops.role of a Temporal server.
	workflowEngine = "workflow-engine"
)

// temporalImages are the images of a Temporal server, by repository; admin-tools and ui are its clients.
var temporalImages = set("temporalio/auto-setup", "temporalio/server")

// isTemporal tells whether a service is a Temporal server: x-agops.role workflow-engine, or a server image.
func (pl *planner) isTemporal(n string) bool {
	if pl.hints[n].Role == workflowEngine {
		return true
	}
	return temporalImages[imageRepo(pl.svcs[n].Image)]
}

// temporalServer tells whether a service is a Temporal server that owns a long-running pod.
func (pl *planner) temporalServer(n string) bool {
	_, joined := pl.owner[n]
	return !joined && pl.isTemporal(n) && !pl.runsOnce(n)
}

// projectTemporal is the project's Temporal server (the first by name), or "".
func (pl *planner) projectTemporal() string {
	for _, n := range pl.primaryServices() {
		if pl.temporalServer(n) {
			return n
		}
	}
	return ""
}

// imageRepo is an image's repository without registry, tag or digest: "docker.io/temporalio/server:1.30" ->
// "temporalio/server".
func imageRepo(image string) string {
	image, _, _ = strings.Cut(strings.ToLower(image), "@")
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	if first, rest, ok := strings.Cut(image, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		image = rest
	}
	return strings.TrimPrefix(image, "library/")
}

// ruleWithTemporal adds a Temporal server to a project that has none when asked (--with-temporal): the server with
// its schema set-up (temporalio/auto-setup, pinned) on the project's PostgreSQL, on the database's Compose networks.
// The rules that follow treat it as if Compose had declared it; ruleTemporal gives it the database password.
func (pl *planner) ruleWithTemporal() {
	if !pl.opts.WithTemporal {
		return
	}
	for _, n := range pl.order {
		if pl.isTemporal(n) {
			pl.record("", "with-temporal", model.Mapped, fmt.Sprintf("--with-temporal: the project runs Temporal already (service %s); nothing added", n), "")
			return
		}
	}
	pg := pl.postgres()
	if pg == "" {
		pl.fail("--with-temporal needs the project's PostgreSQL; add one or run Temporal yourself")
		return
	}
	name := "temporal"
	for i := 2; pl.taken(name); i++ {
		name = fmt.Sprintf("temporal-%d", i)
	}
	pl.svcs[name] = pl.temporalService(name, pg)
	pl.order = append(pl.order, name)
	sort.Strings(pl.order)
	pl.addedTemporal = name
	pl.record(name, "with-temporal", model.Mapped, fmt.Sprintf(
		"added by --with-temporal: Temporal %s (frontend %s:%d) on PostgreSQL %s (user %s, databases temporal and temporal_visibility, created on first start), on its Compose networks %s",
		TemporalImage, name, temporalPort, pg, pl.postgresUser(pg), strings.Join(sortedKeys(pl.networksOf(pg)), ", ")),
		"pin another version by declaring the service yourself")
}

// taken tells whether a Compose service name is in use, in the selected profiles or not.
func (pl *planner) taken(name string) bool {
	_, used := pl.svcs[name]
	_, disabled := pl.p.DisabledServices[name]
	return used || disabled
}

// temporalService is the Compose service --with-temporal adds.
func (pl *planner) temporalService(name, pg string) types.ServiceConfig {
	env := types.MappingWithEquals{}
	for k, v := range map[string]string{
		"DB": "postgres12", "DB_PORT": strconv.Itoa(int(pl.postgresPort(pg))), "POSTGRES_SEEDS": pg, "POSTGRES_USER": pl.postgresUser(pg),
	} {
		env[k] = &v
	}
	nets := map[string]*types.ServiceNetworkConfig{}
	for net := range pl.networksOf(pg) {
		nets[net] = nil
	}
	s := types.ServiceConfig{Name: name}
	s.Image, s.Environment, s.Networks, s.Restart = TemporalImage, env, nets, types.RestartPolicyUnlessStopped
	s.Deploy = &types.DeployConfig{Resources: types.Resources{
		Limits:       &types.Resource{MemoryBytes: 1 << 30},
		Reservations: &types.Resource{NanoCPUs: 0.25, MemoryBytes: 512 << 20},
	}}
	return s
}

// temporalPorts declares the frontend port of every Temporal server, which Compose files often leave implicit
// (peers just dial temporal:7233): the Service, the probes and the policies need it.
func (pl *planner) temporalPorts() {
	for _, n := range pl.order {
		if !pl.temporalServer(n) {
			continue
		}
		if pl.addPort(n, portInfo{port: temporalPort, proto: model.TCP, source: "Temporal frontend"}) {
			pl.record(n, "ports", model.Mapped, fmt.Sprintf("Temporal's frontend serves gRPC on %d: declared as a container and Service port (Compose left it implicit)", temporalPort), "")
		}
	}
}

// ruleTemporal gives every Temporal server a gRPC readiness probe on its frontend instead of a healthcheck that runs
// a CLI inside the container, a generous startup probe for the schema set-up and no liveness probe; and gives the
// Temporal --with-temporal added its database password, from the database's own Secret.
func (pl *planner) ruleTemporal() {
	for _, n := range pl.primaryServices() {
		if !pl.temporalServer(n) {
			continue
		}
		if pl.hints[n].Probe == nil {
			pl.temporalProbes(n, pl.primary[n])
		}
		if n == pl.addedTemporal {
			pl.temporalPassword(n, pl.primary[n])
		}
	}
}

// temporalProbes sets the gRPC probes. ruleProbes leaves Temporal servers without a probe hint to this rule.
func (pl *planner) temporalProbes(n string, c *model.Container) {
	grpc := &model.GRPC{Port: temporalPort, Service: temporalHealthService}
	c.Readiness = &model.Probe{GRPC: grpc, PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: 3}
	setup := temporalSetup
	hc := pl.svcs[n].HealthCheck
	if hc != nil && hc.StartPeriod != nil && time.Duration(*hc.StartPeriod) > setup {
		setup = time.Duration(*hc.StartPeriod)
	}
	failures := int32(math.Ceil(setup.Seconds() / 10))
	c.Startup = &model.Probe{GRPC: grpc, PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: failures}
	c.Liveness = nil
	reason := fmt.Sprintf("Temporal frontend: a gRPC readiness probe asks the health service %s on port %d every 10s; a startup probe allows %v for the schema set-up; no liveness probe (a frontend that stops serving leaves the Service, a process that exits is restarted, and a restart during set-up would only start it over)",
		temporalHealthService, temporalPort, setup)
	switch {
	case hc != nil && !hc.Disable && len(hc.Test) > 0 && hc.Test[0] != "NONE":
		pl.record(n, "healthcheck", model.Approximated, reason+"; it replaces the healthcheck, which ran a command inside the container ("+strings.Join(hc.Test[1:], " ")+")",
			"x-agops: {probe: ...} to keep a probe of your own")
	case hc != nil:
		pl.record(n, "healthcheck", model.Approximated, reason+"; Compose disabled the healthcheck, but waits and rollouts need readiness", "x-agops: {probe: {none: true}} for no probes")
	default:
		pl.record(n, "default:probe", model.Mapped, reason, "")
	}
}

// temporalPassword gives the added Temporal POSTGRES_PWD from the Secret that holds the database's password.
func (pl *planner) temporalPassword(n string, c *model.Container) {
	pg := pl.postgres()
	ref, from, needed := pl.postgresPassword(pg)
	switch {
	case ref != nil:
		setEnv(c, model.EnvVar{Name: "POSTGRES_PWD", SecretRef: ref})
		reason := fmt.Sprintf("POSTGRES_PWD from Secret %s key %s (%s), the database's own password; the value is not written to the output", ref.Name, ref.Key, from)
		if why, fix := pl.envCaveat(ref); why != "" {
			pl.record(n, "with-temporal", model.NeedsInput, reason+"; but "+why, fix)
			return
		}
		pl.record(n, "with-temporal", model.Mapped, reason, "")
	case needed:
		pl.record(n, "with-temporal", model.NeedsInput, fmt.Sprintf("PostgreSQL %s: %s; Temporal has no password to connect with", pg, from),
			"set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE with a Compose secret) on the database")
	default:
		pl.record(n, "with-temporal", model.Mapped, fmt.Sprintf("PostgreSQL %s: %s", pg, from), "")
	}
}

// ruleTemporalAccess lets only the AI lab reach Temporal's frontend: its NetworkPolicy admits the pods of the ai-lab
// namespace (agent workers, Temporal's UI and admin tools) on its ports, instead of every member of its Compose
// networks. A run's history holds prompts, tool results and credentials passed as inputs; the data tier never needs
// it, and the web tier reaches the lab's API, not its workflow engine.
func (pl *planner) ruleTemporalAccess() {
	lab := tierNamespace(pl.p.Name, model.TierAILab)
	for _, n := range pl.primaryServices() {
		p := pl.policyOf(n)
		if !pl.temporalServer(n) || p == nil || len(pl.policyPorts(n)) == 0 {
			continue
		}
		var ingress []model.TrafficRule
		for _, r := range p.Ingress {
			if !hasNetworkPeer(r) {
				ingress = append(ingress, r)
			}
		}
		p.Ingress = append(ingress, model.TrafficRule{Peers: []model.Peer{{Namespace: lab}}, Ports: pl.policyPorts(n)})
		p.Why += "; Temporal: only the ai-lab tier may connect"
		reason := fmt.Sprintf("Temporal accepts %s from the pods of %s only (agents, its UI and admin tools)", describePolicyPorts(pl.policyPorts(n)), lab)
		if lost := pl.outsideTier(n, lab); len(lost) > 0 {
			reason += "; " + strings.Join(lost, ", ") + " shared a Compose network with it and no longer reach it"
		}
		pl.record(n, "networks", model.Approximated, reason, "")
	}
}

// outsideTier lists the services outside namespace ns that share a Compose network with n.
func (pl *planner) outsideTier(n, ns string) []string {
	var out []string
	for _, m := range pl.primaryServices() {
		if m != n && pl.nsOf(m) != ns && shares(pl.networksOf(m), pl.networksOf(n)) {
			out = append(out, fmt.Sprintf("%s (%s)", pl.names[m], pl.nsOf(m)))
		}
	}
	return out
}

func hasNetworkPeer(r model.TrafficRule) bool {
	for _, p := range r.Peers {
		if p.Network != "" {
			return true
		}
	}
	return false
}

// policyOf returns the NetworkPolicy of a service's workload, or nil.
func (pl *planner) policyOf(n string) *model.NetworkPolicy {
	w := pl.work[n]
	if w == nil {
		return nil
	}
	ns := pl.nsOf(n)
	for i := range pl.policies {
		if p := &pl.policies[i]; p.Workload == w.Name && p.Namespace == ns {
			return p
		}
	}
	return nil
}
