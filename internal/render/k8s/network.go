package k8s

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/agops/agops/internal/model"
)

// AnnotWhy explains, on a NetworkPolicy, where its rules come from.
const AnnotWhy = "agops.dev/why"

func (r *renderer) networkPolicy(np model.NetworkPolicy) Object {
	meta := r.meta(np.Namespace, np.Name, nil)
	if np.Workload != "" {
		meta.Labels[LabelName] = np.Workload
	}
	if np.Why != "" {
		meta.Annotations = map[string]string{AnnotWhy: np.Why}
	}
	spec := networkingv1.NetworkPolicySpec{}
	if np.Workload != "" {
		spec.PodSelector = metav1.LabelSelector{MatchLabels: r.workloadSelector(np.Workload)}
	}
	if np.PolicyIngress {
		spec.PolicyTypes = append(spec.PolicyTypes, networkingv1.PolicyTypeIngress)
	}
	if np.PolicyEgress {
		spec.PolicyTypes = append(spec.PolicyTypes, networkingv1.PolicyTypeEgress)
	}
	for _, rule := range np.Ingress {
		spec.Ingress = append(spec.Ingress, networkingv1.NetworkPolicyIngressRule{From: r.peers(rule.Peers), Ports: policyPorts(rule.Ports)})
	}
	for _, rule := range np.Egress {
		spec.Egress = append(spec.Egress, networkingv1.NetworkPolicyEgressRule{To: r.peers(rule.Peers), Ports: policyPorts(rule.Ports)})
	}
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: meta,
		Spec:       spec,
	}
}

func (r *renderer) peers(ps []model.Peer) []networkingv1.NetworkPolicyPeer {
	var out []networkingv1.NetworkPolicyPeer
	for _, p := range ps {
		var peer networkingv1.NetworkPolicyPeer
		switch {
		case p.CIDR != "":
			peer.IPBlock = &networkingv1.IPBlock{CIDR: p.CIDR, Except: p.Except}
		default:
			if p.Namespace != "" {
				peer.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{labelNamespaceName: p.Namespace}}
			}
			switch {
			case p.Network != "":
				peer.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{LabelPartOf: r.p.Instance}}
				peer.PodSelector = &metav1.LabelSelector{MatchLabels: map[string]string{LabelNetworkPrefix + p.Network: "true"}}
			case p.Workload != "":
				peer.PodSelector = &metav1.LabelSelector{MatchLabels: r.workloadSelector(p.Workload)}
			case len(p.Labels) > 0:
				peer.PodSelector = &metav1.LabelSelector{MatchLabels: p.Labels}
			}
		}
		out = append(out, peer)
	}
	return out
}

func policyPorts(ps []model.PolicyPort) []networkingv1.NetworkPolicyPort {
	var out []networkingv1.NetworkPolicyPort
	for _, p := range ps {
		port := intstr.FromInt32(p.Port)
		proto := corev1.Protocol(p.Protocol)
		out = append(out, networkingv1.NetworkPolicyPort{Port: &port, Protocol: &proto})
	}
	return out
}

// link is an ExternalName Service: the Compose name of a Service of another tier, resolving in this namespace.
func (r *renderer) link(l model.Link) Object {
	meta := r.meta(l.Namespace, l.Name, nil)
	meta.Annotations = map[string]string{"agops.dev/link": l.TargetNamespace + "/" + l.TargetName}
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta,
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: l.Host},
	}
}

func (r *renderer) quota(ns model.Namespace) Object {
	hard := corev1.ResourceList{}
	for k, v := range ns.Quota {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			r.errs = append(r.errs, fmt.Errorf("namespace %s: quota %s=%q is not a quantity", ns.Name, k, v))
			continue
		}
		hard[corev1.ResourceName(k)] = q
	}
	return &corev1.ResourceQuota{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ResourceQuota"},
		ObjectMeta: r.meta(ns.Name, "agops-quota", nil),
		Spec:       corev1.ResourceQuotaSpec{Hard: hard},
	}
}

func (r *renderer) limitRange(ns model.Namespace) Object {
	item := corev1.LimitRangeItem{Type: corev1.LimitTypeContainer}
	item.DefaultRequest = r.quantities(ns.Name, ns.DefaultRequests)
	item.Default = r.quantities(ns.Name, ns.DefaultLimits)
	return &corev1.LimitRange{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "LimitRange"},
		ObjectMeta: r.meta(ns.Name, "agops-defaults", nil),
		Spec:       corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{item}},
	}
}

func (r *renderer) quantities(ns string, m map[string]string) corev1.ResourceList {
	if len(m) == 0 {
		return nil
	}
	out := corev1.ResourceList{}
	for k, v := range m {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			r.errs = append(r.errs, fmt.Errorf("namespace %s: %s=%q is not a quantity", ns, k, v))
			continue
		}
		out[corev1.ResourceName(k)] = q
	}
	return out
}

// LabelNetworkPrefix prefixes the pod label that says the pod is on a Compose network: network.agops.dev/<name>.
const LabelNetworkPrefix = "network.agops.dev/"
