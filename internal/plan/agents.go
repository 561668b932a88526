package plan

import (
	"fmt"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/agops/agops/internal/compose"
	"github.com/agops/agops/internal/model"
)

// The agops worker's fixed settings.
const (
	// transcriptsDir is where a worker without PostgreSQL keeps the agents' transcripts, on an emptyDir.
	transcriptsDir    = "/var/lib/agops/transcripts"
	transcriptsVolume = "transcripts"
	// workerHAReplicas is the preferred replica count of a worker in ha: one per node of the three-node lab.
	workerHAReplicas = 3
)

// isAgopsWorker tells whether a service is an agent worker that agops runs as `agops worker`: x-agops.role
// agent-worker, unless x-agops.runtime is own, on a pod of its own.
func (pl *planner) isAgopsWorker(n string) bool {
	h := pl.hints[n]
	_, joined := pl.owner[n]
	return h.Role == compose.RoleAgentWorker && h.Runtime != compose.RuntimeOwn && !joined
}

// workerContainer makes an agent worker's container run `agops worker` from the agops image in place of the
// service's own image and command; ruleContainers calls it instead of mapping image, command and hooks.
func (pl *planner) workerContainer(n string, s types.ServiceConfig, c *model.Container) {
	c.Image, c.Args, c.WorkingDir = pl.opts.HelperImage, []string{"worker"}, ""
	queue := "agops-agents (the default)"
	if q := pl.hints[n].TaskQueue; q != "" {
		c.Args, queue = append(c.Args, "--task-queue", q), q+" (x-agops.taskQueue)"
	}
	keys, replaced := []string{"image"}, []string{"image " + s.Image}
	if s.Build != nil {
		keys = append(keys, "build")
		if s.Image == "" {
			replaced = []string{"the image built from " + relTo(pl.p.WorkingDir, s.Build.Context)}
		}
	}
	for _, k := range []struct {
		key  string
		args []string
	}{{"entrypoint", s.Entrypoint}, {"command", s.Command}} {
		if k.args != nil {
			keys = append(keys, k.key)
			replaced = append(replaced, fmt.Sprintf("%s `%s`", k.key, strings.Join(k.args, " ")))
		}
	}
	pl.record(n, strings.Join(keys, "/"), model.Approximated, fmt.Sprintf(
		"agent worker run by agops: `agops %s` from the agops image %s replaces %s; it polls Temporal's task queue %s and carries out the agent teams' model and tool calls (docs/team.md)",
		strings.Join(c.Args, " "), pl.opts.HelperImage, strings.Join(replaced, " and "), queue),
		"to keep the service's own image and command: x-agops: {runtime: own}")
	for _, k := range []struct {
		key string
		set bool
	}{{"working_dir", s.WorkingDir != ""}, {"post_start", len(s.PostStart) > 0}, {"pre_stop", len(s.PreStop) > 0}, {"pre_start", len(s.PreStart) > 0}} {
		if k.set {
			pl.record(n, k.key, model.Dropped, "belongs to the replaced image; agops worker needs none", "")
		}
	}
}

// workerSecurity gives an agops worker the agops image's own hardened security context; ruleSecurity calls it instead
// of mapping the container's user, capabilities and options, which were the replaced image's.
func (pl *planner) workerSecurity(n string, s types.ServiceConfig, c *model.Container) {
	uid := int64(helperUID)
	c.Security = model.Security{
		RunAsUser: &uid, RunAsGroup: &uid, RunAsNonRoot: boolPtr(true), ReadOnlyRootFilesystem: true,
		AllowPrivilegeEscalation: boolPtr(false), CapDrop: []string{"ALL"}, Seccomp: "RuntimeDefault",
	}
	var keys []string
	for _, k := range []struct {
		key string
		set bool
	}{{"user", s.User != ""}, {"cap_add", len(s.CapAdd) > 0}, {"cap_drop", len(s.CapDrop) > 0}, {"read_only", s.ReadOnly},
		{"privileged", s.Privileged}, {"security_opt", len(s.SecurityOpt) > 0}} {
		if k.set {
			keys = append(keys, k.key)
		}
	}
	reason := fmt.Sprintf("agops worker runs as uid %d, non-root, with every capability dropped, no privilege escalation, a read-only root file system and seccomp RuntimeDefault", helperUID)
	if len(keys) > 0 {
		pl.record(n, strings.Join(keys, "/"), model.Dropped, "set for the replaced image; "+reason, "")
		return
	}
	pl.record(n, "default:securityContext", model.Mapped, reason, "")
}

// ruleAgentWorkers wires each agops worker to Temporal and to its transcript store, and says why it has no probes.
// The gateway and the network paths come once the gateway exists (ruleAgentWiring).
func (pl *planner) ruleAgentWorkers() {
	temporal := pl.projectTemporal()
	for _, n := range pl.primaryServices() {
		h := pl.hints[n]
		if h.Role == compose.RoleAgentWorker && h.Runtime == compose.RuntimeOwn {
			pl.record(n, "x-agops.runtime", model.Mapped, "runtime: own: the service's own image and command run; agops does not wire it as an agops worker", "")
		}
		if !pl.isAgopsWorker(n) {
			continue
		}
		w, c := pl.work[n], pl.primary[n]
		pl.workerProbes(n, c)
		pl.workerTemporal(n, w, c, temporal)
		pl.workerTranscripts(n, w, c)
	}
}

// workerProbes records why a worker has no probes; ruleProbes leaves workers to this rule.
func (pl *planner) workerProbes(n string, c *model.Container) {
	c.Readiness, c.Liveness, c.Startup = nil, nil, nil
	reason := "no probes: agops worker serves no health endpoint and takes no connections; it exits on fatal errors (Kubernetes restarts it) and the Temporal SDK retries a lost connection itself"
	switch {
	case pl.hints[n].Probe != nil:
		pl.record(n, "x-agops.probe", model.Dropped, "the probe checked the replaced image; "+reason, "x-agops: {runtime: own} to keep the service's own image and probe")
	case pl.svcs[n].HealthCheck != nil:
		pl.record(n, "healthcheck", model.Dropped, "the healthcheck checked the replaced image; "+reason, "")
	default:
		pl.record(n, "default:probe", model.Approximated, reason, "")
	}
}

// workerTemporal points the worker at Temporal: the service's own TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE when
// Compose set them, else the project's Temporal frontend and the default namespace. A worker of the project's
// Temporal waits for it to be ready before it starts.
func (pl *planner) workerTemporal(n string, w *model.Workload, c *model.Container, temporal string) {
	addr := pl.envOf(n, "TEMPORAL_ADDRESS")
	switch {
	case addr != "":
		addr, _ = pl.rewriteHosts(addr)
		pl.record(n, "environment.TEMPORAL_ADDRESS", model.Mapped, "agops worker dials Temporal at "+addr+", the service's own TEMPORAL_ADDRESS", "")
	case temporal != "":
		addr = fmt.Sprintf("%s:%d", pl.hostFrom(n, temporal), temporalPort)
		pl.record(n, "default:temporal", model.Mapped, fmt.Sprintf("agops worker dials the project's Temporal %s at %s (TEMPORAL_ADDRESS)", temporal, addr), "")
	default:
		pl.record(n, "default:temporal", model.NeedsInput,
			"agops worker needs Temporal, and the project has none and the service sets no TEMPORAL_ADDRESS: the worker cannot start",
			"add Temporal to the project (image temporalio/auto-setup), run agops migrate --with-temporal, or set TEMPORAL_ADDRESS")
	}
	if addr != "" {
		setEnv(c, model.EnvVar{Name: "TEMPORAL_ADDRESS", Value: addr})
	}
	ns := pl.envOf(n, "TEMPORAL_NAMESPACE")
	if ns == "" {
		ns = "default"
		pl.record(n, "default:temporalNamespace", model.Mapped, "Temporal namespace default (TEMPORAL_NAMESPACE), the one Temporal's set-up creates", "")
	}
	setEnv(c, model.EnvVar{Name: "TEMPORAL_NAMESPACE", Value: ns})
	if temporal != "" && pl.dialsService(addr, temporal) && !hasInit(w, dns1035("wait-"+pl.names[temporal])) {
		pl.addWait(w, "service", pl.names[temporal], pl.nsOf(n), pl.nsOf(temporal))
		pl.record(n, "default:temporal", model.Mapped, fmt.Sprintf("an init container waits until Temporal's frontend %s is ready (agops wait service), so the worker does not start before the schema set-up is done", pl.names[temporal]), "")
	}
}

// dialsService tells whether a host:port address names a service (by any of its names, short or qualified).
func (pl *planner) dialsService(addr, n string) bool {
	host, _, _ := strings.Cut(addr, ":")
	host, _, _ = strings.Cut(host, ".")
	return pl.hostIndex()[host] == n
}

func hasInit(w *model.Workload, name string) bool {
	for _, c := range w.Pod.InitContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// workerTranscripts keeps the agents' transcripts in the project's PostgreSQL, shared by every replica (agops worker
// reads the standard PG* variables), or, without one, on an emptyDir of each pod.
func (pl *planner) workerTranscripts(n string, w *model.Workload, c *model.Container) {
	pg := pl.postgres()
	if pg == "" {
		w.Pod.Volumes = append(w.Pod.Volumes, model.Volume{Name: transcriptsVolume, EmptyDir: &model.EmptyDir{}})
		c.Mounts = append(c.Mounts, model.Mount{Volume: transcriptsVolume, Path: transcriptsDir})
		setEnv(c, model.EnvVar{Name: "AGOPS_TRANSCRIPTS", Value: transcriptsDir})
		pl.record(n, "default:transcripts", model.NeedsInput, fmt.Sprintf(
			"no PostgreSQL in the project: the agents' transcripts are kept in %s on an emptyDir of each pod, lost with the pod and not shared, so a run that moves to another worker loses them; replicas stay as Compose had them",
			transcriptsDir), "add a PostgreSQL service (image postgres) to the project: the workers then share their transcripts in it")
		return
	}
	host := pl.hostFrom(n, pg)
	vars := []model.EnvVar{{Name: "AGOPS_TRANSCRIPTS", Value: "postgres"}, {Name: "PGHOST", Value: host},
		{Name: "PGPORT", Value: fmt.Sprint(pl.postgresPort(pg))}, {Name: "PGUSER", Value: pl.postgresUser(pg)},
		{Name: "PGDATABASE", Value: pl.postgresDatabase(pg)}}
	ref, from, needed := pl.postgresPassword(pg)
	if ref != nil {
		vars = append(vars, model.EnvVar{Name: "PGPASSWORD", SecretRef: ref})
	}
	for _, v := range vars {
		setEnv(c, v)
	}
	reason := fmt.Sprintf("the agents' transcripts are kept in PostgreSQL %s (AGOPS_TRANSCRIPTS=postgres; PGHOST %s, PGPORT %d, PGUSER %s, PGDATABASE %s), shared by every replica, so a run continues on any worker",
		pg, host, pl.postgresPort(pg), pl.postgresUser(pg), pl.postgresDatabase(pg))
	why, fix := "", ""
	if ref != nil {
		why, fix = pl.envCaveat(ref)
	}
	switch {
	case why != "":
		pl.record(n, "default:transcripts", model.NeedsInput, fmt.Sprintf("%s; PGPASSWORD from Secret %s key %s (%s), but %s", reason, ref.Name, ref.Key, from, why), fix)
	case ref != nil:
		pl.record(n, "default:transcripts", model.Mapped, fmt.Sprintf("%s; PGPASSWORD from Secret %s key %s (%s)", reason, ref.Name, ref.Key, from), "")
	case needed:
		pl.record(n, "default:transcripts", model.NeedsInput, fmt.Sprintf("%s; but %s, so the worker has no password", reason, from),
			"set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE with a Compose secret) on the database")
	default:
		pl.record(n, "default:transcripts", model.Mapped, reason+"; "+from, "")
	}
}

// workerReplicas decides a worker's ha replicas; ruleAvailability calls it. Workers sharing their transcripts run
// one per node (at least two): a run moves to another worker when one dies. Without shared transcripts they stay as
// Compose had them.
func (pl *planner) workerReplicas(n string, w *model.Workload) {
	if pl.postgres() == "" {
		pl.record(n, "ha:replicas", model.Approximated, fmt.Sprintf("agops worker without shared transcripts: stays at %d replica(s) in ha", w.Replicas),
			"add a PostgreSQL service to the project")
		return
	}
	w.HAReplicas = max(w.Replicas, workerHAReplicas)
	pl.record(n, "ha:replicas", model.Mapped, fmt.Sprintf(
		"agops worker: %d replicas in ha, spread over nodes (maxSkew 1), PodDisruptionBudget maxUnavailable 1; Temporal gives a dead worker's runs to the others",
		w.HAReplicas), "x-agops: {replicas: N} for a fixed count")
}

// hostFrom is the name pod n uses for service t's Service: its name in the same namespace, else its full DNS name.
func (pl *planner) hostFrom(n, t string) string {
	if pl.nsOf(n) == pl.nsOf(t) {
		return pl.names[t]
	}
	return pl.names[t] + "." + pl.nsOf(t) + ".svc." + pl.opts.ClusterDomain
}

// setEnv sets a variable on a container, replacing one of the same name; explicit variables win over envFrom.
func setEnv(c *model.Container, v model.EnvVar) {
	for i := range c.Env {
		if c.Env[i].Name == v.Name {
			c.Env[i] = v
			return
		}
	}
	c.Env = append(c.Env, v)
}
