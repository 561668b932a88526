package cluster

import (
	"bytes"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agops/agops/internal/render/k8s"
)

// Images of the cluster-side manifests, pinned by tag. Their digests are left to the user (a placeholder comment
// in each file says how): this machine cannot reach the registries to resolve them.
const (
	KubeVIPImage      = "ghcr.io/kube-vip/kube-vip:v0.8.7"
	NVIDIAPluginImage = "nvcr.io/nvidia/k8s-device-plugin:v0.17.1"
	AMDPluginImage    = "docker.io/rocm/k8s-device-plugin:1.31.0.10"
	// GenericPluginImage serves NPUs: a generic plugin that exposes device files as a resource. It is not NPU
	// specific; prefer your NPU vendor's plugin when there is one.
	GenericPluginImage = "docker.io/squat/generic-device-plugin:latest"
)

const (
	systemNamespace = "kube-system"
	partOf          = "agops-cluster"
	devicePluginDir = "/var/lib/kubelet/device-plugins"
	// npuDevices are the device files of NPUs on Linux's compute-accelerator subsystem.
	npuDevices = "/dev/accel/accel*"
)

// manifestFiles returns the cluster-side manifests: kube-vip (k3s only; Talos moves its VIP itself),
// RuntimeClasses and device plugins for the accelerators present. Keys are file names under manifests/.
func (s Spec) manifestFiles() (map[string][]byte, error) {
	type file struct {
		name   string
		images []string
		objs   []k8s.Object
	}
	var files []file
	if s.Distro == K3s {
		files = append(files, file{"kube-vip.yaml", []string{KubeVIPImage}, kubeVIP(s)})
	}
	kinds := s.Kinds()
	if rcs := runtimeClasses(kinds); len(rcs) > 0 {
		files = append(files, file{"runtimeclasses.yaml", nil, rcs})
	}
	for _, k := range kinds {
		switch k {
		case NVIDIA:
			files = append(files, file{"nvidia-device-plugin.yaml", []string{NVIDIAPluginImage}, []k8s.Object{nvidiaPlugin()}})
		case AMD:
			files = append(files, file{"amd-device-plugin.yaml", []string{AMDPluginImage}, []k8s.Object{amdPlugin()}})
		case NPU:
			files = append(files, file{"npu-device-plugin.yaml", []string{GenericPluginImage}, []k8s.Object{npuPlugin(s.Resource(NPU))}})
		}
	}
	out := map[string][]byte{}
	for _, f := range files {
		s.pin(f.objs)
		data, err := docs(f.images, s.Digests, f.objs...)
		if err != nil {
			return nil, fmt.Errorf("manifests/%s: %w", f.name, err)
		}
		out[f.name] = data
	}
	return out, nil
}

// Images lists every image the manifests/ folder uses (images.txt), for an air-gapped bundle.
func (s Spec) Images() []string {
	var out []string
	if s.Distro == K3s {
		out = append(out, KubeVIPImage)
	}
	for _, k := range s.Kinds() {
		out = append(out, map[Kind]string{NVIDIA: NVIDIAPluginImage, AMD: AMDPluginImage, NPU: GenericPluginImage}[k])
	}
	return out
}

// pin rewrites the images of the DaemonSets in objs that Digests pins to reference@digest.
func (s Spec) pin(objs []k8s.Object) {
	for _, o := range objs {
		ds, ok := o.(*appsv1.DaemonSet)
		if !ok {
			continue
		}
		for i, c := range ds.Spec.Template.Spec.Containers {
			if d, ok := s.Digests[c.Image]; ok {
				ds.Spec.Template.Spec.Containers[i].Image = c.Image + "@" + d
			}
		}
	}
}

// Pinned tells whether every image of the cluster-side manifests is pinned by digest.
func (s Spec) Pinned() bool {
	for _, img := range s.Images() {
		if s.Digests[img] == "" {
			return false
		}
	}
	return true
}

// docs serialises objects as one YAML stream, after a header that says how each image is pinned.
func docs(images []string, digests map[string]string, objs ...k8s.Object) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# Written by agops cluster init.\n")
	for _, img := range images {
		if d, ok := digests[img]; ok {
			fmt.Fprintf(&b, "# Pinned to the air-gap bundle's digest: %s@%s\n", img, d)
			continue
		}
		fmt.Fprintf(&b, "# Pin before an air-gapped install: %s@sha256:<digest> (agops cluster init --bundle, or crane digest %s)\n", img, img)
	}
	for i, o := range objs {
		if i > 0 {
			b.WriteString("---\n")
		}
		data, err := k8s.Encode(o) // sorted keys, without status and creationTimestamp
		if err != nil {
			return nil, err
		}
		b.Write(data)
	}
	return b.Bytes(), nil
}

func meta(name, namespace string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{
		"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": partOf,
	}}
}

func runtimeClasses(kinds []Kind) []k8s.Object {
	var out []k8s.Object
	for _, k := range kinds {
		if k == NVIDIA { // AMD's and the generic plugin pass devices through the default runtime (runc)
			out = append(out, &nodev1.RuntimeClass{
				TypeMeta:   metav1.TypeMeta{APIVersion: "node.k8s.io/v1", Kind: "RuntimeClass"},
				ObjectMeta: meta("nvidia", ""), Handler: "nvidia",
			})
		}
	}
	return out
}

// kubeVIP is kube-vip in ARP mode on the control-plane nodes, holding the VIP for the API server (not Services:
// k3s's servicelb serves LoadBalancer Services).
func kubeVIP(s Spec) []k8s.Object {
	sa := &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: meta("kube-vip", systemNamespace)}
	role := &rbacv1.ClusterRole{
		TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"}, ObjectMeta: meta("agops-kube-vip", ""),
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"services", "endpoints", "nodes"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"services/status"}, Verbs: []string{"update"}},
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "watch", "create", "update"}},
		},
	}
	binding := &rbacv1.ClusterRoleBinding{
		TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"}, ObjectMeta: meta("agops-kube-vip", ""),
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "agops-kube-vip"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "kube-vip", Namespace: systemNamespace}},
	}
	return []k8s.Object{sa, role, binding, kubeVIPDaemonSet(s)}
}

func kubeVIPDaemonSet(s Spec) *appsv1.DaemonSet {
	bits := 32
	if s.VIP.Is6() {
		bits = 128
	}
	env := []corev1.EnvVar{
		{Name: "vip_arp", Value: "true"}, {Name: "address", Value: s.VIP.String()}, {Name: "port", Value: "6443"},
		{Name: "vip_cidr", Value: strconv.Itoa(bits)}, {Name: "cp_enable", Value: "true"}, {Name: "cp_namespace", Value: systemNamespace},
		{Name: "svc_enable", Value: "false"}, {Name: "vip_leaderelection", Value: "true"}, {Name: "vip_leasename", Value: "plndr-cp-lock"},
		{Name: "vip_leaseduration", Value: "5"}, {Name: "vip_renewdeadline", Value: "3"}, {Name: "vip_retryperiod", Value: "1"},
		{Name: "vip_nodename", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
	}
	if s.Interface != "" {
		env = append(env, corev1.EnvVar{Name: "vip_interface", Value: s.Interface})
	}
	c := corev1.Container{
		Name: "kube-vip", Image: KubeVIPImage, Args: []string{"manager"}, Env: env,
		ImagePullPolicy: corev1.PullIfNotPresent,
		SecurityContext: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{
			Add: []corev1.Capability{"NET_ADMIN", "NET_RAW"}, Drop: []corev1.Capability{"ALL"},
		}},
	}
	pod := corev1.PodSpec{
		ServiceAccountName: "kube-vip", HostNetwork: true, PriorityClassName: "system-node-critical",
		NodeSelector: map[string]string{"node-role.kubernetes.io/control-plane": "true"},
		Tolerations:  tolerateAll(), Containers: []corev1.Container{c},
	}
	return daemonSet("kube-vip", pod)
}

// tolerateAll lets a node agent run on tainted nodes: accelerator nodes, and nodes going through trouble.
func tolerateAll() []corev1.Toleration {
	return []corev1.Toleration{
		{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	}
}

func daemonSet(name string, pod corev1.PodSpec) *appsv1.DaemonSet {
	m := meta(name, systemNamespace)
	sel := map[string]string{"app.kubernetes.io/name": name}
	return &appsv1.DaemonSet{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"}, ObjectMeta: m,
		Spec: appsv1.DaemonSetSpec{
			Selector:       &metav1.LabelSelector{MatchLabels: sel},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
			Template:       corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: m.Labels}, Spec: pod},
		},
	}
}
