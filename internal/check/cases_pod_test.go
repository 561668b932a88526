package check

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// hardenedJob is a Job with the fixture's hardening and no probes, which Jobs do not need.
const hardenedJob = `apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: lab}
spec:
  template:
    metadata: {labels: {app.kubernetes.io/name: migrate}}
    spec:
      restartPolicy: OnFailure
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: migrate
        image: ghcr.io/example/app:1.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
        resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 32Mi}}
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
`

const limitRange = `apiVersion: v1
kind: LimitRange
metadata: {name: defaults, namespace: lab}
spec:
  limits:
  - type: Container
    defaultRequest: {cpu: 50m, memory: 32Mi}
    default: {memory: 256Mi}
`

var imageCases = []ruleCase{
	{"invalid-image-latest-tag", ruleImageLatest, func(f *fixture) { f.app().Image = "qdrant/qdrant:latest" }},
	{"invalid-image-latest-no-tag", ruleImageLatest, func(f *fixture) { f.app().Image = "qdrant/qdrant" }},
	{"invalid-image-latest-registry-port", ruleImageLatest, func(f *fixture) { f.app().Image = "registry.lab:5000/app" }},
	{"invalid-image-latest-init-container", ruleImageLatest, func(f *fixture) { f.pod().InitContainers[0].Image = "busybox" }},
	{"valid-image-latest-tagged", ruleImageLatest, func(f *fixture) { f.app().Image = "registry.lab:5000/app:1.2" }},
	{"valid-image-latest-digest", ruleImageLatest, func(f *fixture) { f.app().Image = "qdrant/qdrant:latest@" + fixDigest }},
	{"invalid-image-not-pinned", ruleImageNotPinned, func(f *fixture) { f.app().Image = "qdrant/qdrant:v1.12.4" }},
	{"valid-image-not-pinned-digest", ruleImageNotPinned, nil},
	{"valid-image-not-pinned-latest-reported-once", ruleImageNotPinned, func(f *fixture) { f.app().Image = "qdrant/qdrant:latest" }},
}

var resourceCases = []ruleCase{
	{"invalid-requests-missing", ruleRequestsMissing, func(f *fixture) { f.app().Resources.Requests = nil }},
	{"invalid-requests-missing-cpu", ruleRequestsMissing, func(f *fixture) { delete(f.app().Resources.Requests, corev1.ResourceCPU) }},
	{"invalid-requests-missing-init", ruleRequestsMissing, func(f *fixture) { f.pod().InitContainers[0].Resources = corev1.ResourceRequirements{} }},
	{"invalid-requests-missing-zero", ruleRequestsMissing, func(f *fixture) { f.app().Resources.Requests[corev1.ResourceCPU] = resource.MustParse("0") }},
	{"valid-requests-missing-from-limits", ruleRequestsMissing, func(f *fixture) {
		f.app().Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")}}
	}},
	{"valid-requests-missing-limitrange", ruleRequestsMissing, func(f *fixture) {
		f.app().Resources = corev1.ResourceRequirements{}
		f.extra = limitRange
	}},
	{"invalid-memory-limit-missing", ruleMemoryLimitMissing, func(f *fixture) { f.app().Resources.Limits = nil }},
	{"valid-memory-limit-missing-limitrange", ruleMemoryLimitMissing, func(f *fixture) {
		f.app().Resources.Limits = nil
		f.extra = limitRange
	}},
	{"invalid-readiness-probe-missing", ruleReadinessMissing, func(f *fixture) { f.app().ReadinessProbe = nil }},
	{"valid-readiness-probe-missing-job", ruleReadinessMissing, func(f *fixture) { f.extra = hardenedJob }},
	{"valid-readiness-probe-missing-init-container", ruleReadinessMissing, nil},
	{"invalid-liveness-probe-missing", ruleLivenessMissing, func(f *fixture) { f.app().LivenessProbe = nil }},
	{"valid-liveness-probe-missing-job", ruleLivenessMissing, func(f *fixture) { f.extra = hardenedJob }},
}

// sc is the main container's security context.
func (f *fixture) sc() *corev1.SecurityContext { return f.app().SecurityContext }

var securityCases = []ruleCase{
	{"invalid-privileged", rulePrivileged, func(f *fixture) { f.sc().Privileged = ptr(true) }},
	{"valid-privileged-false", rulePrivileged, func(f *fixture) { f.sc().Privileged = ptr(false) }},
	{"invalid-host-namespace-network", ruleHostNamespace, func(f *fixture) { f.pod().HostNetwork = true }},
	{"invalid-host-namespace-pid-ipc", ruleHostNamespace, func(f *fixture) { f.pod().HostPID, f.pod().HostIPC = true, true }},
	{"valid-host-namespace", ruleHostNamespace, nil},
	{"invalid-host-path", ruleHostPath, func(f *fixture) { f.addVolume(hostPath("/srv/models")) }},
	{"valid-host-path-socket-is-runtime-socket", ruleHostPath, func(f *fixture) { f.addVolume(hostPath("/var/run/docker.sock")) }},
	{"valid-host-path-emptydir", ruleHostPath, func(f *fixture) {
		f.addVolume(corev1.Volume{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	}},
	{"invalid-runtime-socket-docker", ruleRuntimeSocket, func(f *fixture) { f.addVolume(hostPath("/var/run/docker.sock")) }},
	{"invalid-runtime-socket-k3s", ruleRuntimeSocket, func(f *fixture) { f.addVolume(hostPath("/run/k3s/containerd/containerd.sock")) }},
	{"invalid-runtime-socket-dir", ruleRuntimeSocket, func(f *fixture) { f.addVolume(hostPath("/var/run/")) }},
	{"valid-runtime-socket-other-path", ruleRuntimeSocket, func(f *fixture) { f.addVolume(hostPath("/srv/run")) }},
	{"invalid-host-port", ruleHostPort, func(f *fixture) { f.app().Ports[0].HostPort = 8080 }},
	{"valid-host-port", ruleHostPort, nil},
	{"invalid-capabilities-added", ruleCapabilitiesAdded, func(f *fixture) { f.sc().Capabilities.Add = []corev1.Capability{"NET_BIND_SERVICE", "SYS_ADMIN"} }},
	{"valid-capabilities-added-net-bind", ruleCapabilitiesAdded, func(f *fixture) { f.sc().Capabilities.Add = []corev1.Capability{"CAP_NET_BIND_SERVICE"} }},
	{"invalid-capabilities-not-dropped", ruleCapabilitiesKept, func(f *fixture) { f.sc().Capabilities.Drop = []corev1.Capability{"NET_RAW"} }},
	{"invalid-capabilities-not-dropped-nil", ruleCapabilitiesKept, func(f *fixture) { f.app().SecurityContext = nil }},
	{"valid-capabilities-not-dropped-lower-case", ruleCapabilitiesKept, func(f *fixture) { f.sc().Capabilities.Drop = []corev1.Capability{"all"} }},
	{"invalid-privilege-escalation-unset", rulePrivilegeEscalation, func(f *fixture) { f.sc().AllowPrivilegeEscalation = nil }},
	{"invalid-privilege-escalation-true", rulePrivilegeEscalation, func(f *fixture) { f.sc().AllowPrivilegeEscalation = ptr(true) }},
	{"valid-privilege-escalation", rulePrivilegeEscalation, nil},
	{"invalid-run-as-root-unset", ruleRunAsRoot, func(f *fixture) { f.pod().SecurityContext.RunAsNonRoot = nil }},
	{"invalid-run-as-root-uid-0", ruleRunAsRoot, func(f *fixture) { f.sc().RunAsUser = ptr(int64(0)) }},
	{"invalid-run-as-root-container-overrides", ruleRunAsRoot, func(f *fixture) { f.sc().RunAsNonRoot = ptr(false) }},
	{"valid-run-as-root-uid", ruleRunAsRoot, func(f *fixture) {
		f.pod().SecurityContext.RunAsNonRoot = nil
		f.pod().SecurityContext.RunAsUser = ptr(int64(1000))
	}},
	{"invalid-writable-root-fs", ruleWritableRootFS, func(f *fixture) { f.sc().ReadOnlyRootFilesystem = nil }},
	{"valid-writable-root-fs", ruleWritableRootFS, nil},
	{"invalid-seccomp-missing", ruleSeccompMissing, func(f *fixture) { f.pod().SecurityContext.SeccompProfile = nil }},
	{"invalid-seccomp-missing-unconfined", ruleSeccompMissing, func(f *fixture) {
		f.sc().SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
	}},
	{"valid-seccomp-missing-container-localhost", ruleSeccompMissing, func(f *fixture) {
		f.pod().SecurityContext.SeccompProfile = nil
		for i := range f.pod().InitContainers {
			f.pod().InitContainers[i].SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
		}
		f.sc().SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr("lab.json")}
	}},
	{"invalid-sa-token-automount-sa-unset", ruleTokenAutomount, func(f *fixture) { f.sa.AutomountServiceAccountToken = nil }},
	{"invalid-sa-token-automount-pod-overrides", ruleTokenAutomount, func(f *fixture) { f.pod().AutomountServiceAccountToken = ptr(true) }},
	{"invalid-sa-token-automount-default-account", ruleTokenAutomount, func(f *fixture) { f.pod().ServiceAccountName = "" }},
	{"valid-sa-token-automount-pod-false", ruleTokenAutomount, func(f *fixture) {
		f.sa.AutomountServiceAccountToken = ptr(true)
		f.pod().AutomountServiceAccountToken = ptr(false)
	}},
}

func hostPath(p string) corev1.Volume {
	return corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: p}}}
}

func (f *fixture) addVolume(v corev1.Volume) {
	f.pod().Volumes = append(f.pod().Volumes, v)
	f.app().VolumeMounts = append(f.app().VolumeMounts, corev1.VolumeMount{Name: v.Name, MountPath: "/mnt/" + v.Name})
}
