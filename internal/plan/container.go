package plan

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/agops/agops/internal/model"
)

// ruleContainers builds each service's container: image, entrypoint and command, working directory, ports,
// terminal flags and lifecycle hooks. Services with network_mode service:X join X's pod as a second container.
func (pl *planner) ruleContainers() {
	for _, n := range pl.order {
		w := pl.workloadOf(n)
		if w == nil {
			continue
		}
		s := pl.svcs[n]
		c := model.Container{Name: pl.names[n], WorkingDir: s.WorkingDir, Stdin: s.StdinOpen, TTY: s.Tty}
		if pl.isAgopsWorker(n) {
			pl.workerContainer(n, s, &c)
		} else {
			c.Image = pl.imageOf(n, s)
			pl.commandOf(n, s, &c)
			pl.hooks(n, s, &c)
		}
		c.PullPolicy = pl.pullPolicy(n, s)
		for _, p := range pl.ports[n] {
			c.Ports = append(c.Ports, model.Port{Name: portName(p), Port: p.port, Protocol: p.proto})
		}
		w.Pod.Containers = append(w.Pod.Containers, c)
		pl.primary[n] = &w.Pod.Containers[len(w.Pod.Containers)-1]
		if c.WorkingDir != "" {
			pl.record(n, "working_dir", model.Mapped, "container workingDir", "")
		}
		if s.StdinOpen || s.Tty {
			pl.record(n, "stdin_open/tty", model.Mapped, "container stdin and tty", "")
		}
	}
	// Containers were appended while pointers were taken: take them again now that each pod is complete.
	for _, n := range pl.order {
		w := pl.workloadOf(n)
		if w == nil {
			continue
		}
		for i := range w.Pod.Containers {
			if w.Pod.Containers[i].Name == pl.names[n] {
				pl.primary[n] = &w.Pod.Containers[i]
			}
		}
	}
}

// portName names a container port "tcp-5432"; Kubernetes port names are at most 15 characters.
func portName(p portInfo) string {
	return fmt.Sprintf("%s-%d", strings.ToLower(string(p.proto)), p.port)
}

func (pl *planner) imageOf(n string, s types.ServiceConfig) string {
	switch {
	case s.Image != "" && s.Build != nil:
		pl.record(n, "build", model.Approximated,
			fmt.Sprintf("Kubernetes does not build images: build %s and push it where the cluster pulls from", s.Image),
			fmt.Sprintf("docker compose build %s && docker compose push %s", n, n))
		pl.record(n, "image", model.Mapped, "container image "+s.Image, "")
		return s.Image
	case s.Image != "":
		pl.record(n, "image", model.Mapped, "container image "+s.Image, "")
		return s.Image
	case s.Build != nil:
		img := fmt.Sprintf("%s/%s-%s:latest", strings.TrimSuffix(pl.opts.Registry, "/"), dns1035(pl.p.Name), pl.names[n])
		ctx := s.Build.Context
		if rel, err := filepath.Rel(pl.p.WorkingDir, ctx); err == nil && !strings.HasPrefix(rel, "..") {
			ctx = "./" + filepath.ToSlash(rel)
		}
		pl.record(n, "build", model.Approximated,
			fmt.Sprintf("no image: given; the image is named %s, which you must build from %s and push", img, ctx),
			fmt.Sprintf("docker build -t %s %s && docker push %s (or set image: and --registry)", img, ctx, img))
		return img
	}
	pl.fail("service %q: has neither image nor build", n)
	return ""
}

// commandOf maps entrypoint to command and command to args; compose-go has already split strings like a shell.
func (pl *planner) commandOf(n string, s types.ServiceConfig, c *model.Container) {
	if s.Entrypoint != nil {
		c.Command = pl.rewriteArgs(n, "entrypoint", s.Entrypoint)
		if len(c.Command) == 0 {
			pl.record(n, "entrypoint", model.Approximated, "an empty entrypoint clears the image's; Kubernetes cannot clear it, the image's entrypoint stays", "")
		} else {
			pl.record(n, "entrypoint", model.Mapped, "container command", "")
		}
	}
	if s.Command != nil {
		c.Args = pl.rewriteArgs(n, "command", s.Command)
		pl.record(n, "command", model.Mapped, "container args", "")
	}
}

func (pl *planner) rewriteArgs(n, key string, args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if v, changed := pl.rewriteHosts(a); changed {
			pl.record(n, key, model.Approximated, "references to renamed peers rewritten", "")
			a = v
		}
		// Kubernetes expands $(VAR) in command and args; Compose does not. Escape it so the shell sees it.
		out[i] = strings.ReplaceAll(a, "$(", "$$(")
	}
	return out
}

func (pl *planner) pullPolicy(n string, s types.ServiceConfig) string {
	switch s.PullPolicy {
	case "":
		return ""
	case types.PullPolicyAlways, types.PullPolicyRefresh:
		pl.record(n, "pull_policy", model.Mapped, "imagePullPolicy Always", "")
		return "Always"
	case types.PullPolicyNever:
		pl.record(n, "pull_policy", model.Mapped, "imagePullPolicy Never: the image must be on every node", "")
		return "Never"
	case types.PullPolicyMissing, types.PullPolicyIfNotPresent:
		pl.record(n, "pull_policy", model.Mapped, "imagePullPolicy IfNotPresent", "")
		return "IfNotPresent"
	}
	pl.record(n, "pull_policy", model.Approximated, s.PullPolicy+": no Kubernetes equivalent, IfNotPresent used", "")
	return "IfNotPresent"
}

// hooks maps post_start and pre_stop to container lifecycle hooks (the first hook of each; Kubernetes has one).
func (pl *planner) hooks(n string, s types.ServiceConfig, c *model.Container) {
	if len(s.PostStart) > 0 {
		c.PostStart = s.PostStart[0].Command
		pl.record(n, "post_start", model.Approximated,
			"lifecycle postStart exec in the same container; its user, privileged and environment options are not applied", "")
	}
	if len(s.PreStop) > 0 {
		c.PreStop = s.PreStop[0].Command
		pl.record(n, "pre_stop", model.Approximated,
			"lifecycle preStop exec in the same container; its user, privileged and environment options are not applied", "")
	}
}
