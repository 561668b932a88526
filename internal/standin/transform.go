package standin

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/agops/agops/internal/image"
	"github.com/agops/agops/internal/render/k8s"
)

// Defaults of Options.
var (
	DefaultRequestCPU    = resource.MustParse("10m")
	DefaultRequestMemory = resource.MustParse("16Mi")
	// DefaultLimitMemory leaves room for the agops binary, whose mapped file pages count against the limit.
	DefaultLimitMemory = resource.MustParse("256Mi")
)

// DefaultClusterDomain is the DNS domain of Services when Options say none.
const DefaultClusterDomain = "cluster.local"

// Options tune Apply.
type Options struct {
	// HelperImage is the agops image stand-ins run (required). Containers that already run it are left as they
	// are: migrate's `agops wait` init containers, agent workers and the gateway are the real thing.
	HelperImage string
	// RequestCPU and RequestMemory cap a stand-in's requests (DefaultRequestCPU, DefaultRequestMemory when
	// zero); LimitMemory is its memory limit (DefaultLimitMemory). CPU limits are removed; extended resources
	// (nvidia.com/gpu, ...) are kept so that pods schedule where the real ones would.
	RequestCPU, RequestMemory, LimitMemory resource.Quantity
	// DialEvery is the time between rounds of dials (DefaultEvery when zero).
	DialEvery time.Duration
	// Exclude lists workload IDs ("namespace/name") left as they are; others still dial their ports.
	Exclude []string
	// ClusterDomain is the cluster's DNS domain (DefaultClusterDomain when empty).
	ClusterDomain string
}

func (o Options) withDefaults() (Options, error) {
	if o.HelperImage == "" {
		return o, errors.New("stand-ins: no helper image")
	}
	for _, d := range []struct {
		q   *resource.Quantity
		def resource.Quantity
	}{{&o.RequestCPU, DefaultRequestCPU}, {&o.RequestMemory, DefaultRequestMemory}, {&o.LimitMemory, DefaultLimitMemory}} {
		if d.q.IsZero() {
			*d.q = d.def
		}
	}
	if o.RequestMemory.Cmp(o.LimitMemory) > 0 {
		return o, fmt.Errorf("stand-ins: memory request cap %s is above the memory limit %s", o.RequestMemory.String(), o.LimitMemory.String())
	}
	if o.DialEvery < 0 {
		return o, fmt.Errorf("stand-ins: negative dial interval %s", o.DialEvery)
	}
	if o.DialEvery == 0 {
		o.DialEvery = DefaultEvery
	}
	if o.ClusterDomain == "" {
		o.ClusterDomain = DefaultClusterDomain
	}
	return o, nil
}

// Note records one change Apply made, so that a rehearsal's report can say what was not the real thing.
type Note struct {
	Workload  string `json:"workload"`
	Container string `json:"container,omitempty"`
	Field     string `json:"field"` // "image", "readinessProbe", "resources", "lifecycle", "securityContext", ...
	What      string `json:"what"`
}

// Apply returns objs with every container that does not run o.HelperImage replaced by a stand-in (see the
// package documentation), and the notes of what changed, in the order of objs. Objects that make no pods, and
// excluded workloads, are returned as they are (the same pointers); objs is not modified. The output is the same
// for the same input.
func Apply(objs []*unstructured.Unstructured, o Options) ([]*unstructured.Unstructured, []Note, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	var (
		ws   []*workload
		svcs []*corev1.Service
		errs []error
	)
	for i, u := range objs {
		if u.GetKind() == "Service" && u.GroupVersionKind().Group == "" {
			svc := &corev1.Service{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, svc); err != nil {
				errs = append(errs, fmt.Errorf("Service %s/%s: %w", namespaceOf(u.GetNamespace()), u.GetName(), err))
				continue
			}
			svcs = append(svcs, svc)
			continue
		}
		w, err := decodeWorkload(u)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if w != nil {
			w.index = i
			ws = append(ws, w)
		}
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	nameWorkloads(ws)
	excluded, err := exclusions(ws, o.Exclude)
	if err != nil {
		return nil, nil, err
	}
	t := &transformer{o: o, probes: probeTargets(svcs, ws, o.ClusterDomain), svcs: svcs}
	out := slices.Clone(objs)
	for _, w := range ws {
		if excluded[w.id] {
			continue
		}
		t.pod(w)
		m, err := k8s.ToMap(w.obj)
		if err != nil {
			return nil, nil, err
		}
		out[w.index] = &unstructured.Unstructured{Object: m}
	}
	return out, t.notes, nil
}

func exclusions(ws []*workload, ids []string) (map[string]bool, error) {
	known := map[string]bool{}
	for _, w := range ws {
		known[w.id] = true
	}
	out := map[string]bool{}
	var errs []error
	for _, id := range ids {
		if !known[id] {
			errs = append(errs, fmt.Errorf("stand-ins: excluded workload %q is not among the manifests' workloads (namespace/name)", id))
		}
		out[id] = true
	}
	return out, errors.Join(errs...)
}

// transformer carries Apply's state over the workloads.
type transformer struct {
	o      Options
	probes []Target
	svcs   []*corev1.Service
	notes  []Note
}

func (t *transformer) note(w *workload, container, field, format string, args ...any) {
	t.notes = append(t.notes, Note{Workload: w.id, Container: container, Field: field, What: fmt.Sprintf(format, args...)})
}

// helper tells whether a container runs the helper image already and stays as it is: migrate's `agops wait` init
// containers and the gateway. Agent workers (`agops worker`) are stood in for, like the user's own agents: they
// need a real Temporal, and Temporal is a stand-in too. So are the init containers that pull a model's weights
// (`agops model pull`): they need the registry outside, and the model server they feed is a stand-in.
func (t *transformer) helper(c *corev1.Container) bool {
	return c.Image == t.o.HelperImage && (len(c.Args) == 0 || (c.Args[0] != "worker" && c.Args[0] != "model"))
}

// pod replaces the pod's containers with stand-ins. The first regular container dials the probe targets (the
// others of the pod share its network, so would see the same); init containers run once, before the pod's peers
// may be up, so they dial their configuration's addresses only. A port two containers of the pod declare (a
// Compose network_mode: service:X) is listened on by the first. A pod whose regular containers all run the helper
// image gets a stand-in container that only dials, so that the matrix has its row.
func (t *transformer) pod(w *workload) {
	s := w.spec
	claimed := map[Port]string{}
	for i := range s.InitContainers {
		c := &s.InitContainers[i]
		if t.helper(c) {
			continue
		}
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		t.container(w, c, !sidecar || w.once, nil, claimed)
	}
	probes := t.probes
	for i := range s.Containers {
		c := &s.Containers[i]
		if t.helper(c) {
			verb := ""
			if len(c.Args) > 0 {
				verb = " " + c.Args[0]
			}
			t.note(w, c.Name, "image", "runs the helper image already (agops%s): kept as it is", verb)
			continue
		}
		t.container(w, c, w.once, probes, claimed)
		probes = nil
	}
	if len(probes) > 0 {
		t.dialer(w, probes)
	}
	for p := range claimed {
		if p.Port < 1024 {
			t.lowPorts(w)
			break
		}
	}
}

// dialer adds a container that only dials the probe targets, to a pod that has no stand-in of its own. Its own
// workload's ports it cannot dial through its own Service: the connection may come back to the pod itself (which
// every enforcer lets through), and only a stand-in can answer who it is (whoProbe). So it dials them at the other
// replicas' addresses, which a headless Service selecting the workload resolves to (peerTargets); without one,
// those rows stay unmeasured.
func (t *transformer) dialer(w *workload, probes []Target) {
	own := slices.ContainsFunc(probes, func(p Target) bool { return p.Workload == w.id })
	probes = slices.DeleteFunc(slices.Clone(probes), func(p Target) bool { return p.Workload == w.id })
	peers := t.peerTargets(w)
	if own {
		probes = append(probes, peers...)
	}
	if len(probes) == 0 {
		return
	}
	name := "agops-standin"
	for slices.ContainsFunc(w.spec.Containers, func(c corev1.Container) bool { return c.Name == name }) {
		name += "-x"
	}
	c := corev1.Container{Name: name, SecurityContext: &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr(false), ReadOnlyRootFilesystem: ptr(true), RunAsNonRoot: ptr(true),
		Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}}
	t.container(w, &c, w.once, probes, nil)
	w.spec.Containers = append(w.spec.Containers, c)
	switch {
	case !own:
		t.note(w, name, "containers", "added: no container of the pod is stood in for, this one dials the %d peer ports from it", len(probes))
	case len(peers) > 0:
		t.note(w, name, "containers", "added: no container of the pod is stood in for, this one dials the %d peer ports from it (its own workload's at the other replicas' addresses, by %s)", len(probes), strings.Split(peers[0].Addr, ".")[0])
	default:
		t.note(w, name, "containers", "added: no container of the pod is stood in for, this one dials the %d peer ports from it (not its own workload's: no headless Service names its replicas, and its own Service may lead back to itself)", len(probes))
	}
}

// peerTargets are w's own TCP and UDP container ports, as peers targets (Target.Peers) named by the first headless
// Service, by name, that selects w's pods; none when there is no such Service.
func (t *transformer) peerTargets(w *workload) []Target {
	var host string
	for _, svc := range t.svcs {
		if svc.Spec.ClusterIP != corev1.ClusterIPNone || len(svc.Spec.Selector) == 0 || namespaceOf(svc.Namespace) != w.namespace {
			continue
		}
		if labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(w.podLabels)) {
			if name := serviceHost(svc.Name, w.namespace, t.o.ClusterDomain); host == "" || name < host {
				host = name
			}
		}
	}
	if host == "" {
		return nil
	}
	var out []Target
	for _, p := range t.probes {
		if p.Workload != w.id || slices.ContainsFunc(out, func(o Target) bool { return o.Port == p.Port && o.Protocol == p.Protocol }) {
			continue
		}
		out = append(out, Target{Addr: net.JoinHostPort(host, strconv.Itoa(int(p.Port))), Protocol: p.Protocol,
			Source: sourceProbe, Workload: w.id, Port: p.Port, Peers: true})
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// lowPorts lets the stand-ins of a pod listen on ports below 1024 as the unprivileged user they run as.
func (t *transformer) lowPorts(w *workload) {
	if w.spec.HostNetwork {
		t.note(w, "", "securityContext", "ports below 1024 on the host's network: the stand-in may not be allowed to listen on them")
		return
	}
	const sysctl = "net.ipv4.ip_unprivileged_port_start"
	if w.spec.SecurityContext == nil {
		w.spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	if slices.ContainsFunc(w.spec.SecurityContext.Sysctls, func(s corev1.Sysctl) bool { return s.Name == sysctl }) {
		return
	}
	w.spec.SecurityContext.Sysctls = append(w.spec.SecurityContext.Sysctls, corev1.Sysctl{Name: sysctl, Value: "0"})
	t.note(w, "", "securityContext", "sysctl %s=0 so that the stand-in, an unprivileged user, may listen on ports below 1024", sysctl)
}

// standInCommand is the helper image's entrypoint.
var standInCommand = []string{image.Path}
