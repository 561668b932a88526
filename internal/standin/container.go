package standin

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// container makes c a stand-in: the helper image running `agops stand-in` with c's ports (those no container of
// the pod claimed before; claimed gains them), the probe targets and c's original command after "--";
// environment, mounts and security context are kept.
func (t *transformer) container(w *workload, c *corev1.Container, once bool, probes []Target, claimed map[Port]string) {
	added := c.Image == "" // the dialer Apply adds: nothing of it to note but its addition
	listen := t.listenPorts(w, c, claimed)
	args := []string{Verb, "--workload", w.id, "--container", c.Name}
	if len(listen) > 0 {
		args = append(args, "--listen", joinStrings(listen))
	}
	if len(probes) > 0 {
		args = append(args, "--probe", joinStrings(probes))
	}
	args = append(args, "--every", t.o.DialEvery.String())
	if once {
		args = append(args, OnceFlag)
	}
	if original := append(slices.Clone(c.Command), c.Args...); len(original) > 0 {
		args = append(append(args, "--"), original...)
	}
	if !added {
		t.note(w, c.Name, "image", "%s replaced by a stand-in", c.Image)
	}
	c.Image, c.ImagePullPolicy, c.Command, c.Args = t.o.HelperImage, corev1.PullIfNotPresent, standInCommand, args
	if c.WorkingDir != "" {
		c.WorkingDir = ""
		t.note(w, c.Name, "workingDir", "dropped: the helper image does not have it, and a read-only root cannot make it")
	}
	addPodEnv(c)
	t.replaceProbes(w, c, listen)
	t.lifecycle(w, c)
	t.resources(w, c, !added)
}

func joinStrings[T interface{ String() string }](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = x.String()
	}
	return strings.Join(s, ",")
}

// listenPorts are the container's TCP and UDP ports and the ports its httpGet, tcpSocket and gRPC probes use,
// sorted, less those another container of the pod claimed; claimed gains them.
func (t *transformer) listenPorts(w *workload, c *corev1.Container, claimed map[Port]string) []Port {
	var out []Port
	add := func(p Port) {
		if owner, ok := claimed[p]; ok && owner != c.Name {
			t.note(w, c.Name, "ports", "%s: container %s of the same pod listens on it", p, owner)
			return
		}
		if p.Port > 0 && !slices.Contains(out, p) {
			out = append(out, p)
			if claimed != nil {
				claimed[p] = c.Name
			}
		}
	}
	for _, p := range c.Ports {
		proto := string(p.Protocol)
		if proto == "" {
			proto = tcp
		}
		if proto != tcp && proto != udp {
			t.note(w, c.Name, "ports", "%d/%s: a stand-in does not listen on %s", p.ContainerPort, proto, proto)
			continue
		}
		add(Port{Port: p.ContainerPort, Protocol: proto})
	}
	for _, pr := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
		if pr == nil {
			continue
		}
		switch {
		case pr.HTTPGet != nil:
			add(Port{Port: resolvePort(c, pr.HTTPGet.Port), Protocol: tcp})
		case pr.TCPSocket != nil:
			add(Port{Port: resolvePort(c, pr.TCPSocket.Port), Protocol: tcp})
		case pr.GRPC != nil:
			add(Port{Port: pr.GRPC.Port, Protocol: tcp})
		}
	}
	slices.SortFunc(out, func(a, b Port) int {
		if a.Port != b.Port {
			return int(a.Port - b.Port)
		}
		return strings.Compare(a.Protocol, b.Protocol)
	})
	return out
}

// resolvePort is a probe's port number: a number, or the container port of that name (0 if there is none).
func resolvePort(c *corev1.Container, p intstr.IntOrString) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	return namedPort([]corev1.Container{*c}, p.StrVal)
}

// addPodEnv gives the container POD_NAME and POD_NAMESPACE from the downward API, unless it has them.
func addPodEnv(c *corev1.Container) {
	for _, v := range []struct{ name, field string }{{envPodName, "metadata.name"}, {envPodNamespace, "metadata.namespace"}} {
		if slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == v.name }) {
			continue
		}
		c.Env = append(c.Env, corev1.EnvVar{Name: v.name, ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: v.field},
		}})
	}
}

// replaceProbes keeps httpGet and tcpSocket probes (the stand-in answers them) and turns gRPC probes into tcpSocket
// probes on the same port. Exec probes become tcpSocket probes on the first TCP port the stand-in listens on (it
// binds all its ports before it serves any, so one answering means all are there), or `agops stand-in check` when
// it listens on no TCP port: an exec probe starts a process in the container through the runtime at every period,
// which on a busy node costs far more than a connection.
func (t *transformer) replaceProbes(w *workload, c *corev1.Container, listen []Port) {
	first := slices.IndexFunc(listen, func(p Port) bool { return p.Protocol == tcp })
	for _, p := range []struct {
		field string
		probe *corev1.Probe
	}{{"readinessProbe", c.ReadinessProbe}, {"livenessProbe", c.LivenessProbe}, {"startupProbe", c.StartupProbe}} {
		switch {
		case p.probe == nil:
		case p.probe.Exec != nil && first >= 0:
			port := listen[first].Port
			p.probe.Exec, p.probe.TCPSocket = nil, &corev1.TCPSocketAction{Port: intstr.FromInt32(port)}
			t.note(w, c.Name, p.field, "exec probe replaced by a tcpSocket probe on port %d (the stand-in listens on all its ports at once)", port)
		case p.probe.Exec != nil:
			p.probe.Exec.Command = t.checkCommand(c)
			t.note(w, c.Name, p.field, "exec probe replaced by `agops stand-in check` (the stand-in listens on all its ports)")
		case p.probe.GRPC != nil:
			port := p.probe.GRPC.Port
			p.probe.GRPC, p.probe.TCPSocket = nil, &corev1.TCPSocketAction{Port: intstr.FromInt32(port)}
			t.note(w, c.Name, p.field, "gRPC probe replaced by a tcpSocket probe on port %d (a stand-in does not speak gRPC)", port)
		}
	}
}

func (t *transformer) checkCommand(c *corev1.Container) []string {
	return append(slices.Clone(standInCommand), Verb, "check", "--container", c.Name)
}

// lifecycle drops the hooks a stand-in cannot run: exec hooks (the helper image has no shell or tools) and
// network postStart hooks (they race the stand-in's listeners, and a failed postStart kills the container).
func (t *transformer) lifecycle(w *workload, c *corev1.Container) {
	l := c.Lifecycle
	if l == nil {
		return
	}
	if h := l.PostStart; h != nil && h.Sleep == nil {
		l.PostStart = nil
		t.note(w, c.Name, "lifecycle", "postStart hook dropped: a stand-in has nothing to prepare")
	}
	if h := l.PreStop; h != nil && h.Exec != nil {
		l.PreStop = nil
		t.note(w, c.Name, "lifecycle", "preStop exec hook dropped: the helper image has no shell or tools; the stand-in stops on SIGTERM")
	}
	if l.PostStart == nil && l.PreStop == nil {
		c.Lifecycle = nil
	}
}

// resources caps CPU and memory requests, drops the CPU limit, sets the memory limit to the stand-in's, and keeps
// every other resource (GPUs, hugepages) as it is; with note, a change is noted.
func (t *transformer) resources(w *workload, c *corev1.Container, note bool) {
	r := &c.Resources
	before := r.DeepCopy()
	if r.Requests == nil {
		r.Requests = corev1.ResourceList{}
	}
	for name, limit := range map[corev1.ResourceName]resource.Quantity{corev1.ResourceCPU: t.o.RequestCPU, corev1.ResourceMemory: t.o.RequestMemory} {
		if have, ok := r.Requests[name]; !ok || have.Cmp(limit) > 0 {
			r.Requests[name] = limit
		}
	}
	if r.Limits == nil {
		r.Limits = corev1.ResourceList{}
	}
	delete(r.Limits, corev1.ResourceCPU)
	r.Limits[corev1.ResourceMemory] = t.o.LimitMemory
	if note && (!equalResources(before.Requests, r.Requests) || !equalResources(before.Limits, r.Limits)) {
		t.note(w, c.Name, "resources", "requests %s, limits %s (was requests %s, limits %s)",
			formatResources(r.Requests), formatResources(r.Limits), formatResources(before.Requests), formatResources(before.Limits))
	}
}

func equalResources(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v.Cmp(w) != 0 {
			return false
		}
	}
	return true
}

// formatResources is "cpu=10m memory=16Mi", sorted by name; "none" when empty.
func formatResources(l corev1.ResourceList) string {
	if len(l) == 0 {
		return "none"
	}
	var s []string
	for k, v := range l {
		s = append(s, string(k)+"="+v.String())
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

// OnceFlag makes a stand-in do one round of dials and exit (Jobs and init containers).
const OnceFlag = "--once"

// Verb is the agops command a stand-in container runs: its first argument.
const Verb = "stand-in"

// InRounds returns a stand-in container's arguments without OnceFlag, so that it dials in rounds until stopped. The
// original command, after "--", is left as it is.
func InRounds(args []string) []string {
	end := slices.Index(args, "--")
	if end < 0 {
		end = len(args)
	}
	out := slices.Clone(args[:end])
	out = slices.DeleteFunc(out, func(a string) bool { return a == OnceFlag })
	return append(out, args[end:]...)
}
