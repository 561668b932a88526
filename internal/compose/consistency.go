package compose

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// checkConsistency refuses what `docker compose` refuses after loading (compose-go's consistency pass), so that
// agops does not convert a file docker compose would not run. Load turns that pass off because its dependency-cycle
// search is quadratic in a depends_on chain and exponential in a lattice; this does the same checks in linear time,
// except the ones plan makes itself with service and key (image or build, depends_on, network_mode service:, named
// volumes, secrets, configs, cycles). Every problem is returned, one line each, in service-name order.
func checkConsistency(p *types.Project) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		for _, check := range []func(*types.Project, types.ServiceConfig) []string{
			checkBuild, checkReferences, checkHealthcheck, checkScale, checkResources, checkMounts, checkWatch,
		} {
			for _, msg := range check(p, s) {
				errs = append(errs, fmt.Errorf("service %q: %s", name, msg))
			}
		}
	}
	jobs := p.AllJobs()
	for _, name := range slices.Sorted(maps.Keys(jobs)) {
		if _, ok := p.Services[name]; ok {
			errs = append(errs, fmt.Errorf("%q is declared both as a service and a job: names must be unique", name))
		} else if _, ok := p.DisabledServices[name]; ok {
			errs = append(errs, fmt.Errorf("%q is declared both as a service and a job: names must be unique", name))
		}
		if _, enabled := p.Jobs[name]; !enabled {
			continue
		}
		for _, dep := range slices.Sorted(maps.Keys(jobs[name].DependsOn)) {
			if _, ok := p.Jobs[dep]; ok {
				continue
			}
			if _, ok := p.Services[dep]; ok {
				continue
			}
			if _, disabled := p.DisabledServices[dep]; disabled && !jobs[name].DependsOn[dep].Required {
				continue
			}
			errs = append(errs, fmt.Errorf("job %q: depends_on: unknown service or job %q", name, dep))
		}
	}
	return errors.Join(errs...)
}

func checkBuild(p *types.Project, s types.ServiceConfig) []string {
	b := s.Build
	if b == nil {
		return nil
	}
	var out []string
	if b.DockerfileInline != "" && b.Dockerfile != "" {
		out = append(out, "build: dockerfile and dockerfile_inline are mutually exclusive")
	}
	for _, key := range slices.Sorted(maps.Keys(b.AdditionalContexts)) {
		target, ok := strings.CutPrefix(b.AdditionalContexts[key], types.ServicePrefix)
		if !ok {
			continue
		}
		t, found := p.Services[target]
		if !found {
			t, found = p.DisabledServices[target]
		}
		switch {
		case !found:
			out = append(out, fmt.Sprintf("build.additional_contexts.%s: unknown service %q", key, target))
		case t.Build == nil:
			out = append(out, fmt.Sprintf("build.additional_contexts.%s: service %q has no build", key, target))
		}
	}
	if len(b.Platforms) > 0 && s.Platform != "" && !slices.Contains(b.Platforms, s.Platform) {
		out = append(out, fmt.Sprintf("build.platforms must include platform %q", s.Platform))
	}
	for _, sec := range b.Secrets {
		if _, ok := p.Secrets[sec.Source]; !ok {
			out = append(out, fmt.Sprintf("build.secrets: unknown secret %q (declare it under top-level secrets:)", sec.Source))
		}
	}
	return out
}

func checkReferences(p *types.Project, s types.ServiceConfig) []string {
	var out []string
	for _, m := range slices.Sorted(maps.Keys(s.Models)) {
		if _, ok := p.Models[m]; !ok {
			out = append(out, fmt.Sprintf("models: unknown model %q (declare it under top-level models:)", m))
		}
	}
	if s.NetworkMode != "" && len(s.Networks) > 0 {
		// compose-go adds the implicit default network only to services without network_mode: one check is enough.
		return append(out, "network_mode and networks are mutually exclusive")
	}
	for _, n := range slices.Sorted(maps.Keys(s.Networks)) {
		if _, ok := p.Networks[n]; !ok {
			out = append(out, fmt.Sprintf("networks: unknown network %q (declare it under top-level networks:)", n))
		}
	}
	return out
}

func checkHealthcheck(_ *types.Project, s types.ServiceConfig) []string {
	if hc := s.HealthCheck; hc != nil && len(hc.Test) > 0 {
		switch hc.Test[0] {
		case "CMD", "CMD-SHELL", "NONE":
		default:
			return []string{fmt.Sprintf("healthcheck.test: must start with CMD, CMD-SHELL or NONE, not %q", hc.Test[0])}
		}
	}
	return nil
}

func checkScale(_ *types.Project, s types.ServiceConfig) []string {
	var out []string
	var replicas *int
	if s.Deploy != nil {
		replicas = s.Deploy.Replicas
	}
	if s.Scale != nil && replicas != nil && *s.Scale != *replicas {
		out = append(out, fmt.Sprintf("scale (%d) and deploy.replicas (%d) differ", *s.Scale, *replicas))
	}
	if s.Scale != nil && *s.Scale < 0 {
		out = append(out, "scale: must be 0 or more")
	}
	if replicas != nil && *replicas < 0 {
		out = append(out, "deploy.replicas: must be 0 or more")
	}
	if scale := s.GetScale(); scale > 1 && s.ContainerName != "" {
		out = append(out, fmt.Sprintf("container_name %q cannot be set with %d replicas: a container name must be unique", s.ContainerName, scale))
	}
	return out
}

func checkResources(_ *types.Project, s types.ServiceConfig) []string {
	if s.Deploy == nil {
		return nil
	}
	lim, res := s.Deploy.Resources.Limits, s.Deploy.Resources.Reservations
	var out []string
	if s.CPUS != 0 && lim != nil && lim.NanoCPUs.Value() != s.CPUS {
		out = append(out, "cpus and deploy.resources.limits.cpus differ")
	}
	if s.MemLimit != 0 && lim != nil && lim.MemoryBytes != s.MemLimit {
		out = append(out, "mem_limit and deploy.resources.limits.memory differ")
	}
	if s.MemReservation != 0 && res != nil && res.MemoryBytes != s.MemReservation {
		out = append(out, "mem_reservation and deploy.resources.reservations.memory differ")
	}
	if s.PidsLimit != 0 && lim != nil && lim.Pids != s.PidsLimit {
		out = append(out, "pids_limit and deploy.resources.limits.pids differ")
	}
	return out
}

func checkMounts(_ *types.Project, s types.ServiceConfig) []string {
	var out []string
	seen := map[string]string{}
	mount := func(target, key string) {
		if prev, ok := seen[target]; ok {
			out = append(out, fmt.Sprintf("%s: %s is already mounted by %s", key, target, prev))
			return
		}
		seen[target] = key
	}
	for i, t := range s.Tmpfs {
		path, _, _ := strings.Cut(t, ":")
		mount(path, fmt.Sprintf("tmpfs[%d]", i))
	}
	for i, v := range s.Volumes {
		mount(v.Target, fmt.Sprintf("volumes[%d]", i))
	}
	return out
}

func checkWatch(_ *types.Project, s types.ServiceConfig) []string {
	if s.Develop == nil {
		return nil
	}
	var out []string
	for i, w := range s.Develop.Watch {
		if w.Target == "" && w.Action != types.WatchActionRebuild && w.Action != types.WatchActionRestart {
			out = append(out, fmt.Sprintf("develop.watch[%d]: target is required for action %s", i, w.Action))
		}
	}
	return out
}
