package plan

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/agops/agops/internal/model"
)

// Extended resources of accelerators.
const (
	nvidiaGPU      = "nvidia.com/gpu"
	amdGPU         = "amd.com/gpu"
	npuPlaceholder = "agops.dev/npu"
)

// heavyImages get larger default resources: model servers and search engines that need memory to start.
var heavyImages = map[string]bool{
	"ollama": true, "vllm-openai": true, "llama.cpp": true, "localai": true, "text-embeddings-inference": true,
	"milvus": true, "elasticsearch": true, "opensearch": true, "weaviate": true, "clickhouse-server": true,
}

// ruleResources maps CPU and memory limits and reservations, and accelerators (GPU reservations, gpus:,
// runtime: nvidia, /dev/kfd, /dev/dri, /dev/accel) to extended resources. Services without resources get
// defaults, recorded as such.
func (pl *planner) ruleResources() {
	for _, n := range pl.order {
		c := pl.primary[n]
		if c == nil {
			continue
		}
		s := pl.svcs[n]
		c.Resources = model.Resources{Requests: map[string]string{}, Limits: map[string]string{}}
		pl.cpuMemory(n, s, c)
		pl.accelerators(n, s, c)
		if len(c.Resources.Requests) == 0 {
			c.Resources.Requests = nil
		}
		if len(c.Resources.Limits) == 0 {
			c.Resources.Limits = nil
		}
	}
}

func (pl *planner) cpuMemory(n string, s types.ServiceConfig, c *model.Container) {
	req, lim := c.Resources.Requests, c.Resources.Limits
	set := false
	if s.Deploy != nil {
		if l := s.Deploy.Resources.Limits; l != nil {
			set = setCPUMem(lim, float64(l.NanoCPUs), int64(l.MemoryBytes)) || set
			if l.Pids > 0 {
				pl.record(n, "deploy.resources.limits.pids", model.Dropped, "per-pod PID limits are a kubelet setting (podPidsLimit)", "")
			}
		}
		if r := s.Deploy.Resources.Reservations; r != nil {
			set = setCPUMem(req, float64(r.NanoCPUs), int64(r.MemoryBytes)) || set
		}
	}
	set = setCPUMem(lim, float64(s.CPUS), int64(s.MemLimit)) || set
	set = setCPUMem(req, 0, int64(s.MemReservation)) || set
	for _, k := range []struct {
		key, what string
		set       bool
	}{{"cpus", "CPU limit", s.CPUS > 0}, {"mem_limit", "memory limit", s.MemLimit > 0}, {"mem_reservation", "memory request", s.MemReservation > 0}} {
		if k.set {
			pl.record(n, k.key, model.Mapped, k.what, "")
		}
	}
	if set {
		// Kubernetes defaults requests to limits; say so explicitly so the output reads the same everywhere.
		for k, v := range lim {
			if _, ok := req[k]; !ok {
				req[k] = v
			}
		}
		pl.record(n, "deploy.resources", model.Mapped, fmt.Sprintf("requests %s, limits %s", formatResources(req), formatResources(lim)), "")
		return
	}
	cpu, mem, memLimit := "100m", "128Mi", "512Mi"
	if heavyImages[imageBase(s.Image)] {
		cpu, mem, memLimit = "1", "4Gi", "16Gi"
	}
	req["cpu"], req["memory"], lim["memory"] = cpu, mem, memLimit
	pl.record(n, "default:resources", model.Approximated,
		fmt.Sprintf("Compose sets no resources; defaults: requests cpu %s, memory %s; memory limit %s; no CPU limit (it would throttle)", cpu, mem, memLimit),
		"measure the service and set deploy.resources.limits and reservations")
}

// setCPUMem writes cpu (in Compose's cpus, here as a float of cores) and memory (bytes) when positive.
func setCPUMem(m map[string]string, cpus float64, mem int64) bool {
	set := false
	if cpus > 0 {
		m["cpu"] = fmt.Sprintf("%dm", int64(cpus*1000+0.5))
		if int64(cpus*1000+0.5)%1000 == 0 {
			m["cpu"] = strconv.FormatInt(int64(cpus+0.5), 10)
		}
		set = true
	}
	if mem > 0 {
		m["memory"] = quantityBytes(mem)
		set = true
	}
	return set
}

func formatResources(m map[string]string) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, " ")
}

func (pl *planner) accelerators(n string, s types.ServiceConfig, c *model.Container) {
	w := pl.workloadOf(n)
	if s.Deploy != nil && s.Deploy.Resources.Reservations != nil {
		for i, d := range s.Deploy.Resources.Reservations.Devices {
			pl.deviceRequest(n, fmt.Sprintf("devices[%d]", i), d, c, w)
		}
	}
	// gpus: is Docker's --gpus: a request for GPUs whatever capabilities it lists (`gpus: all` lists none).
	for i, d := range s.Gpus {
		if !hasCapability(d, "gpu") {
			d.Capabilities = append(slices.Clone(d.Capabilities), "gpu")
		}
		pl.deviceRequest(n, fmt.Sprintf("gpus[%d]", i), d, c, w)
	}
	pl.deviceMappings(n, s, c, w)
	if s.Runtime == "nvidia" {
		w.Pod.RuntimeClass = "nvidia"
		if _, ok := c.Resources.Limits[nvidiaGPU]; !ok {
			setAccel(c, nvidiaGPU, 1)
			addGPUToleration(w, nvidiaGPU)
			pl.record(n, "runtime", model.Approximated, "runtime: nvidia exposes every GPU of the host; the pod asks for 1 nvidia.com/gpu and uses RuntimeClass nvidia",
				"reserve GPUs explicitly: deploy.resources.reservations.devices with count")
		} else {
			pl.record(n, "runtime", model.Mapped, "RuntimeClass nvidia", "")
		}
	} else if s.Runtime != "" {
		w.Pod.RuntimeClass = runtimeHandler(s.Runtime)
		pl.record(n, "runtime", model.Approximated,
			fmt.Sprintf("runtime %s: RuntimeClass %s (handler %s, as k3s names containerd's runtimes); the nodes must have it", s.Runtime, w.Pod.RuntimeClass, w.Pod.RuntimeClass), "")
	}
	if h := pl.hints[n].Accelerator; h != nil {
		setAccel(c, h.Resource, max(h.Count, 1))
		if h.RuntimeClass != "" {
			w.Pod.RuntimeClass = h.RuntimeClass
		}
		pl.record(n, "x-agops.accelerator", model.Mapped, fmt.Sprintf("%d %s by hint", max(h.Count, 1), h.Resource), "")
	}
	// Accelerator nodes are tainted with their resource as the key (agops cluster init: <resource>=present:NoSchedule),
	// so that only pods that ask for the device land there: every accelerated pod tolerates its resource's taint.
	for _, r := range sortedKeys(c.Resources.Limits) {
		if r != "cpu" && r != "memory" && r != "ephemeral-storage" {
			addGPUToleration(w, r)
		}
	}
}

func setAccel(c *model.Container, resource string, count int64) {
	v := strconv.FormatInt(count, 10)
	c.Resources.Limits[resource] = v
	c.Resources.Requests[resource] = v
}

func addGPUToleration(w *model.Workload, resource string) {
	for _, t := range w.Pod.Tolerations {
		if t.Key == resource {
			return
		}
	}
	w.Pod.Tolerations = append(w.Pod.Tolerations, model.Toleration{Key: resource, Operator: "Exists", Effect: "NoSchedule"})
}

func (pl *planner) deviceRequest(n, key string, d types.DeviceRequest, c *model.Container, w *model.Workload) {
	resource := ""
	switch strings.ToLower(d.Driver) {
	case "nvidia", "":
		if d.Driver == "" && !hasCapability(d, "gpu") {
			pl.record(n, key, model.NeedsInput, fmt.Sprintf("device request without driver or gpu capability (%v)", d.Capabilities),
				"x-agops: {accelerator: {resource: <vendor>/<resource>, count: N}}")
			return
		}
		resource = nvidiaGPU
		w.Pod.RuntimeClass = "nvidia"
	case "amd", "rocm":
		resource = amdGPU
	default:
		pl.record(n, key, model.NeedsInput, "device driver "+d.Driver+" has no known Kubernetes device plugin",
			"x-agops: {accelerator: {resource: <vendor>/<resource>, count: N}}")
		return
	}
	count := int64(d.Count)
	reason := fmt.Sprintf("%d %s", count, resource)
	outcome, hint := model.Mapped, ""
	switch {
	case len(d.IDs) > 0:
		count = int64(len(d.IDs))
		outcome = model.Approximated
		reason = fmt.Sprintf("%d %s; the device plugin picks which (device_ids %v cannot be pinned)", count, resource, d.IDs)
	case count < 0 && pl.hints[n].Accelerator != nil:
		count = max(pl.hints[n].Accelerator.Count, 1)
		reason = fmt.Sprintf("count: all: %d %s, as x-agops.accelerator says", count, resource)
	case count < 0:
		count = 1
		outcome = model.Approximated
		reason = fmt.Sprintf("count: all has no Kubernetes equivalent: 1 %s; raise it to the node's GPU count if the service needs them all", resource)
		hint = fmt.Sprintf("x-agops: {accelerator: {resource: %s, count: N}}", resource)
	case count == 0:
		count = 1
		reason = "1 " + resource
	}
	if resource == nvidiaGPU {
		reason += ", RuntimeClass nvidia"
	}
	setAccel(c, resource, count)
	addGPUToleration(w, resource)
	pl.record(n, key, outcome, "accelerator: "+reason, hint)
}

func hasCapability(d types.DeviceRequest, capability string) bool {
	for _, c := range d.Capabilities {
		if c == capability {
			return true
		}
	}
	return false
}

// deviceMappings handles devices: AMD's /dev/kfd and /dev/dri, NVIDIA's /dev/nvidia*, NPUs at /dev/accel.
func (pl *planner) deviceMappings(n string, s types.ServiceConfig, c *model.Container, w *model.Workload) {
	amd := false
	for i, d := range s.Devices {
		key := fmt.Sprintf("devices[%d]", i)
		switch src := d.Source; {
		case src == "/dev/kfd" || src == "/dev/dri" || strings.HasPrefix(src, "/dev/dri/"):
			if !amd {
				setAccel(c, amdGPU, 1)
				addGPUToleration(w, amdGPU)
				amd = true
			}
			pl.record(n, key, model.Mapped, src+": 1 amd.com/gpu (the AMD device plugin mounts /dev/kfd and /dev/dri)", "")
		case strings.HasPrefix(src, "/dev/nvidia"):
			if _, ok := c.Resources.Limits[nvidiaGPU]; !ok {
				setAccel(c, nvidiaGPU, 1)
				addGPUToleration(w, nvidiaGPU)
			}
			w.Pod.RuntimeClass = "nvidia"
			pl.record(n, key, model.Mapped, src+": 1 nvidia.com/gpu with RuntimeClass nvidia", "")
		case strings.HasPrefix(src, "/dev/accel"):
			pl.npu(n, key, src, c)
		default:
			pl.record(n, key, model.NeedsInput, "device "+src+" needs a device plugin or a privileged pod on Kubernetes",
				"x-agops: {accelerator: {resource: <vendor>/<resource>}} if a device plugin serves it")
		}
	}
}

func (pl *planner) npu(n, key, src string, c *model.Container) {
	if pl.hints[n].Accelerator != nil {
		pl.record(n, key, model.Mapped, src+": served by the accelerator hint", "")
		return
	}
	if pl.opts.NPUResource != "" {
		setAccel(c, pl.opts.NPUResource, 1)
		pl.record(n, key, model.Mapped, fmt.Sprintf("NPU %s: 1 %s", src, pl.opts.NPUResource), "")
		return
	}
	setAccel(c, npuPlaceholder, 1)
	pl.record(n, key, model.NeedsInput, fmt.Sprintf("NPU %s: requested as %s until you name the resource your NPU device plugin serves", src, npuPlaceholder),
		"--npu-resource <vendor>/<resource>, or x-agops: {accelerator: {resource: <vendor>/<resource>}}")
}

// containerdRuntime matches containerd's runtime type names: io.containerd.wasmedge.v1 -> wasmedge.
var containerdRuntime = regexp.MustCompile(`^io\.containerd\.([a-z0-9-]+)\.v[0-9]+$`)

// runtimeHandler turns a Docker runtime name into a RuntimeClass handler, which must be a DNS label.
func runtimeHandler(runtime string) string {
	if m := containerdRuntime.FindStringSubmatch(strings.ToLower(runtime)); m != nil {
		return m[1]
	}
	return dns1035(runtime)
}
