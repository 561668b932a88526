package check

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/agops/agops/internal/kube"
)

// fixture is a small namespace that passes every rule: a hardened two-replica Deployment with its budget, spread,
// Service, ConfigMap, Secret, ServiceAccount, default-deny policy and Pod Security label. A test case changes one
// thing and may add YAML documents.
type fixture struct {
	ns     *corev1.Namespace
	netpol *networkingv1.NetworkPolicy
	sa     *corev1.ServiceAccount
	cm     *corev1.ConfigMap
	pvc    *corev1.PersistentVolumeClaim
	dep    *appsv1.Deployment
	pdb    *policyv1.PodDisruptionBudget
	svc    *corev1.Service
	extra  string
}

const (
	fixNS     = "lab"
	fixDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

var appLabels = map[string]string{"app.kubernetes.io/name": "app"}

func ptr[T any](v T) *T { return &v }

func meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: fixNS}
}

// hardened is a container that passes every container rule.
func hardened(name string) corev1.Container {
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}}
	return corev1.Container{
		Name:  name,
		Image: "ghcr.io/example/app:1.0@" + fixDigest,
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
		},
		ReadinessProbe: probe,
		LivenessProbe:  probe,
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr(false),
			ReadOnlyRootFilesystem:   ptr(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "app-config"}}}},
		Env: []corev1.EnvVar{{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "app-secret"}, Key: "password"}}}},
	}
}

func newFixture() *fixture {
	init := hardened("init")
	init.ReadinessProbe, init.LivenessProbe, init.Ports = nil, nil, nil
	return &fixture{
		ns: &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{Name: fixNS, Labels: map[string]string{enforceLabel: "restricted"}}},
		netpol: &networkingv1.NetworkPolicy{TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
			ObjectMeta: meta("default-deny"),
			Spec:       networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{"Ingress", "Egress"}}},
		sa: &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta: meta("app"), AutomountServiceAccountToken: ptr(false)},
		cm: &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: meta("app-config"), Data: map[string]string{"LOG_LEVEL": "info"}},
		pvc: &corev1.PersistentVolumeClaim{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
			ObjectMeta: meta("data"), Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}}},
		dep: &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: meta("app"),
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr(int32(2)),
				Selector: &metav1.LabelSelector{MatchLabels: appLabels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: appLabels},
					Spec: corev1.PodSpec{
						ServiceAccountName: "app",
						SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr(true),
							SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
						InitContainers: []corev1.Container{init},
						Containers:     []corev1.Container{hardened("app")},
						TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: hostnameKey,
							WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: appLabels}}},
					},
				},
			}},
		pdb: &policyv1.PodDisruptionBudget{TypeMeta: metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
			ObjectMeta: meta("app"),
			Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(intstr.FromInt32(1)),
				Selector: &metav1.LabelSelector{MatchLabels: appLabels}}},
		svc: &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: meta("app"),
			Spec: corev1.ServiceSpec{Selector: appLabels,
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}},
	}
}

// secretYAML is the Secret the fixture's pods use; its data is never decoded.
const secretYAML = `apiVersion: v1
kind: Secret
metadata: {name: app-secret, namespace: lab}
data: {password: aHVudGVyMg==}
`

// pod is the Deployment's pod spec, and app its main container, for cases to change.
func (f *fixture) pod() *corev1.PodSpec   { return &f.dep.Spec.Template.Spec }
func (f *fixture) app() *corev1.Container { return &f.pod().Containers[0] }

// objects converts the fixture to what kube.Load returns; a nil object is left out.
func (f *fixture) objects(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, o := range []runtime.Object{f.ns, f.netpol, f.sa, f.cm, f.pvc, f.dep, f.pdb, f.svc} {
		if isNilPointer(o) {
			continue
		}
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	more, err := kube.Decode([]byte(secretYAML + "---\n" + f.extra))
	if err != nil {
		t.Fatalf("extra YAML: %v", err)
	}
	return append(out, more...)
}

func isNilPointer(o runtime.Object) bool {
	v := reflect.ValueOf(o)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
