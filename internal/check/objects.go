package check

import (
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

// workload is anything that makes pods: its pod template and how many pods run at once.
type workload struct {
	ref      Ref
	replicas int32 // Deployment and StatefulSet replicas, Job parallelism; 1 otherwise
	labels   labels.Set
	spec     *corev1.PodSpec
}

// longRunning kinds keep their pods up, so probes and disruption budgets matter.
func (w *workload) longRunning() bool {
	switch w.ref.Kind {
	case "Deployment", "StatefulSet", "DaemonSet":
		return true
	}
	return false
}

// replicated kinds are those whose replicas a PodDisruptionBudget and a topology spread are about.
func (w *workload) replicated() bool {
	return (w.ref.Kind == "Deployment" || w.ref.Kind == "StatefulSet") && w.replicas > 1
}

// manyPods is true when more than one pod of the workload may run at once.
func (w *workload) manyPods() bool {
	return w.replicas > 1 || w.ref.Kind == "DaemonSet"
}

// inventory is the typed view of the objects the rules read.
type inventory struct {
	raw         []*unstructured.Unstructured
	namespaces  map[string]*corev1.Namespace
	workloads   []*workload
	services    []*corev1.Service
	pdbs        []*policyv1.PodDisruptionBudget
	netpols     []*networkingv1.NetworkPolicy
	configMaps  []*corev1.ConfigMap
	limitRanges []*corev1.LimitRange
	accounts    map[Ref]*corev1.ServiceAccount
	claims      map[Ref]*corev1.PersistentVolumeClaim
	present     map[Ref]bool
	ignores     map[Ref]map[string]bool
}

func (inv *inventory) ignored(f Finding) bool {
	return inv.ignores[f.Object][f.Rule]
}

// inNamespace lists the workloads of one namespace.
func (inv *inventory) inNamespace(ns string) []*workload {
	var out []*workload
	for _, w := range inv.workloads {
		if w.ref.Namespace == ns {
			out = append(out, w)
		}
	}
	return out
}

// index decodes the kinds the rules read; other kinds are only counted as present. It returns one error per
// object that does not decode.
func index(objs []*unstructured.Unstructured) (*inventory, []error) {
	inv := &inventory{
		namespaces: map[string]*corev1.Namespace{}, accounts: map[Ref]*corev1.ServiceAccount{},
		claims: map[Ref]*corev1.PersistentVolumeClaim{}, present: map[Ref]bool{}, ignores: map[Ref]map[string]bool{},
	}
	var errs []error
	for _, u := range objs {
		if u == nil || u.Object == nil {
			continue
		}
		ref := refOf(u)
		inv.raw = append(inv.raw, u)
		inv.present[ref] = true
		for _, id := range ignoreList(u) {
			if inv.ignores[ref] == nil {
				inv.ignores[ref] = map[string]bool{}
			}
			inv.ignores[ref][id] = true
		}
		if err := inv.add(u, ref); err != nil {
			errs = append(errs, err)
		}
	}
	return inv, errs
}

// add decodes one object by apiVersion and kind. Secrets are never decoded: no rule reads their values.
func (inv *inventory) add(u *unstructured.Unstructured, ref Ref) error {
	var err error
	switch u.GetAPIVersion() + " " + ref.Kind {
	case "v1 Namespace":
		err = decodeInto(u, func(o *corev1.Namespace) { inv.namespaces[o.Name] = o })
	case "v1 Service":
		err = decodeInto(u, func(o *corev1.Service) { inv.services = append(inv.services, o) })
	case "v1 ConfigMap":
		err = decodeInto(u, func(o *corev1.ConfigMap) { inv.configMaps = append(inv.configMaps, o) })
	case "v1 LimitRange":
		err = decodeInto(u, func(o *corev1.LimitRange) { inv.limitRanges = append(inv.limitRanges, o) })
	case "v1 ServiceAccount":
		err = decodeInto(u, func(o *corev1.ServiceAccount) { inv.accounts[ref] = o })
	case "v1 PersistentVolumeClaim":
		err = decodeInto(u, func(o *corev1.PersistentVolumeClaim) { inv.claims[ref] = o })
	case "policy/v1 PodDisruptionBudget":
		err = decodeInto(u, func(o *policyv1.PodDisruptionBudget) { inv.pdbs = append(inv.pdbs, o) })
	case "networking.k8s.io/v1 NetworkPolicy":
		err = decodeInto(u, func(o *networkingv1.NetworkPolicy) { inv.netpols = append(inv.netpols, o) })
	default:
		err = inv.addWorkload(u, ref)
	}
	return err
}

// addWorkload decodes the kinds that make pods.
func (inv *inventory) addWorkload(u *unstructured.Unstructured, ref Ref) error {
	add := func(replicas *int32, tmpl *corev1.PodTemplateSpec) {
		n := int32(1)
		if replicas != nil {
			n = *replicas
		}
		inv.workloads = append(inv.workloads, &workload{ref: ref, replicas: n, labels: tmpl.Labels, spec: &tmpl.Spec})
	}
	switch u.GetAPIVersion() + " " + ref.Kind {
	case "apps/v1 Deployment":
		return decodeInto(u, func(o *appsv1.Deployment) { add(o.Spec.Replicas, &o.Spec.Template) })
	case "apps/v1 StatefulSet":
		return decodeInto(u, func(o *appsv1.StatefulSet) { add(o.Spec.Replicas, &o.Spec.Template) })
	case "apps/v1 DaemonSet":
		return decodeInto(u, func(o *appsv1.DaemonSet) { add(nil, &o.Spec.Template) })
	case "batch/v1 Job":
		return decodeInto(u, func(o *batchv1.Job) { add(o.Spec.Parallelism, &o.Spec.Template) })
	case "batch/v1 CronJob":
		return decodeInto(u, func(o *batchv1.CronJob) { add(o.Spec.JobTemplate.Spec.Parallelism, &o.Spec.JobTemplate.Spec.Template) })
	case "v1 Pod":
		return decodeInto(u, func(o *corev1.Pod) {
			add(nil, &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: o.Labels}, Spec: o.Spec})
		})
	}
	return nil
}

// decodeInto converts u to T and hands it to use. It goes through JSON rather than the unstructured converter
// because encoding/json names the field that does not fit ("Go struct field DeploymentSpec.spec.replicas of type
// int32"), and never the value, which may be a credential.
func decodeInto[T any](u *unstructured.Unstructured, use func(*T)) error {
	data, err := u.MarshalJSON()
	if err != nil {
		return fmt.Errorf("%s: %w", refOf(u), err)
	}
	obj := new(T)
	if err := json.Unmarshal(data, obj); err != nil {
		return fmt.Errorf("%s: not a valid %s %s: %w", refOf(u), u.GetAPIVersion(), u.GetKind(), err)
	}
	use(obj)
	return nil
}
