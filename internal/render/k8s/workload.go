package k8s

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/agops/agops/internal/model"
)

// RenderWorkload returns the objects of one workload of p for a variant, as Render returns them. Only workloads
// differ between the variants, so an overlay can be rendered one workload at a time.
func RenderWorkload(p *model.Project, w *model.Workload, o Options) ([]Item, error) {
	r := &renderer{p: p, o: o}
	r.workload(w)
	return r.result()
}

// WorkloadFile is the file of the base that holds a workload's objects.
func WorkloadFile(w *model.Workload) string { return w.Name + ".yaml" }

// workload renders everything that belongs to one workload into its own file.
func (r *renderer) workload(w *model.Workload) {
	file := WorkloadFile(w)
	r.add(file, r.serviceAccount(w))
	for _, ns := range w.WaitsIn {
		r.add(file, r.waitBinding(w, ns))
	}
	for _, role := range w.ClusterRoles {
		r.add(file, r.clusterRoleBinding(w, role))
	}
	pod := r.podTemplate(w)
	replicas := r.replicas(w)
	meta := r.meta(w.Namespace, w.Name, map[string]string{LabelName: w.Name})
	meta.Annotations = map[string]string{AnnotService: w.Service}
	sel := &metav1.LabelSelector{MatchLabels: r.selector(w)}
	switch w.Kind {
	case model.Deployment:
		d := &appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: meta,
			Spec:       appsv1.DeploymentSpec{Replicas: &replicas, Selector: sel, Template: pod},
		}
		if w.UsesClaim() || w.UsesAccelerator() {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		}
		r.add(file, d)
	case model.StatefulSet:
		ss := &appsv1.StatefulSet{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
			ObjectMeta: meta,
			Spec:       appsv1.StatefulSetSpec{Replicas: &replicas, Selector: sel, Template: pod, ServiceName: governingService(w)},
		}
		for _, c := range w.ClaimTemplates {
			if pvc, ok := r.claim(c).(*corev1.PersistentVolumeClaim); ok {
				ss.Spec.VolumeClaimTemplates = append(ss.Spec.VolumeClaimTemplates, corev1.PersistentVolumeClaim{
					ObjectMeta: metav1.ObjectMeta{Name: pvc.Name, Labels: pvc.Labels, Annotations: pvc.Annotations}, Spec: pvc.Spec,
				})
			}
		}
		r.add(file, ss)
	case model.DaemonSet:
		r.add(file, &appsv1.DaemonSet{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
			ObjectMeta: meta,
			Spec:       appsv1.DaemonSetSpec{Selector: sel, Template: pod},
		})
	case model.Job:
		r.add(file, &batchv1.Job{
			TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
			ObjectMeta: meta,
			Spec:       batchv1.JobSpec{BackoffLimit: w.BackoffLimit, Template: pod},
		})
	}
	for _, s := range w.Services {
		r.add(file, r.service(w, s))
	}
	if w.External != nil {
		r.add(file, r.service(w, *w.External))
	}
	if r.o.Variant == HA && replicas >= 2 {
		r.add(file, r.pdb(w))
	}
}

func (r *renderer) replicas(w *model.Workload) int32 {
	if r.o.Variant == HA {
		return w.HAReplicas
	}
	return w.Replicas
}

func governingService(w *model.Workload) string {
	if len(w.Services) > 0 {
		return w.Services[0].Name
	}
	return w.Name
}

func (r *renderer) pdb(w *model.Workload) Object {
	one := intstr.FromInt32(1)
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: r.meta(w.Namespace, w.Name, map[string]string{LabelName: w.Name}),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: &one,
			Selector:       &metav1.LabelSelector{MatchLabels: r.selector(w)},
		},
	}
}

func (r *renderer) service(w *model.Workload, s model.Service) Object {
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: r.meta(w.Namespace, s.Name, map[string]string{LabelName: w.Name}),
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceType(s.Type), Selector: r.selector(w)},
	}
	if s.Headless {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	for _, p := range s.Ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
			Name: p.Name, Port: p.Port, TargetPort: intstr.FromInt32(p.TargetPort), Protocol: corev1.Protocol(p.Protocol),
		})
	}
	svc.Spec.LoadBalancerSourceRanges = s.LoadBalancerSourceRanges
	return svc
}

// podTemplate renders the pod of a workload, with the ha settings when rendering the ha overlay.
func (r *renderer) podTemplate(w *model.Workload) corev1.PodTemplateSpec {
	no := false
	spec := corev1.PodSpec{
		ServiceAccountName:            w.ServiceAccount,
		AutomountServiceAccountToken:  &no,
		EnableServiceLinks:            &no,
		RestartPolicy:                 corev1.RestartPolicy(w.Pod.RestartPolicy),
		TerminationGracePeriodSeconds: w.Pod.TerminationGracePeriodSeconds,
		HostNetwork:                   w.Pod.HostNetwork,
		HostPID:                       w.Pod.HostPID,
		HostIPC:                       w.Pod.HostIPC,
		Hostname:                      w.Pod.Hostname,
		ShareProcessNamespace:         boolOrNil(w.Pod.ShareProcessNamespace),
		NodeSelector:                  w.Pod.NodeSelector,
		Volumes:                       r.volumes(w),
		Tolerations:                   tolerations(w.Pod.Tolerations),
	}
	if w.Pod.RuntimeClass != "" {
		rc := w.Pod.RuntimeClass
		spec.RuntimeClassName = &rc
	}
	if w.Pod.HostNetwork {
		spec.DNSPolicy = corev1.DNSClusterFirstWithHostNet
	}
	spec.SecurityContext = podSecurity(w)
	spec.DNSConfig = dnsConfig(w.Pod.DNS)
	for _, h := range w.Pod.HostAliases {
		spec.HostAliases = append(spec.HostAliases, corev1.HostAlias{IP: h.IP, Hostnames: h.Hostnames})
	}
	for _, c := range w.Pod.InitContainers {
		spec.InitContainers = append(spec.InitContainers, r.container(w, c))
	}
	for _, c := range w.Pod.Containers {
		spec.Containers = append(spec.Containers, r.container(w, c))
	}
	if r.o.Variant == HA {
		r.haPod(w, &spec)
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: r.podLabels(w), Annotations: map[string]string{AnnotService: w.Service}},
		Spec:       spec,
	}
}

func (r *renderer) podLabels(w *model.Workload) map[string]string {
	l := r.selector(w)
	l[LabelPartOf] = r.p.Instance
	l[LabelManagedBy] = "agops"
	for _, n := range w.Networks {
		l[LabelNetworkPrefix+n] = "true"
	}
	return l
}

// haPod adds the fast-failover tolerations and, for replicated workloads, spreading over nodes.
func (r *renderer) haPod(w *model.Workload, spec *corev1.PodSpec) {
	if w.Kind == model.Deployment || w.Kind == model.StatefulSet {
		secs := int64(FailoverSeconds)
		for _, key := range []string{"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"} {
			spec.Tolerations = append(spec.Tolerations, corev1.Toleration{
				Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &secs,
			})
		}
	}
	if r.replicas(w) >= 2 {
		honor := corev1.NodeInclusionPolicyHonor
		tsc := corev1.TopologySpreadConstraint{
			MaxSkew:           1,
			TopologyKey:       "kubernetes.io/hostname",
			WhenUnsatisfiable: corev1.DoNotSchedule,
			LabelSelector:     &metav1.LabelSelector{MatchLabels: r.selector(w)},
			NodeTaintsPolicy:  &honor,
		}
		if w.Kind == model.Deployment {
			tsc.MatchLabelKeys = []string{"pod-template-hash"}
		}
		spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{tsc}
	}
}

func boolOrNil(b bool) *bool {
	if !b {
		return nil
	}
	return &b
}

func tolerations(ts []model.Toleration) []corev1.Toleration {
	var out []corev1.Toleration
	for _, t := range ts {
		out = append(out, corev1.Toleration{
			Key: t.Key, Operator: corev1.TolerationOperator(t.Operator), Value: t.Value,
			Effect: corev1.TaintEffect(t.Effect), TolerationSeconds: t.Seconds,
		})
	}
	return out
}

func podSecurity(w *model.Workload) *corev1.PodSecurityContext {
	psc := &corev1.PodSecurityContext{FSGroup: w.Pod.FSGroup, SupplementalGroups: w.Pod.SupplementalGroups}
	for _, s := range w.Pod.Sysctls {
		psc.Sysctls = append(psc.Sysctls, corev1.Sysctl{Name: s.Name, Value: s.Value})
	}
	if psc.FSGroup == nil && len(psc.SupplementalGroups) == 0 && len(psc.Sysctls) == 0 {
		return nil
	}
	return psc
}

func dnsConfig(d *model.DNS) *corev1.PodDNSConfig {
	if d == nil {
		return nil
	}
	cfg := &corev1.PodDNSConfig{Nameservers: d.Nameservers, Searches: d.Searches}
	for _, o := range d.Options {
		opt := corev1.PodDNSConfigOption{Name: o.Name}
		if o.Value != "" {
			v := o.Value
			opt.Value = &v
		}
		cfg.Options = append(cfg.Options, opt)
	}
	return cfg
}
