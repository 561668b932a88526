package plan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/agops/agops/internal/model"
)

// ruleAdmission guards the ai-lab namespace with a ValidatingAdmissionPolicy: no privileged containers, no host
// network, PID, IPC, ports or paths, images only from the registries the project uses (plus --allowed-registry), and
// no NetworkPolicy that agops did not write — a compromised agent's credentials cannot start a pod or open a path
// around the namespace's isolation. Workloads of the project that need what the guard forbids are exempted by
// name, each with a security decision.
func (pl *planner) ruleAdmission() {
	ns := tierNamespace(pl.p.Name, model.TierAILab)
	registries := map[string]bool{}
	for _, r := range pl.opts.AllowedRegistries {
		registries[r] = true
	}
	hub := false
	add := func(image string) {
		if r, ok := registryOf(image); ok {
			registries[r] = true
		} else {
			hub = true
		}
	}
	add(pl.opts.HelperImage)
	inTier := false
	var exempt []string
	for _, n := range pl.primaryServices() {
		w := pl.work[n]
		for _, c := range append(append([]model.Container{}, w.Pod.InitContainers...), w.Pod.Containers...) {
			add(c.Image)
		}
		if pl.nsOf(n) != ns {
			continue
		}
		inTier = true
		if why := needsHost(w); why != "" {
			exempt = append(exempt, w.Name)
			pl.security(n, "admission", model.Approximated,
				fmt.Sprintf("exempt from the ai-lab admission guard because it %s; any pod labelled as this workload may do the same", why),
				"move the service out of the ai-lab tier (x-agops.tier) or drop what needs host access")
		}
	}
	if !inTier {
		return
	}
	g := model.AdmissionGuard{Name: "agops-" + namespaceName(pl.p.Name) + "-guard", Namespace: ns, DockerHub: hub, Exempt: exempt}
	for r := range registries {
		g.Registries = append(g.Registries, r)
	}
	sort.Strings(g.Registries)
	pl.guardsVAP = append(pl.guardsVAP, g)
	allowed := strings.Join(g.Registries, ", ")
	if hub {
		allowed += ", Docker Hub"
	}
	pl.record("", "namespaces."+ns, model.Mapped,
		fmt.Sprintf("ValidatingAdmissionPolicy %s: pods may not run privileged or use the host's network, PID, IPC, ports or paths; images only from %s; NetworkPolicies only from agops", g.Name, allowed),
		"add registries with --allowed-registry HOST")
}

// registryOf returns the registry host of an image reference, or false for Docker Hub's short names (postgres:17,
// qdrant/qdrant:v1): a first path element is a registry when it has a dot or a colon, or is localhost.
func registryOf(image string) (string, bool) {
	first, _, hasSlash := strings.Cut(image, "/")
	if !hasSlash {
		return "", false
	}
	if strings.ContainsAny(first, ".:") || first == "localhost" {
		if first == "docker.io" || first == "index.docker.io" {
			return "", false
		}
		return first, true
	}
	return "", false
}

// needsHost says what a workload needs that the admission guard forbids, or "".
func needsHost(w *model.Workload) string {
	var why []string
	p := w.Pod
	if p.HostNetwork || p.HostPID || p.HostIPC {
		why = append(why, "shares a host namespace")
	}
	for _, v := range p.Volumes {
		if v.HostPath != nil {
			why = append(why, "mounts "+v.HostPath.Path+" of the node")
			break
		}
	}
	for _, c := range append(append([]model.Container{}, p.InitContainers...), p.Containers...) {
		if c.Security.Privileged {
			why = append(why, "runs privileged")
			break
		}
	}
	return strings.Join(why, ", ")
}
