package standin

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/agops/agops/internal/render/k8s"
)

// workload is an object that makes pods, decoded into its typed form; spec and podLabels point into obj.
type workload struct {
	index     int    // its place in Apply's input
	id        string // "namespace/name" as the reachability matrix names it ("namespace/Kind/name" if ambiguous)
	kind      string
	namespace string
	obj       k8s.Object
	spec      *corev1.PodSpec
	podLabels map[string]string
	once      bool // its pods run to completion: Jobs and CronJobs
}

// decodeWorkload returns the typed workload of u, or nil if u makes no pods.
func decodeWorkload(u *unstructured.Unstructured) (*workload, error) {
	gvk := u.GroupVersionKind()
	w := &workload{kind: gvk.Kind, namespace: u.GetNamespace()}
	if w.namespace == "" {
		w.namespace = corev1.NamespaceDefault
	}
	var tmpl *corev1.PodTemplateSpec
	switch gvk.Group + "/" + gvk.Kind {
	case "apps/Deployment":
		o := &appsv1.Deployment{}
		w.obj, tmpl = o, &o.Spec.Template
	case "apps/StatefulSet":
		o := &appsv1.StatefulSet{}
		w.obj, tmpl = o, &o.Spec.Template
	case "apps/DaemonSet":
		o := &appsv1.DaemonSet{}
		w.obj, tmpl = o, &o.Spec.Template
	case "apps/ReplicaSet":
		o := &appsv1.ReplicaSet{}
		w.obj, tmpl = o, &o.Spec.Template
	case "batch/Job":
		o := &batchv1.Job{}
		w.obj, tmpl, w.once = o, &o.Spec.Template, true
	case "batch/CronJob":
		o := &batchv1.CronJob{}
		w.obj, tmpl, w.once = o, &o.Spec.JobTemplate.Spec.Template, true
	case "/Pod":
		o := &corev1.Pod{}
		w.obj, w.spec = o, &o.Spec
	default:
		return nil, nil
	}
	if gvk.Version != "v1" {
		return nil, fmt.Errorf("%s %s/%s: apiVersion %s: stand-ins know v1 only", gvk.Kind, w.namespace, u.GetName(), u.GetAPIVersion())
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, w.obj); err != nil {
		return nil, fmt.Errorf("%s %s/%s: %w", gvk.Kind, w.namespace, u.GetName(), err)
	}
	if tmpl != nil {
		w.spec = &tmpl.Spec
		w.podLabels = tmpl.Labels
	} else {
		w.podLabels = w.obj.GetLabels()
	}
	w.id = w.namespace + "/" + w.obj.GetName()
	return w, nil
}

// nameWorkloads gives workloads of two kinds that share a namespace and name the IDs the reachability matrix
// gives them ("namespace/Kind/name").
func nameWorkloads(ws []*workload) {
	count := map[string]int{}
	for _, w := range ws {
		count[w.id]++
	}
	for _, w := range ws {
		if count[w.id] > 1 {
			w.id = w.namespace + "/" + w.kind + "/" + w.obj.GetName()
		}
	}
}

// probeTargets are the ports every stand-in dials: for each workload and each of its ports some Service
// reaches, one address (the Service's name in the cluster's DNS and its port). Of several Services reaching the
// same port, one whose port is the container port is preferred, then the first by name. Headless Services are
// dialed on the container port, which is what their names resolve to. SCTP ports are left out.
func probeTargets(svcs []*corev1.Service, ws []*workload, domain string) []Target {
	best := map[string]Target{}
	for _, svc := range svcs {
		if svc.Spec.Type == corev1.ServiceTypeExternalName || len(svc.Spec.Selector) == 0 {
			continue
		}
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		for _, w := range ws {
			if w.namespace != namespaceOf(svc.Namespace) || !sel.Matches(labels.Set(w.podLabels)) {
				continue
			}
			for _, sp := range svc.Spec.Ports {
				t, ok := serviceTarget(svc, sp, w, domain)
				if !ok {
					continue
				}
				key := fmt.Sprintf("%s %d/%s", t.Workload, t.Port, t.Protocol)
				if have, ok := best[key]; !ok || better(t, have) {
					best[key] = t
				}
			}
		}
	}
	out := make([]Target, 0, len(best))
	for _, t := range best {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Workload != b.Workload {
			return a.Workload < b.Workload
		}
		if a.Port != b.Port {
			return a.Port < b.Port
		}
		return a.Protocol < b.Protocol
	})
	return out
}

// serviceTarget is the address of one Service port, reaching container port Target.Port of w.
func serviceTarget(svc *corev1.Service, sp corev1.ServicePort, w *workload, domain string) (Target, bool) {
	proto := string(sp.Protocol)
	if proto == "" {
		proto = tcp
	}
	if proto != tcp && proto != udp {
		return Target{}, false
	}
	containerPort := sp.Port
	switch {
	case sp.TargetPort.StrVal != "":
		containerPort = namedPort(w.spec.Containers, sp.TargetPort.StrVal)
	case sp.TargetPort.IntVal != 0:
		containerPort = sp.TargetPort.IntVal
	}
	if containerPort == 0 {
		return Target{}, false
	}
	dial := sp.Port
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		dial = containerPort
	}
	host := serviceHost(svc.Name, namespaceOf(svc.Namespace), domain)
	return Target{Addr: fmt.Sprintf("%s:%d", host, dial), Protocol: proto, Source: sourceProbe, Workload: w.id, Port: containerPort}, true
}

// serviceHost is a Service's name in the cluster's DNS, rooted (with the final dot): a pod's resolver then asks for
// it once, instead of first trying it under each of the pod's search domains (ndots is 5 in a pod), which would make
// every dial of every stand-in several DNS queries.
func serviceHost(name, namespace, domain string) string {
	return fmt.Sprintf("%s.%s.svc.%s.", name, namespace, strings.TrimSuffix(domain, "."))
}

// better prefers an address whose port is the container port, then the smaller address.
func better(a, b Target) bool {
	aSame := strings.HasSuffix(a.Addr, ":"+strconv.Itoa(int(a.Port)))
	bSame := strings.HasSuffix(b.Addr, ":"+strconv.Itoa(int(b.Port)))
	if aSame != bSame {
		return aSame
	}
	return a.Addr < b.Addr
}

func namedPort(cs []corev1.Container, name string) int32 {
	for _, c := range cs {
		for _, p := range c.Ports {
			if p.Name == name {
				return p.ContainerPort
			}
		}
	}
	return 0
}

func namespaceOf(ns string) string {
	if ns == "" {
		return corev1.NamespaceDefault
	}
	return ns
}
