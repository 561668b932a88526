package plan

import (
	"fmt"
	"strings"

	"github.com/agops/agops/internal/model"
)

// modelImages serve models and embeddings, by imageBase; modelRoles mark them in x-agops.role.
var (
	modelImages = set("ollama", "vllm-openai", "vllm", "text-generation-inference", "text-embeddings-inference", "localai",
		"llama.cpp", "llama-cpp-python", "tabbyapi", "litellm")
	modelRoles = set("llm-server", "embedding-server")
)

// ruleAgentWiring connects each agops worker once the gateway exists: AGOPS_GATEWAY_URL names the gateway of its
// namespace (governance mounts the worker's token for it), and the worker may open Temporal's frontend, the gateway,
// PostgreSQL and the model servers — over its Compose networks where they are shared, else through rules added for
// this worker alone on both sides.
func (pl *planner) ruleAgentWiring() {
	for _, n := range pl.primaryServices() {
		if pl.isAgopsWorker(n) {
			pl.workerGateway(n)
			pl.workerPaths(n)
		}
	}
}

// workerGateway points the worker at the gateway of its namespace. Without one the worker still gets a token for the
// gateway's audience: agops worker refuses to start without a token file.
func (pl *planner) workerGateway(n string) {
	w, c, ns := pl.work[n], pl.primary[n], pl.nsOf(n)
	gw := pl.gateways[ns]
	if gw == "" {
		if !hasVolume(w, gatewayTokenVolume) {
			w.Pod.Volumes = append(w.Pod.Volumes, model.Volume{Name: gatewayTokenVolume, AudienceToken: GatewayAudience})
			c.Mounts = append(c.Mounts, model.Mount{Volume: gatewayTokenVolume, Path: GatewayTokenDir, ReadOnly: true})
			setEnv(c, model.EnvVar{Name: "AGOPS_GATEWAY_TOKEN_FILE", Value: GatewayTokenDir + "/token"})
		}
		pl.record(n, "default:gateway", model.Approximated, fmt.Sprintf(
			"no agops gateway in %s (no tool server there, or --no-gateway): AGOPS_GATEWAY_URL is unset, so the agents' tool calls fail; teams without tools run",
			ns), "declare the tool servers (x-agops: {role: tool-server}) so that migrate puts the gateway in front of them, or set AGOPS_GATEWAY_URL to a gateway you run")
		return
	}
	url := fmt.Sprintf("http://%s:%d", pl.work[gw].Name, gatewayPort)
	setEnv(c, model.EnvVar{Name: "AGOPS_GATEWAY_URL", Value: url})
	if !hasVolume(w, gatewayTokenVolume) {
		pl.giveGatewayToken(n, pl.work[gw].Name)
	}
	pl.record(n, "default:gateway", model.Mapped, fmt.Sprintf(
		"agops worker sends every tool call through the agops gateway at %s (AGOPS_GATEWAY_URL), with its ServiceAccount token and an idempotency key", url), "")
}

// pathTarget is a service a worker must reach, and on which ports.
type pathTarget struct {
	what, service string
	ports         []model.PolicyPort
}

// workerTargets lists what an agops worker calls: Temporal, the gateway, PostgreSQL and the model servers.
func (pl *planner) workerTargets(n string) []pathTarget {
	var out []pathTarget
	if t := pl.projectTemporal(); t != "" {
		out = append(out, pathTarget{"Temporal", t, []model.PolicyPort{{Port: temporalPort, Protocol: model.TCP}}})
	}
	if gw := pl.gateways[pl.nsOf(n)]; gw != "" {
		out = append(out, pathTarget{"the agops gateway", gw, []model.PolicyPort{{Port: gatewayPort, Protocol: model.TCP}}})
	}
	if pg := pl.postgres(); pg != "" && pl.work[pg] != nil {
		out = append(out, pathTarget{"PostgreSQL", pg, pl.policyPorts(pg)})
	}
	for _, m := range pl.primaryServices() {
		w := pl.work[m]
		if w.Kind != model.Job && (modelRoles[pl.hints[m].Role] || modelImages[imageBase(pl.svcs[m].Image)]) {
			out = append(out, pathTarget{"model server", m, pl.policyPorts(m)})
		}
	}
	return out
}

// workerPaths makes sure the worker may open every target: over a shared Compose network, or through an egress rule on
// the worker's policy and an ingress rule on the target's that admit this pair only. Temporal admits the whole
// ai-lab namespace already.
func (pl *planner) workerPaths(n string) {
	lab := tierNamespace(pl.p.Name, model.TierAILab)
	var reached, opened []string
	for _, t := range pl.workerTargets(n) {
		if len(t.ports) == 0 || pl.policyOf(n) == nil || pl.policyOf(t.service) == nil {
			continue
		}
		desc := fmt.Sprintf("%s %s (%s)", t.what, pl.work[t.service].Name, describePolicyPorts(t.ports))
		admitted := pl.temporalServer(t.service) && pl.nsOf(n) == lab
		if sharesNetwork(pl.work[n], pl.work[t.service]) && (admitted || !pl.temporalServer(t.service)) {
			reached = append(reached, desc)
			continue
		}
		pl.openPath(n, t.service, t.ports, !admitted)
		opened = append(opened, desc)
	}
	switch {
	case len(opened) > 0:
		reason := "agops worker may open " + strings.Join(opened, ", ") + ", which its Compose networks did not connect it to: each side admits this worker alone"
		if len(reached) > 0 {
			reason += "; it reaches " + strings.Join(reached, ", ") + " over its Compose networks"
		}
		pl.record(n, "networks", model.Approximated, reason, "")
	case len(reached) > 0:
		pl.record(n, "networks", model.Mapped, "agops worker reaches "+strings.Join(reached, ", ")+" over its Compose networks", "")
	}
}

// openPath lets n open ports on t: an egress rule on n's policy and, unless t admits n already, an ingress rule on t's.
func (pl *planner) openPath(n, t string, ports []model.PolicyPort, ingress bool) {
	src := pl.policyOf(n)
	src.Egress = append(src.Egress, model.TrafficRule{Peers: []model.Peer{pl.peerIn(n, t)}, Ports: ports})
	if ingress {
		dst := pl.policyOf(t)
		dst.Ingress = append(dst.Ingress, model.TrafficRule{Peers: []model.Peer{pl.peerIn(t, n)}, Ports: ports})
		pl.record(t, "networks", model.Approximated, fmt.Sprintf("also accepts %s from agops worker %s (%s), which Compose's networks did not connect to it",
			describePolicyPorts(ports), pl.work[n].Name, pl.nsOf(n)), "")
	}
}

// peerIn is workload m as a peer in a policy of n's namespace.
func (pl *planner) peerIn(n, m string) model.Peer {
	p := model.Peer{Workload: pl.work[m].Name}
	if pl.nsOf(m) != pl.nsOf(n) {
		p.Namespace = pl.nsOf(m)
	}
	return p
}

// sharesNetwork tells whether two pods carry the label of a common Compose network.
func sharesNetwork(a, b *model.Workload) bool {
	for _, x := range a.Networks {
		for _, y := range b.Networks {
			if x == y {
				return true
			}
		}
	}
	return false
}
