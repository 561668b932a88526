//go:build linux

package testbed

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// What a k3s cluster runs besides its nodes, on real nodes: cluster DNS (CoreDNS behind the kube-dns Service, as
// k3s and kubeadm name them, so NetworkPolicies that admit DNS by those labels work unchanged) and the
// NetworkPolicy enforcer k3s embeds (kube-router's network-policy controller, one per node, in the node's
// namespace as k3s runs it inside its agent).

const (
	coreDNSImage = "agops.test/coredns:testbed"
	dnsNamespace = "kube-system"
)

// corefile serves the cluster's names the way k3s's Corefile does, without forward: the test network has no
// upstream resolver, so other names fail at once instead of timing out.
const corefile = `.:53 {
    errors
    health :8080
    ready :8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
    loadbalance
}
`

// startAddons loads CoreDNS's image, creates its objects and starts one kube-router per node, then waits until
// DNS answers through its Service.
func (c *Cluster) startAddons(ctx context.Context) error {
	if !c.realNodes {
		return nil
	}
	img, err := c.imageArchive("coredns", c.nodeBins.CoreDNS, coreDNSImage, nil)
	if err != nil {
		return err
	}
	for _, r := range c.liveRealNodes() {
		if err := c.importArchive(ctx, r, img); err != nil {
			return err
		}
	}
	if err := c.createCoreDNS(ctx); err != nil {
		return fmt.Errorf("creating CoreDNS: %w", err)
	}
	for _, r := range c.liveRealNodes() {
		if err := c.startKubeRouter(r); err != nil {
			return fmt.Errorf("node %s: %w", r.spec.Name, err)
		}
	}
	return c.waitFor(ctx, "cluster DNS", func(ctx context.Context) (bool, error) {
		d, err := c.client.AppsV1().Deployments(dnsNamespace).Get(ctx, "coredns", metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == *d.Spec.Replicas, nil
	})
}

func (c *Cluster) createCoreDNS(ctx context.Context) error {
	cs := c.client
	labels := map[string]string{"k8s-app": "kube-dns"}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: dnsNamespace, Labels: labels}
	}
	create := func(what string, err error) error {
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "system:coredns"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"endpoints", "services", "pods", "namespaces"}, Verbs: []string{"list", "watch"}},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
		},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "system:coredns"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:coredns"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "coredns", Namespace: dnsNamespace}},
	}
	config := &corev1.ConfigMap{ObjectMeta: meta("coredns"), Data: map[string]string{"Corefile": corefile}}
	svc := &corev1.Service{
		ObjectMeta: meta("kube-dns"),
		Spec: corev1.ServiceSpec{
			Selector:  labels,
			ClusterIP: ClusterDNS,
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(53)},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(53)},
			},
		},
	}
	errs := []error{
		create("service account", ignore(cs.CoreV1().ServiceAccounts(dnsNamespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: meta("coredns")}, metav1.CreateOptions{}))),
		create("cluster role", ignore(cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}))),
		create("cluster role binding", ignore(cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}))),
		create("config map", ignore(cs.CoreV1().ConfigMaps(dnsNamespace).Create(ctx, config, metav1.CreateOptions{}))),
		create("service", ignore(cs.CoreV1().Services(dnsNamespace).Create(ctx, svc, metav1.CreateOptions{}))),
		create("deployment", ignore(cs.AppsV1().Deployments(dnsNamespace).Create(ctx, coreDNSDeployment(labels), metav1.CreateOptions{}))),
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// coreDNSDeployment runs two replicas on different nodes (as kubeadm does; k3s runs one), so that names keep
// resolving when a host is killed.
func coreDNSDeployment(labels map[string]string) *appsv1.Deployment {
	// The probes are lenient with time: on a busy 2-core machine an answer may take seconds, and a CoreDNS that its
	// liveness probe restarts, or whose readiness flaps, is a DNS outage for every pod of the test bed. Readiness
	// is still read every 2 s, so that a killed node's replica leaves the Service soon.
	probe := func(path string, port, period, timeout, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(port)}},
			PeriodSeconds: period, TimeoutSeconds: timeout, FailureThreshold: failures,
		}
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "coredns", Namespace: dnsNamespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: "coredns",
					DNSPolicy:          corev1.DNSDefault,
					PriorityClassName:  "system-cluster-critical",
					Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
							LabelSelector: &metav1.LabelSelector{MatchLabels: labels}, TopologyKey: corev1.LabelHostname,
						}},
					}},
					Tolerations: []corev1.Toleration{
						{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](10)},
						{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](10)},
					},
					Containers: []corev1.Container{{
						Name: "coredns", Image: coreDNSImage, ImagePullPolicy: corev1.PullNever,
						Args: []string{"-conf", "/etc/coredns/Corefile"},
						Ports: []corev1.ContainerPort{
							{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
							{Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP},
						},
						ReadinessProbe: probe("/ready", 8181, 2, 3, 3),
						LivenessProbe:  probe("/health", 8080, 10, 5, 6),
						VolumeMounts:   []corev1.VolumeMount{{Name: "config", MountPath: "/etc/coredns", ReadOnly: true}},
						SecurityContext: &corev1.SecurityContext{
							RunAsUser: ptr.To[int64](65532), RunAsNonRoot: ptr.To(true),
							AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
					Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{
						ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "coredns"}},
					}}},
				},
			},
		},
	}
}

// ignore drops a created object, keeping the error.
func ignore[T any](_ T, err error) error { return err }
