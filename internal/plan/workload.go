package plan

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/agops/agops/internal/model"
)

// ruleDependencies checks depends_on: every dependency must exist and there must be no cycle. It notes which
// services others wait on, so that ruleKinds can make completed-successfully targets Jobs.
func (pl *planner) ruleDependencies() {
	for _, n := range pl.order {
		for _, dep := range sortedKeys(pl.svcs[n].DependsOn) {
			d := pl.svcs[n].DependsOn[dep]
			if _, ok := pl.svcs[dep]; !ok {
				if _, disabled := pl.p.DisabledServices[dep]; disabled {
					if d.Required {
						pl.fail("service %q: depends_on: service %q is disabled by the selected profiles (enable its profile with --profile)", n, dep)
					}
					continue
				}
				pl.fail("service %q: depends_on: unknown service %q", n, dep)
				continue
			}
			switch d.Condition {
			case types.ServiceConditionCompletedSuccessfully:
				pl.completes[dep] = true
			case types.ServiceConditionHealthy:
				pl.healthy[dep] = true
			}
		}
	}
	if cycle := findCycle(pl.order, func(n string) []string { return sortedKeys(pl.svcs[n].DependsOn) }); cycle != nil {
		pl.fail("depends_on: dependency cycle: %s", strings.Join(cycle, " -> "))
	}
}

// findCycle returns one cycle of the graph (first node repeated at the end), or nil. It runs in linear time.
func findCycle(nodes []string, edges func(string) []string) []string {
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(string) []string
	visit = func(n string) []string {
		state[n] = active
		stack = append(stack, n)
		for _, m := range edges(n) {
			switch state[m] {
			case active:
				for i, s := range stack {
					if s == m {
						return append(append([]string{}, stack[i:]...), m)
					}
				}
			case unseen:
				if c := visit(m); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		return nil
	}
	for _, n := range nodes {
		if state[n] == unseen {
			if c := visit(n); c != nil {
				return c
			}
		}
	}
	return nil
}

// ruleKinds chooses the controller and the replica count of every pod-owning service.
func (pl *planner) ruleKinds() {
	for _, n := range pl.primaryServices() {
		s := pl.svcs[n]
		w := &model.Workload{Name: pl.names[n], Service: n, Replicas: 1}
		pl.work[n] = w
		w.Kind, w.BackoffLimit = pl.kindOf(n, s)
		w.Replicas = pl.replicasOf(n, s, w.Kind)
		w.Pod.RestartPolicy = "Always"
		if w.Kind == model.Job {
			w.Pod.RestartPolicy = "OnFailure"
			if w.BackoffLimit != nil && *w.BackoffLimit == 0 {
				w.Pod.RestartPolicy = "Never"
			}
		}
	}
	for n, owner := range pl.owner {
		pl.record(n, "network_mode", model.Mapped,
			fmt.Sprintf("shares the network namespace of %q: runs as a second container in its pod", owner), "")
	}
}

func (pl *planner) kindOf(n string, s types.ServiceConfig) (model.WorkloadKind, *int32) {
	if k := pl.hints[n].Kind; k != "" {
		pl.record(n, "x-agops.kind", model.Mapped, "workload kind set by hint: "+k, "")
		var backoff *int32
		if k == string(model.Job) {
			backoff = restartBackoff(s.Restart)
		}
		return model.WorkloadKind(k), backoff
	}
	if pl.isAgopsWorker(n) {
		pl.record(n, "x-agops.role", model.Mapped, "agent worker run by agops: a Deployment (the worker keeps no state of its own; its runs live in Temporal)", "")
		return model.Deployment, nil
	}
	if s.Deploy != nil && s.Deploy.Mode == "global" {
		pl.record(n, "deploy.mode", model.Mapped, "global: one pod per node, as a DaemonSet", "")
		return model.DaemonSet, nil
	}
	restart := s.Restart
	if s.Deploy != nil && s.Deploy.RestartPolicy != nil {
		restart = swarmRestart(s.Deploy.RestartPolicy)
	}
	switch {
	case pl.completes[n]:
		pl.record(n, "restart", model.Mapped, "peers wait for it to complete successfully: runs once as a Job", "")
		b := restartBackoff(restart)
		if b == nil {
			b = int32Ptr(6)
		}
		return model.Job, b
	case restart == types.RestartPolicyNo && s.Restart != "":
		pl.record(n, "restart", model.Mapped, `restart: "no": a one-shot task, run as a Job without retries`, "")
		return model.Job, int32Ptr(0)
	case strings.HasPrefix(restart, types.RestartPolicyOnFailure):
		b := restartBackoff(restart)
		pl.record(n, "restart", model.Mapped, fmt.Sprintf("%s: runs as a Job retried up to %d times", restart, *b), "")
		return model.Job, b
	}
	if restart != "" {
		pl.record(n, "restart", model.Mapped, restart+": Kubernetes restarts the container whenever it stops", "")
	}
	if pl.writesNamedVolume(s) {
		return model.StatefulSet, nil
	}
	return model.Deployment, nil
}

// swarmRestart turns deploy.restart_policy into the service-level restart syntax.
func swarmRestart(rp *types.RestartPolicy) string {
	switch rp.Condition {
	case "none":
		return types.RestartPolicyNo
	case "on-failure":
		if rp.MaxAttempts != nil {
			return fmt.Sprintf("on-failure:%d", *rp.MaxAttempts)
		}
		return types.RestartPolicyOnFailure
	}
	return types.RestartPolicyAlways
}

// restartBackoff reads the N of on-failure:N; plain on-failure retries six times (the Job default).
func restartBackoff(restart string) *int32 {
	if restart == types.RestartPolicyNo {
		return int32Ptr(0)
	}
	rest, ok := strings.CutPrefix(restart, types.RestartPolicyOnFailure)
	if !ok {
		return nil
	}
	if n, err := strconv.Atoi(strings.TrimPrefix(rest, ":")); err == nil && n >= 0 {
		return int32Ptr(int32(min(n, 1<<20)))
	}
	return int32Ptr(6)
}

// writesNamedVolume tells whether a service mounts a named (non-external) volume read-write.
func (pl *planner) writesNamedVolume(s types.ServiceConfig) bool {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Source != "" && !v.ReadOnly {
			return true
		}
	}
	return false
}

func (pl *planner) replicasOf(n string, s types.ServiceConfig, kind model.WorkloadKind) int32 {
	switch {
	case kind == model.Job || kind == model.DaemonSet:
		return 1
	case pl.hints[n].Replicas != nil:
		pl.record(n, "x-agops.replicas", model.Mapped, fmt.Sprintf("%d replicas by hint", *pl.hints[n].Replicas), "")
		return *pl.hints[n].Replicas
	case s.Deploy != nil && s.Deploy.Replicas != nil:
		pl.record(n, "deploy.replicas", model.Mapped, fmt.Sprintf("%d replicas", *s.Deploy.Replicas), "")
		return int32(min(*s.Deploy.Replicas, 1<<20))
	case s.Scale != nil:
		pl.record(n, "scale", model.Mapped, fmt.Sprintf("%d replicas", *s.Scale), "")
		return int32(min(*s.Scale, 1<<20))
	}
	return 1
}

func int32Ptr(v int32) *int32 { return &v }
func int64Ptr(v int64) *int64 { return &v }
func boolPtr(v bool) *bool    { return &v }
