package plan

import (
	"fmt"
	"sort"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/agops/agops/internal/model"
)

// helperUID is the non-root user of the agops helper image.
const helperUID = 65532

// ruleWaits keeps Compose's start order: service_healthy becomes an init container that waits for a ready endpoint
// of the dependency's Service, service_completed_successfully one that waits for its Job to complete. The waiting
// is done by `agops wait` in the helper image; only the init container gets an API token.
func (pl *planner) ruleWaits() {
	waits := false
	for _, n := range pl.order {
		w := pl.workloadOf(n)
		if w == nil {
			continue
		}
		for _, dep := range sortedKeys(pl.svcs[n].DependsOn) {
			pl.wait(n, dep, pl.svcs[n].DependsOn[dep], w)
		}
		waits = waits || w.APIAccess
	}
	if waits {
		pl.record("", "depends_on", model.Approximated,
			fmt.Sprintf("init containers run `agops wait` from the helper image %s, which must be pullable by the cluster", pl.opts.HelperImage),
			fmt.Sprintf("agops image push %s (or --helper-image REF for an image you pushed)", pl.opts.HelperImage))
	}
}

func (pl *planner) wait(n, dep string, d types.ServiceDependency, w *model.Workload) {
	key := "depends_on." + dep
	depWork := pl.workloadOf(dep)
	switch {
	case depWork == nil:
		pl.record(n, key, model.Dropped, "the dependency is not part of the selected profiles and is optional", "")
		return
	case depWork == w:
		pl.record(n, key, model.Mapped, "both run in the same pod and start together", "")
		return
	case !d.Required:
		pl.record(n, key, model.Mapped, "optional dependency (required: false): no wait", "")
		return
	}
	if d.Restart {
		pl.record(n, key+".restart", model.Dropped, "Kubernetes does not restart dependents when a dependency restarts", "")
	}
	switch {
	case d.Condition == types.ServiceConditionCompletedSuccessfully && depWork.Kind != model.Job:
		pl.record(n, key, model.NeedsInput, fmt.Sprintf("waits for %s to complete, but it runs as a %s, which never completes", dep, depWork.Kind),
			fmt.Sprintf("remove x-agops.kind from %s, or change the condition", dep))
	case d.Condition == types.ServiceConditionCompletedSuccessfully:
		pl.addWait(w, "job", depWork.Name, pl.nsOf(n), pl.nsOf(dep))
		pl.record(n, key, model.Mapped, fmt.Sprintf("init container waits until Job %s completes (agops wait job)", depWork.Name), "")
	case d.Condition == types.ServiceConditionHealthy && depWork.Kind == model.Job:
		pl.addWait(w, "job", depWork.Name, pl.nsOf(n), pl.nsOf(dep))
		pl.record(n, key, model.Approximated, fmt.Sprintf("%s is a one-shot Job: the init container waits until it completes", dep), "")
	case d.Condition == types.ServiceConditionHealthy:
		pl.addWait(w, "service", depWork.Name, pl.nsOf(n), pl.nsOf(dep))
		reason := fmt.Sprintf("init container waits until Service %s has a ready endpoint (agops wait service)", depWork.Name)
		if hc := pl.svcs[dep].HealthCheck; hc == nil || hc.Disable {
			pl.record(n, key, model.Approximated, reason+"; the dependency has no healthcheck, so ready means its readiness probe passed", "")
		} else {
			pl.record(n, key, model.Mapped, reason, "")
		}
	default:
		pl.record(n, key, model.Approximated, "service_started: pods start without waiting; the service must retry its connections, as it must on any restart", "")
	}
}

// addWait adds an init container that waits for target in namespace targetNS; own is the waiting pod's namespace.
func (pl *planner) addWait(w *model.Workload, what, target, own, targetNS string) {
	name := dns1035("wait-" + target)
	for _, c := range w.Pod.InitContainers {
		if c.Name == name {
			return
		}
	}
	w.APIAccess = true
	w.WaitsIn = appendUnique(w.WaitsIn, targetNS)
	sort.Strings(w.WaitsIn)
	args := []string{"wait", what, target, "--timeout", "30m"}
	if targetNS != own {
		args = append(args, "--namespace", targetNS)
	}
	w.Pod.InitContainers = append(w.Pod.InitContainers, model.Container{
		Name:  name,
		Image: pl.opts.HelperImage,
		Args:  args,
		Resources: model.Resources{
			Requests: map[string]string{"cpu": "10m", "memory": "32Mi"},
			Limits:   map[string]string{"memory": "64Mi"},
		},
		Security: helperSecurity(),
		Mounts:   []model.Mount{{Volume: tokenVolume, Path: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}},
	})
	if !hasVolume(w, tokenVolume) {
		w.Pod.Volumes = append(w.Pod.Volumes, model.Volume{Name: tokenVolume, ServiceAccountToken: true})
	}
	if what == "service" {
		pl.waitedServices[target] = true
	}
}

const tokenVolume = "agops-wait-token"

// helperSecurity is the security context of the helper image's containers: its own non-root user, nothing more.
func helperSecurity() model.Security {
	uid := int64(helperUID)
	return model.Security{
		RunAsUser: &uid, RunAsGroup: &uid, RunAsNonRoot: boolPtr(true), ReadOnlyRootFilesystem: true,
		AllowPrivilegeEscalation: boolPtr(false), CapDrop: []string{"ALL"}, Seccomp: "RuntimeDefault",
	}
}

func hasVolume(w *model.Workload, name string) bool {
	for _, v := range w.Pod.Volumes {
		if v.Name == name {
			return true
		}
	}
	return false
}
