package check

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// container is one container of a pod template, init containers included.
type container struct {
	*corev1.Container
	init bool
}

// label names the container in a message: "container api" or "init container wait-postgres".
func (c container) label() string {
	if c.init {
		return "init container " + c.Name
	}
	return "container " + c.Name
}

func containersOf(spec *corev1.PodSpec) []container {
	var out []container
	for i := range spec.InitContainers {
		out = append(out, container{&spec.InitContainers[i], true})
	}
	for i := range spec.Containers {
		out = append(out, container{&spec.Containers[i], false})
	}
	return out
}

// eachContainer calls fn for every container of every workload and gathers the findings.
func eachContainer(inv *inventory, fn func(w *workload, c container) []Finding) []Finding {
	var out []Finding
	for _, w := range inv.workloads {
		for _, c := range containersOf(w.spec) {
			out = append(out, fn(w, c)...)
		}
	}
	return out
}

// splitImage finds the tag and digest of an image reference; a port of the registry host is not a tag.
func splitImage(image string) (name, tag, digest string) {
	name = image
	if i := strings.Index(name, "@"); i >= 0 {
		name, digest = name[:i], name[i+1:]
	}
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name, tag = name[:i], name[i+1:]
	}
	return name, tag, digest
}

// helperImage tells agops's own init-container image, which --helper-image sets, from the services' images.
func helperImage(name string) bool {
	return name == "agops/agops" || strings.HasSuffix(name, "/agops/agops")
}

func checkImages(inv *inventory) []Finding {
	return eachContainer(inv, func(w *workload, c container) []Finding {
		if c.Image == "" {
			return nil
		}
		name, tag, digest := splitImage(c.Image)
		switch {
		case digest != "":
			return nil
		case tag == "" || tag == "latest":
			detail := fmt.Sprintf("uses image %s without a tag, so every pull may bring a different image", c.Image)
			if tag != "" {
				detail = fmt.Sprintf("uses image %s, a tag that moves with every release", c.Image)
			}
			f := containerFinding(ruleImageLatest, w, c, detail)
			f.Fix = fmt.Sprintf("pin the image tag in compose.yaml (image: %s:<version>)", name)
			return []Finding{f}
		default:
			f := containerFinding(ruleImageNotPinned, w, c, fmt.Sprintf("uses image %s by tag only; a tag can be pushed again", c.Image))
			f.Fix = fmt.Sprintf("pin the digest in compose.yaml (image: %s@sha256:...)", c.Image)
			if helperImage(name) {
				f.Fix = fmt.Sprintf("give agops migrate a digest-pinned helper: --helper-image %s@sha256:...", c.Image)
			}
			return []Finding{f}
		}
	})
}

// defaults are what LimitRanges of a namespace fill in for containers that set nothing.
type defaults struct{ request, limit corev1.ResourceList }

func (inv *inventory) defaultsIn(ns string) defaults {
	d := defaults{request: corev1.ResourceList{}, limit: corev1.ResourceList{}}
	for _, lr := range inv.limitRanges {
		if lr.Namespace != ns {
			continue
		}
		for _, item := range lr.Spec.Limits {
			if item.Type != corev1.LimitTypeContainer {
				continue
			}
			for k, v := range item.DefaultRequest {
				d.request[k] = v
			}
			for k, v := range item.Default {
				d.limit[k] = v
			}
		}
	}
	return d
}

// has tells whether a non-zero quantity is set in one of the lists.
func has(name corev1.ResourceName, lists ...corev1.ResourceList) bool {
	for _, l := range lists {
		if q, ok := l[name]; ok && !q.IsZero() {
			return true
		}
	}
	return false
}

func checkResources(inv *inventory) []Finding {
	return eachContainer(inv, func(w *workload, c container) []Finding {
		d := inv.defaultsIn(w.ref.Namespace)
		r := c.Resources
		var missing []string
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			// An unset request defaults to the limit.
			if !has(name, r.Requests, r.Limits, d.request, d.limit) {
				missing = append(missing, string(name))
			}
		}
		var out []Finding
		if len(missing) > 0 {
			out = append(out, containerFinding(ruleRequestsMissing, w, c, fmt.Sprintf("has no %s request, so the scheduler cannot place it by need", strings.Join(missing, " or "))))
		}
		if !has(corev1.ResourceMemory, r.Limits, d.limit) {
			out = append(out, containerFinding(ruleMemoryLimitMissing, w, c, "has no memory limit, so a leak can starve the node"))
		}
		return out
	})
}

func checkProbes(inv *inventory) []Finding {
	return eachContainer(inv, func(w *workload, c container) []Finding {
		if c.init || !w.longRunning() {
			return nil
		}
		var out []Finding
		if c.ReadinessProbe == nil {
			out = append(out, containerFinding(ruleReadinessMissing, w, c, "has no readiness probe, so it gets traffic and counts as ready before it is"))
		}
		if c.LivenessProbe == nil {
			out = append(out, containerFinding(ruleLivenessMissing, w, c, "has no liveness probe, so a hung process is never restarted"))
		}
		return out
	})
}
