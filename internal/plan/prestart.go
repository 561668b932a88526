package plan

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/agops/agops/internal/model"
)

// rulePreStart runs Compose pre_start hooks as init containers, after the waits for dependencies, as Compose runs
// them once dependencies are satisfied and before the service starts. compose-go has already merged the service's
// container specification into each hook (image, user, environment, ...; not volumes), so an init container starts
// as a copy of the service's container — its environment from the same ConfigMap and Secret, its security context,
// its resources — and takes what the hook sets differently: image, entrypoint, command, user, working directory,
// variables and volumes.
func (pl *planner) rulePreStart() {
	for _, n := range pl.order {
		s, c, w := pl.svcs[n], pl.primary[n], pl.workloadOf(n)
		if len(s.PreStart) == 0 || c == nil || w == nil {
			continue
		}
		for i, h := range s.PreStart {
			key := fmt.Sprintf("pre_start[%d]", i)
			ic, notes, ok := pl.preStartContainer(n, s, c, h)
			if !ok {
				continue
			}
			ic.Name = pl.initName(w, fmt.Sprintf("pre-start-%d", i))
			w.Pod.InitContainers = append(w.Pod.InitContainers, ic)
			outcome := model.Mapped
			reason := fmt.Sprintf("init container %s (image %s) runs to completion before the service starts, after its waits", ic.Name, ic.Image)
			hint := ""
			if !h.PerReplica && max(w.Replicas, w.HAReplicas) > 1 {
				outcome = model.Approximated
				notes = append(notes, "it runs in every pod, not once per service: make it safe to repeat")
				hint = "set per_replica: true in Compose to say so, or move a once-only step into a Job"
			}
			if len(notes) > 0 {
				outcome = model.Approximated
				reason += "; " + strings.Join(notes, "; ")
			}
			pl.record(n, key, outcome, reason, hint)
		}
	}
}

// preStartContainer makes one hook's init container from the service's container c.
func (pl *planner) preStartContainer(n string, s types.ServiceConfig, c *model.Container, h types.PreStartHook) (model.Container, []string, bool) {
	ic := model.Container{
		Image: c.Image, PullPolicy: c.PullPolicy, Command: slices.Clone(c.Command), Args: slices.Clone(c.Args),
		WorkingDir: c.WorkingDir, EnvFrom: slices.Clone(c.EnvFrom), Env: slices.Clone(c.Env),
		Resources: model.Resources{Requests: maps.Clone(c.Resources.Requests), Limits: maps.Clone(c.Resources.Limits)},
		Security:  c.Security,
	}
	var notes []string
	if h.Image != "" && h.Image != s.Image {
		ic.Image = h.Image
	}
	if !slices.Equal(h.Entrypoint, s.Entrypoint) {
		ic.Command = pl.rewriteArgs(n, "pre_start", h.Entrypoint)
	}
	if !slices.Equal(h.Command, s.Command) {
		ic.Args = pl.rewriteArgs(n, "pre_start", h.Command)
	}
	if h.WorkingDir != s.WorkingDir {
		ic.WorkingDir = h.WorkingDir
	}
	if h.User != s.User {
		uid, gid, ok := numericUser(h.User)
		if !ok {
			pl.record(n, "pre_start", model.NeedsInput, fmt.Sprintf("the hook's user %q is a name; Kubernetes needs numeric ids", h.User),
				`set user: "UID:GID" on the hook`)
			return ic, nil, false
		}
		ic.Security.RunAsUser, ic.Security.RunAsGroup = uid, gid
		if *uid == 0 {
			ic.Security.RunAsNonRoot = nil
		}
	}
	if h.Privileged && !s.Privileged {
		notes = append(notes, "privileged: not carried over (the pod's security level stays)")
	}
	for _, k := range sortedKeys(h.Environment) {
		v := h.Environment[k]
		if sv, inherited := s.Environment[k]; inherited && equalPtr(v, sv) {
			continue
		}
		if v == nil {
			continue
		}
		if isCredential(k, *v) {
			pl.record(n, "pre_start", model.NeedsInput, fmt.Sprintf("the hook sets credential %s itself; it is not written to the output", k),
				"set it in the service's environment, which the hook inherits")
			continue
		}
		ic.Env = slices.DeleteFunc(ic.Env, func(e model.EnvVar) bool { return e.Name == k })
		ic.Env = append(ic.Env, model.EnvVar{Name: k, Value: *v})
	}
	for _, v := range h.Volumes {
		if m, ok := serviceMountFor(s, c, v); ok {
			ic.Mounts = append(ic.Mounts, m)
			continue
		}
		notes = append(notes, fmt.Sprintf("volume %s:%s is not one the service mounts, so the hook does not get it", v.Source, v.Target))
	}
	return ic, notes, true
}

// serviceMountFor finds the service's mount of the hook volume's source and mounts it at the hook's target.
func serviceMountFor(s types.ServiceConfig, c *model.Container, v types.ServiceVolumeConfig) (model.Mount, bool) {
	for _, sv := range s.Volumes {
		if sv.Source != v.Source || sv.Source == "" {
			continue
		}
		for _, m := range c.Mounts {
			if m.Path == sv.Target {
				m.Path, m.ReadOnly = v.Target, m.ReadOnly || v.ReadOnly
				return m, true
			}
		}
	}
	return model.Mount{}, false
}

// initName is a name for an init container not yet taken in the pod.
func (pl *planner) initName(w *model.Workload, name string) string {
	taken := func(s string) bool {
		return slices.ContainsFunc(w.Pod.InitContainers, func(c model.Container) bool { return c.Name == s }) ||
			slices.ContainsFunc(w.Pod.Containers, func(c model.Container) bool { return c.Name == s })
	}
	out := name
	for i := 2; taken(out); i++ {
		out = fmt.Sprintf("%s-%d", name, i)
	}
	return out
}

func equalPtr(a, b *string) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}
