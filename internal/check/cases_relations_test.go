package check

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var namespaceCases = []ruleCase{
	{"invalid-default-deny-missing", ruleDefaultDenyMissing, func(f *fixture) { f.netpol = nil }},
	{"invalid-default-deny-missing-ingress-only", ruleDefaultDenyMissing, func(f *fixture) { f.netpol.Spec.PolicyTypes = nil }},
	{"invalid-default-deny-missing-selects-some", ruleDefaultDenyMissing, func(f *fixture) {
		f.netpol.Spec.PodSelector = metav1.LabelSelector{MatchLabels: appLabels}
	}},
	{"invalid-default-deny-missing-allows-all-egress", ruleDefaultDenyMissing, func(f *fixture) {
		f.netpol.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{}}
	}},
	{"valid-default-deny-missing-two-policies", ruleDefaultDenyMissing, func(f *fixture) {
		f.netpol.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		f.extra = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-egress, namespace: lab}\n" +
			"spec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to: [{podSelector: {}}]\n"
	}},
	{"valid-default-deny-missing-no-workloads", ruleDefaultDenyMissing, func(f *fixture) {
		f.netpol, f.dep, f.pdb, f.svc = nil, nil, nil, nil
	}},
	{"invalid-policy-both-ways", rulePolicyBothWays, func(f *fixture) { f.extra = bothWaysPolicy("Ingress, Egress") }},
	{"valid-policy-both-ways-one-direction", rulePolicyBothWays, func(f *fixture) {
		f.extra = bothWaysPolicy("Ingress") + "---\n" + strings.Replace(bothWaysPolicy("Egress"), "name: app-peers", "name: app-peers-egress", 1)
	}},
	{"invalid-pod-security-label-missing", rulePodSecurityMissing, func(f *fixture) { f.ns.Labels = nil }},
	{"invalid-pod-security-label-missing-bad-level", rulePodSecurityMissing, func(f *fixture) { f.ns.Labels[enforceLabel] = "strict" }},
	{"valid-pod-security-label-missing-baseline", rulePodSecurityMissing, func(f *fixture) { f.ns.Labels[enforceLabel] = "baseline" }},
}

// bothWaysPolicy selects the app's pods with the given policy types, admits them on port 9090 and lets them open
// connections to each other: under the API's semantics the replicas cannot reach each other on the port they serve, 8080.
func bothWaysPolicy(types string) string {
	return "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: app-peers, namespace: lab}\n" +
		"spec:\n  podSelector: {matchLabels: {app.kubernetes.io/name: app}}\n  policyTypes: [" + types + "]\n" +
		"  ingress:\n  - from: [{podSelector: {matchLabels: {app.kubernetes.io/name: app}}}]\n    ports: [{port: 9090}]\n" +
		"  egress:\n  - to: [{podSelector: {matchLabels: {app.kubernetes.io/name: app}}}]\n"
}

var relationCases = []ruleCase{
	{"invalid-pdb-missing", rulePDBMissing, func(f *fixture) { f.pdb = nil }},
	{"invalid-pdb-missing-other-namespace", rulePDBMissing, func(f *fixture) { f.pdb.Namespace = "other" }},
	{"valid-pdb-missing-single-replica", rulePDBMissing, func(f *fixture) { f.pdb, f.dep.Spec.Replicas = nil, ptr(int32(1)) }},
	{"valid-pdb-missing-expression-selector", rulePDBMissing, func(f *fixture) {
		f.pdb.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "app.kubernetes.io/name", Operator: metav1.LabelSelectorOpIn, Values: []string{"app", "web"}}}}
	}},
	{"invalid-pdb-selects-nothing", rulePDBSelectsNothing, func(f *fixture) {
		f.pdb.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "gone"}}
	}},
	{"invalid-pdb-selects-nothing-null-selector", rulePDBSelectsNothing, func(f *fixture) { f.pdb.Spec.Selector = nil }},
	{"valid-pdb-selects-nothing-empty-selector", rulePDBSelectsNothing, func(f *fixture) { f.pdb.Spec.Selector = &metav1.LabelSelector{} }},
	{"invalid-pdb-blocks-eviction-max-zero", rulePDBBlocksEviction, func(f *fixture) { f.pdb.Spec.MaxUnavailable = ptr(intstr.FromString("0%")) }},
	{"invalid-pdb-blocks-eviction-min-all", rulePDBBlocksEviction, func(f *fixture) {
		f.pdb.Spec.MaxUnavailable, f.pdb.Spec.MinAvailable = nil, ptr(intstr.FromInt32(2))
	}},
	{"invalid-pdb-blocks-eviction-min-percent", rulePDBBlocksEviction, func(f *fixture) {
		f.pdb.Spec.MaxUnavailable, f.pdb.Spec.MinAvailable = nil, ptr(intstr.FromString("100%"))
	}},
	{"valid-pdb-blocks-eviction-min-one", rulePDBBlocksEviction, func(f *fixture) {
		f.pdb.Spec.MaxUnavailable, f.pdb.Spec.MinAvailable = nil, ptr(intstr.FromInt32(1))
	}},
	{"invalid-spread-missing", ruleSpreadMissing, func(f *fixture) { f.pod().TopologySpreadConstraints = nil }},
	{"invalid-spread-missing-zone-only", ruleSpreadMissing, func(f *fixture) {
		f.pod().TopologySpreadConstraints[0].TopologyKey = "topology.kubernetes.io/zone"
	}},
	{"valid-spread-missing-anti-affinity", ruleSpreadMissing, func(f *fixture) {
		f.pod().TopologySpreadConstraints = nil
		f.pod().Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 100,
				PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: hostnameKey, LabelSelector: &metav1.LabelSelector{MatchLabels: appLabels}}}}}}
	}},
	{"valid-spread-missing-single-replica", ruleSpreadMissing, func(f *fixture) {
		f.pod().TopologySpreadConstraints, f.dep.Spec.Replicas = nil, ptr(int32(1))
	}},
	{"invalid-rwo-volume-shared", ruleRWOShared, func(f *fixture) { f.addVolume(claim("data")) }},
	{"valid-rwo-volume-shared-rwx", ruleRWOShared, func(f *fixture) {
		f.pvc.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		f.addVolume(claim("data"))
	}},
	{"valid-rwo-volume-shared-single-replica", ruleRWOShared, func(f *fixture) {
		f.dep.Spec.Replicas = ptr(int32(1))
		f.addVolume(claim("data"))
	}},
	{"invalid-service-selects-nothing", ruleServiceSelectsNone, func(f *fixture) {
		f.svc.Spec.Selector = map[string]string{"app.kubernetes.io/name": "gone"}
	}},
	{"valid-service-selects-nothing-external-name", ruleServiceSelectsNone, func(f *fixture) {
		f.svc.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com",
			Selector: map[string]string{"app.kubernetes.io/name": "gone"}}
	}},
	{"valid-service-selects-nothing-no-selector", ruleServiceSelectsNone, func(f *fixture) { f.svc.Spec.Selector = nil }},
	{"invalid-service-target-port", ruleServiceTargetPort, func(f *fixture) { f.svc.Spec.Ports[0].TargetPort = intstr.FromString("web") }},
	{"valid-service-target-port-number", ruleServiceTargetPort, func(f *fixture) { f.svc.Spec.Ports[0].TargetPort = intstr.FromInt32(9999) }},
}

func claim(name string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name}}}
}

var referenceCases = []ruleCase{
	{"invalid-missing-reference-configmap", ruleMissingReference, func(f *fixture) { f.cm = nil }},
	{"invalid-missing-reference-claim", ruleMissingReference, func(f *fixture) {
		f.dep.Spec.Replicas = ptr(int32(1))
		f.addVolume(claim("models"))
	}},
	{"invalid-missing-reference-service-account", ruleMissingReference, func(f *fixture) { f.sa = nil }},
	{"valid-missing-reference-optional", ruleMissingReference, func(f *fixture) {
		f.cm = nil
		f.app().EnvFrom[0].ConfigMapRef.Optional = ptr(true)
		f.pod().InitContainers[0].EnvFrom[0].ConfigMapRef.Optional = ptr(true)
	}},
	{"valid-missing-reference-provided", ruleMissingReference, func(f *fixture) {
		f.pod().ServiceAccountName = "default"
		f.pod().AutomountServiceAccountToken = ptr(false)
		f.addVolume(corev1.Volume{Name: "ca", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}}}})
	}},
	{"invalid-secret-external", ruleSecretNotInManifests, func(f *fixture) {
		f.pod().ImagePullSecrets = []corev1.LocalObjectReference{{Name: "ghcr-pull"}}
	}},
	{"valid-secret-external-present", ruleSecretNotInManifests, nil},
	{"valid-secret-external-optional", ruleSecretNotInManifests, func(f *fixture) {
		f.addVolume(corev1.Volume{Name: "extra", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: "maybe", Optional: ptr(true)}}})
	}},
	{"invalid-deprecated-api", ruleDeprecatedAPI, func(f *fixture) {
		f.extra = "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: old, namespace: lab}\nspec: {maxUnavailable: 1}\n"
	}},
	{"invalid-deprecated-api-psp", ruleDeprecatedAPI, func(f *fixture) {
		f.extra = "apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata: {name: old}\n"
	}},
	{"valid-deprecated-api", ruleDeprecatedAPI, nil},
	{"invalid-unknown-ignore", ruleUnknownIgnore, func(f *fixture) {
		f.dep.Annotations = map[string]string{IgnoreAnnotation: "image-latest, no-such-rule"}
	}},
	{"valid-unknown-ignore", ruleUnknownIgnore, func(f *fixture) {
		f.dep.Annotations = map[string]string{IgnoreAnnotation: " image-latest ,run-as-root,"}
	}},
}
