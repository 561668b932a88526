package k8s

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/agops/agops/internal/model"
)

func (r *renderer) container(w *model.Workload, c model.Container) corev1.Container {
	out := corev1.Container{
		Name:            c.Name,
		Image:           c.Image,
		ImagePullPolicy: corev1.PullPolicy(c.PullPolicy),
		Command:         c.Command,
		Args:            c.Args,
		WorkingDir:      c.WorkingDir,
		Stdin:           c.Stdin,
		TTY:             c.TTY,
		ReadinessProbe:  probe(c.Readiness),
		LivenessProbe:   probe(c.Liveness),
		StartupProbe:    probe(c.Startup),
		Resources:       r.resources(w, c),
		SecurityContext: securityContext(c.Security),
	}
	if c.Sidecar {
		always := corev1.ContainerRestartPolicyAlways
		out.RestartPolicy = &always
	}
	for _, p := range c.Ports {
		out.Ports = append(out.Ports, corev1.ContainerPort{Name: p.Name, ContainerPort: p.Port, Protocol: corev1.Protocol(p.Protocol)})
	}
	for _, e := range c.EnvFrom {
		switch {
		case e.ConfigMap != "":
			out.EnvFrom = append(out.EnvFrom, corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: e.ConfigMap}}})
		case e.Secret != "":
			out.EnvFrom = append(out.EnvFrom, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: e.Secret}}})
		}
	}
	for _, e := range c.Env {
		out.Env = append(out.Env, envVar(e))
	}
	for _, m := range c.Mounts {
		out.VolumeMounts = append(out.VolumeMounts, corev1.VolumeMount{Name: m.Volume, MountPath: m.Path, SubPath: m.SubPath, ReadOnly: m.ReadOnly})
	}
	if len(c.PostStart)+len(c.PreStop) > 0 {
		out.Lifecycle = &corev1.Lifecycle{}
		if len(c.PostStart) > 0 {
			out.Lifecycle.PostStart = &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: c.PostStart}}
		}
		if len(c.PreStop) > 0 {
			out.Lifecycle.PreStop = &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: c.PreStop}}
		}
	}
	return out
}

func envVar(e model.EnvVar) corev1.EnvVar {
	v := corev1.EnvVar{Name: e.Name, Value: e.Value}
	switch {
	case e.SecretRef != nil:
		v.ValueFrom = &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: e.SecretRef.Name}, Key: e.SecretRef.Key,
		}}
	case e.FieldPath != "":
		v.ValueFrom = &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: e.FieldPath}}
	}
	return v
}

func probe(p *model.Probe) *corev1.Probe {
	if p == nil {
		return nil
	}
	out := &corev1.Probe{
		InitialDelaySeconds: p.InitialDelaySeconds,
		PeriodSeconds:       p.PeriodSeconds,
		TimeoutSeconds:      p.TimeoutSeconds,
		FailureThreshold:    p.FailureThreshold,
	}
	switch {
	case len(p.Exec) > 0:
		out.Exec = &corev1.ExecAction{Command: p.Exec}
	case p.HTTPGet != nil:
		out.HTTPGet = &corev1.HTTPGetAction{Path: p.HTTPGet.Path, Port: intstr.FromInt32(p.HTTPGet.Port)}
	case p.GRPC != nil:
		out.GRPC = &corev1.GRPCAction{Port: p.GRPC.Port}
		if p.GRPC.Service != "" {
			svc := p.GRPC.Service
			out.GRPC.Service = &svc
		}
	default:
		out.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromInt32(p.TCPPort)}
	}
	return out
}

// resources converts quantities; a bad one is reported with the workload and container it belongs to.
func (r *renderer) resources(w *model.Workload, c model.Container) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: r.resourceList(w, c, "requests", c.Resources.Requests),
		Limits:   r.resourceList(w, c, "limits", c.Resources.Limits),
	}
}

func (r *renderer) resourceList(w *model.Workload, c model.Container, what string, m map[string]string) corev1.ResourceList {
	if len(m) == 0 {
		return nil
	}
	out := corev1.ResourceList{}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		q, err := resource.ParseQuantity(m[k])
		if err != nil {
			r.errs = append(r.errs, fmt.Errorf("service %q: container %s: %s.%s: %q is not a Kubernetes quantity", w.Service, c.Name, what, k, m[k]))
			continue
		}
		out[corev1.ResourceName(k)] = q
	}
	return out
}

func securityContext(s model.Security) *corev1.SecurityContext {
	sc := &corev1.SecurityContext{
		RunAsUser:                s.RunAsUser,
		RunAsGroup:               s.RunAsGroup,
		RunAsNonRoot:             s.RunAsNonRoot,
		ReadOnlyRootFilesystem:   boolOrNil(s.ReadOnlyRootFilesystem),
		Privileged:               boolOrNil(s.Privileged),
		AllowPrivilegeEscalation: s.AllowPrivilegeEscalation,
		SeccompProfile:           seccomp(s.Seccomp),
		AppArmorProfile:          apparmor(s.AppArmor),
	}
	if len(s.CapAdd)+len(s.CapDrop) > 0 {
		sc.Capabilities = &corev1.Capabilities{}
		for _, c := range s.CapAdd {
			sc.Capabilities.Add = append(sc.Capabilities.Add, corev1.Capability(c))
		}
		for _, c := range s.CapDrop {
			sc.Capabilities.Drop = append(sc.Capabilities.Drop, corev1.Capability(c))
		}
	}
	if s.SELinuxType != "" || s.SELinuxLevel != "" {
		sc.SELinuxOptions = &corev1.SELinuxOptions{Type: s.SELinuxType, Level: s.SELinuxLevel}
	}
	if *sc == (corev1.SecurityContext{}) {
		return nil
	}
	return sc
}

func seccomp(s string) *corev1.SeccompProfile {
	switch {
	case s == "":
		return nil
	case strings.HasPrefix(s, "Localhost:"):
		p := strings.TrimPrefix(s, "Localhost:")
		return &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: &p}
	}
	return &corev1.SeccompProfile{Type: corev1.SeccompProfileType(s)}
}

func apparmor(s string) *corev1.AppArmorProfile {
	switch {
	case s == "":
		return nil
	case strings.HasPrefix(s, "Localhost:"):
		p := strings.TrimPrefix(s, "Localhost:")
		return &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeLocalhost, LocalhostProfile: &p}
	}
	return &corev1.AppArmorProfile{Type: corev1.AppArmorProfileType(s)}
}

func (r *renderer) volumes(w *model.Workload) []corev1.Volume {
	var out []corev1.Volume
	templates := map[string]bool{}
	for _, c := range w.ClaimTemplates {
		templates[c.Name] = true
	}
	for _, v := range w.Pod.Volumes {
		if v.Claim != "" && templates[v.Claim] {
			continue // a StatefulSet mounts its replica's claim by the template's name
		}
		if v.EmptyDir != nil && v.EmptyDir.SizeLimit != "" {
			if _, err := resource.ParseQuantity(v.EmptyDir.SizeLimit); err != nil {
				r.errs = append(r.errs, fmt.Errorf("service %q: volume %s: size %q is not a Kubernetes quantity", w.Service, v.Name, v.EmptyDir.SizeLimit))
			}
		}
		out = append(out, corev1.Volume{Name: v.Name, VolumeSource: volumeSource(v)})
	}
	return out
}

func volumeSource(v model.Volume) corev1.VolumeSource {
	switch {
	case v.Claim != "":
		return corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: v.Claim}}
	case v.ConfigMap != nil:
		return corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: v.ConfigMap.Name}, Items: keyPaths(v.ConfigMap.Items), DefaultMode: v.ConfigMap.Mode,
		}}
	case v.Secret != nil:
		return corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: v.Secret.Name, Items: keyPaths(v.Secret.Items), DefaultMode: v.Secret.Mode}}
	case len(v.Projected) > 0:
		return corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: projections(v.Projected)}}
	case v.EmptyDir != nil:
		ed := &corev1.EmptyDirVolumeSource{}
		if v.EmptyDir.Memory {
			ed.Medium = corev1.StorageMediumMemory
		}
		if v.EmptyDir.SizeLimit != "" {
			if q, err := resource.ParseQuantity(v.EmptyDir.SizeLimit); err == nil {
				ed.SizeLimit = &q
			}
		}
		return corev1.VolumeSource{EmptyDir: ed}
	case v.HostPath != nil:
		hp := &corev1.HostPathVolumeSource{Path: v.HostPath.Path}
		if v.HostPath.Type != "" {
			t := corev1.HostPathType(v.HostPath.Type)
			hp.Type = &t
		}
		return corev1.VolumeSource{HostPath: hp}
	case v.ServiceAccountToken:
		return corev1.VolumeSource{Projected: tokenProjection()}
	case v.AudienceToken != "":
		expiry := int64(3600)
		return corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: v.AudienceToken, Path: "token", ExpirationSeconds: &expiry}},
		}}}
	}
	return corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
}

// tokenProjection is what the kubelet mounts for automountServiceAccountToken, for one container only.
func tokenProjection() *corev1.ProjectedVolumeSource {
	expiry := int64(3607)
	return &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
		{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: &expiry}},
		{ConfigMap: &corev1.ConfigMapProjection{
			LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
			Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
		}},
		{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}},
		}}},
	}}
}

func keyPaths(kps []model.KeyPath) []corev1.KeyToPath {
	var out []corev1.KeyToPath
	for _, k := range kps {
		out = append(out, corev1.KeyToPath{Key: k.Key, Path: k.Path, Mode: k.Mode})
	}
	return out
}

func projections(ps []model.ProjectedSource) []corev1.VolumeProjection {
	var out []corev1.VolumeProjection
	for _, p := range ps {
		switch {
		case p.Secret != nil:
			out = append(out, corev1.VolumeProjection{Secret: &corev1.SecretProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: p.Secret.Name}, Items: keyPaths(p.Secret.Items),
			}})
		case p.ConfigMap != nil:
			out = append(out, corev1.VolumeProjection{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: p.ConfigMap.Name}, Items: keyPaths(p.ConfigMap.Items),
			}})
		}
	}
	return out
}

func (r *renderer) claim(c model.Claim) Object {
	if c.External {
		return nil
	}
	pvc := &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: r.meta(c.Namespace, c.Name, nil),
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.PersistentVolumeAccessMode(c.AccessMode)},
		},
	}
	pvc.Annotations = map[string]string{"agops.dev/compose-volume": c.Volume}
	if q, err := resource.ParseQuantity(c.Size); err == nil {
		pvc.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: q}
	} else {
		r.errs = append(r.errs, fmt.Errorf("volume %s: size %q is not a Kubernetes quantity (like 10Gi)", c.Volume, c.Size))
	}
	if c.StorageClass != "" {
		sc := c.StorageClass
		pvc.Spec.StorageClassName = &sc
	}
	return pvc
}
