// Package k8s renders the model into typed k8s.io/api objects, for the base and for each overlay. It reads only the
// model's typed fields and imports neither compose-go nor the plan.
package k8s

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/agops/agops/internal/model"
)

// Object is a Kubernetes object with metadata.
type Object interface {
	runtime.Object
	metav1.Object
}

// Item is an object and the file of the base it belongs in.
type Item struct {
	File   string
	Object Object
}

// Variant selects the overlay to render.
type Variant string

// The overlays.
const (
	Base       Variant = "base"
	SingleNode Variant = "single-node"
	HA         Variant = "ha"
)

// Options tune rendering.
type Options struct {
	Variant Variant
	// InlineSecrets writes Secret objects with their values; off by default, so no value reaches the output.
	InlineSecrets bool
}

// Labels agops puts on everything it renders.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelPartOf    = "app.kubernetes.io/part-of"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	AnnotService   = "agops.dev/compose-service"
	waitRole       = "agops-wait"
	// FailoverSeconds is how long ha pods stay on a not-ready or unreachable node.
	FailoverSeconds = 30
)

// Render returns every object of the project for a variant, in a stable order: the shared objects (RenderShared),
// then each workload's (RenderWorkload).
func Render(p *model.Project, o Options) ([]Item, error) {
	r := &renderer{p: p, o: o}
	r.shared()
	for i := range p.Workloads {
		r.workload(&p.Workloads[i])
	}
	return r.result()
}

// RenderShared returns the objects of the project that belong to no workload (namespaces, policies, storage,
// configuration...), as Render returns them.
func RenderShared(p *model.Project, o Options) ([]Item, error) {
	r := &renderer{p: p, o: o}
	r.shared()
	return r.result()
}

func (r *renderer) result() ([]Item, error) {
	if len(r.errs) > 0 {
		return nil, errors.Join(r.errs...)
	}
	return r.items, nil
}

func (r *renderer) shared() {
	p, o := r.p, r.o
	for _, ns := range p.Namespaces {
		r.add("namespace.yaml", r.namespace(ns))
	}
	for _, rc := range runtimeClasses(p) {
		r.add("runtimeclasses.yaml", rc)
	}
	for _, ns := range p.Namespaces {
		if ns.Quota != nil {
			r.add("quotas.yaml", r.quota(ns))
		}
		if len(ns.DefaultRequests)+len(ns.DefaultLimits) > 0 {
			r.add("quotas.yaml", r.limitRange(ns))
		}
	}
	for _, ns := range waitNamespaces(p) {
		r.add("rbac.yaml", r.waitRole(ns))
	}
	for _, np := range p.Policies {
		r.add("networkpolicies.yaml", r.networkPolicy(np))
	}
	for _, l := range p.Links {
		r.add("links.yaml", r.link(l))
	}
	for _, g := range p.Guards {
		for _, obj := range r.admission(g) {
			r.add("admission.yaml", obj)
		}
	}
	for _, c := range p.Claims {
		if pvc := r.claim(c); pvc != nil {
			r.add("storage.yaml", pvc)
		}
	}
	for _, cm := range p.ConfigMaps {
		if !cm.External {
			r.add("configmaps.yaml", r.configMap(cm))
		}
	}
	if o.InlineSecrets {
		for _, s := range p.Secrets {
			if obj, err := r.secret(s); err != nil {
				r.errs = append(r.errs, err)
			} else if obj != nil {
				r.add("secrets.yaml", obj)
			}
		}
	}
}

type renderer struct {
	p     *model.Project
	o     Options
	items []Item
	errs  []error
}

func (r *renderer) add(file string, obj Object) {
	r.items = append(r.items, Item{File: file, Object: obj})
}

func (r *renderer) meta(namespace, name string, labels map[string]string) metav1.ObjectMeta {
	l := map[string]string{LabelPartOf: r.p.Instance, LabelManagedBy: "agops"}
	for k, v := range labels {
		l[k] = v
	}
	return metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: l}
}

func (r *renderer) selector(w *model.Workload) map[string]string {
	return r.workloadSelector(w.Name)
}

// workloadSelector selects the pods of the workload named name.
func (r *renderer) workloadSelector(name string) map[string]string {
	return map[string]string{LabelName: name, LabelInstance: r.p.Instance}
}

// Labels of namespaces.
const (
	LabelTier          = "agops.dev/tier"
	labelPSAEnforce    = "pod-security.kubernetes.io/enforce"
	labelPSAWarn       = "pod-security.kubernetes.io/warn"
	labelPSAAudit      = "pod-security.kubernetes.io/audit"
	labelNamespaceName = "kubernetes.io/metadata.name"
)

func (r *renderer) namespace(ns model.Namespace) Object {
	l := map[string]string{LabelPartOf: r.p.Instance, LabelManagedBy: "agops", LabelTier: string(ns.Tier)}
	for k, v := range map[string]string{labelPSAEnforce: ns.PodSecurity.Enforce, labelPSAWarn: ns.PodSecurity.Warn, labelPSAAudit: ns.PodSecurity.Audit} {
		if v != "" {
			l[k] = v
		}
	}
	return &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: ns.Name, Labels: l},
	}
}

// runtimeClasses returns the RuntimeClasses the workloads use, once each.
func runtimeClasses(p *model.Project) []Object {
	seen := map[string]bool{}
	for _, w := range p.Workloads {
		if w.Pod.RuntimeClass != "" {
			seen[w.Pod.RuntimeClass] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Object
	for _, n := range names {
		out = append(out, &nodev1.RuntimeClass{
			TypeMeta:   metav1.TypeMeta{APIVersion: "node.k8s.io/v1", Kind: "RuntimeClass"},
			ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{LabelManagedBy: "agops"}},
			Handler:    n,
		})
	}
	return out
}

// waitNamespaces lists the namespaces some wait init container reads, sorted.
func waitNamespaces(p *model.Project) []string {
	seen := map[string]bool{}
	for _, w := range p.Workloads {
		for _, ns := range w.WaitsIn {
			seen[ns] = true
		}
	}
	out := make([]string, 0, len(seen))
	for ns := range seen {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

// waitRole lets `agops wait` read EndpointSlices and Jobs of a namespace, nothing else.
func (r *renderer) waitRole(ns string) Object {
	verbs := []string{"get", "list", "watch"}
	return &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: r.meta(ns, waitRole, nil),
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: verbs},
			{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: verbs},
		},
	}
}

func (r *renderer) serviceAccount(w *model.Workload) Object {
	no := false
	return &corev1.ServiceAccount{
		TypeMeta:                     metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta:                   r.meta(w.Namespace, w.ServiceAccount, map[string]string{LabelName: w.Name}),
		AutomountServiceAccountToken: &no,
	}
}

// waitBinding lets a workload's wait init containers read the namespace ns.
func (r *renderer) waitBinding(w *model.Workload, ns string) Object {
	return &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: r.meta(ns, w.Name+"-wait", map[string]string{LabelName: w.Name}),
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: waitRole},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: w.ServiceAccount, Namespace: w.Namespace}},
	}
}

// clusterRoleBinding binds an existing ClusterRole to a workload's ServiceAccount.
func (r *renderer) clusterRoleBinding(w *model.Workload, role string) Object {
	name := "agops-" + r.p.Instance + "-" + w.Name + "-" + strings.ReplaceAll(role, ":", "-")
	return &rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
		ObjectMeta: r.meta("", name, map[string]string{LabelName: w.Name}),
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: w.ServiceAccount, Namespace: w.Namespace}},
	}
}

func (r *renderer) configMap(cm model.ConfigMap) Object {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: r.meta(cm.Namespace, cm.Name, nil),
		Data:       cm.Data,
		BinaryData: cm.Binary,
	}
}

// secret renders a Secret with its values; only called when the user asked for inline secrets.
func (r *renderer) secret(s model.Secret) (Object, error) {
	if s.External {
		return nil, nil
	}
	data := map[string][]byte{}
	for _, k := range s.Keys {
		if !k.Known {
			return nil, fmt.Errorf("secret %s: the value of %s is not available (%s)", s.Name, k.Key, k.Source)
		}
		data[k.Key] = k.Value
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: r.meta(s.Namespace, s.Name, nil),
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}, nil
}

// Secrets renders the project's Secrets with their values, for `agops secrets`.
func Secrets(p *model.Project) ([]Object, error) {
	r := &renderer{p: p}
	var out []Object
	for _, s := range p.Secrets {
		obj, err := r.secret(s)
		if err != nil {
			return nil, err
		}
		if obj != nil {
			out = append(out, obj)
		}
	}
	return out, nil
}
