package cluster

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// acceleratorPod is the pod of a device plugin: only on nodes labelled with its kind, tolerating their taint.
func acceleratorPod(k Kind, resourceName string, c corev1.Container, volumes []corev1.Volume) corev1.PodSpec {
	return corev1.PodSpec{
		NodeSelector:      map[string]string{AcceleratorLabel: string(k)},
		Tolerations:       []corev1.Toleration{{Key: resourceName, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
		PriorityClassName: "system-node-critical",
		Containers:        []corev1.Container{c},
		Volumes:           volumes,
	}
}

func hostVolume(name, path string, t corev1.HostPathType) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path, Type: &t}}}
}

func pluginResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
	}
}

// nvidiaPlugin is NVIDIA's k8s-device-plugin, run with RuntimeClass nvidia so that it sees the driver libraries
// (k3s and Talos register the NVIDIA container runtime under the handler name nvidia; runc stays the default).
func nvidiaPlugin() *appsv1.DaemonSet {
	c := corev1.Container{
		Name: "nvidia-device-plugin", Image: NVIDIAPluginImage, ImagePullPolicy: corev1.PullIfNotPresent,
		Env:       []corev1.EnvVar{{Name: "FAIL_ON_INIT_ERROR", Value: "false"}},
		Resources: pluginResources(),
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		VolumeMounts: []corev1.VolumeMount{{Name: "device-plugins", MountPath: devicePluginDir}},
	}
	pod := acceleratorPod(NVIDIA, "nvidia.com/gpu", c, []corev1.Volume{hostVolume("device-plugins", devicePluginDir, corev1.HostPathDirectory)})
	pod.RuntimeClassName = ptr("nvidia")
	return daemonSet("nvidia-device-plugin", pod)
}

// amdPlugin is AMD's (ROCm) k8s-device-plugin: it reads /sys to find GPUs and hands /dev/kfd and /dev/dri to pods.
func amdPlugin() *appsv1.DaemonSet {
	c := corev1.Container{
		Name: "amd-device-plugin", Image: AMDPluginImage, ImagePullPolicy: corev1.PullIfNotPresent,
		Resources:       pluginResources(),
		SecurityContext: &corev1.SecurityContext{Privileged: ptr(true)},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "device-plugins", MountPath: devicePluginDir}, {Name: "sys", MountPath: "/sys", ReadOnly: true},
		},
	}
	vols := []corev1.Volume{
		hostVolume("device-plugins", devicePluginDir, corev1.HostPathDirectory), hostVolume("sys", "/sys", corev1.HostPathDirectory),
	}
	return daemonSet("amd-device-plugin", acceleratorPod(AMD, "amd.com/gpu", c, vols))
}

// npuPlugin is a generic device plugin that advertises each NPU device file (/dev/accel/accel*) as one unit of
// resourceName (DOMAIN/NAME). It knows nothing about any NPU: no health checks, no topology, no firmware.
func npuPlugin(resourceName string) *appsv1.DaemonSet {
	domain, name, _ := strings.Cut(resourceName, "/")
	device := fmt.Sprintf("name: %s\ngroups:\n  - paths:\n      - path: %s\n", name, npuDevices)
	c := corev1.Container{
		Name: "npu-device-plugin", Image: GenericPluginImage, ImagePullPolicy: corev1.PullIfNotPresent,
		Args:            []string{"--domain", domain, "--device", device},
		Resources:       pluginResources(),
		SecurityContext: &corev1.SecurityContext{Privileged: ptr(true)},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "device-plugins", MountPath: devicePluginDir}, {Name: "dev", MountPath: "/dev"},
		},
	}
	vols := []corev1.Volume{
		hostVolume("device-plugins", devicePluginDir, corev1.HostPathDirectory), hostVolume("dev", "/dev", corev1.HostPathDirectory),
	}
	return daemonSet("npu-device-plugin", acceleratorPod(NPU, resourceName, c, vols))
}

func ptr[T any](v T) *T { return &v }
