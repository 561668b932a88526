//go:build linux

package testbed

import (
	"fmt"
	"path/filepath"
	"strings"
)

// The configuration files of a real node. Every path a node's processes write to is under the node's folder, so
// several containerds and kubelets run side by side (see ../shared/FACTS.md, "Real nodes").

// sandboxImage is the sandbox image of every pod: the pause binary of tools/nodes, loaded into each node.
const sandboxImage = "registry.k8s.io/pause:3.10"

// RuntimeHandlers are the RuntimeClass handlers real nodes accept besides runc: the runtimes k3s configures in its
// containerd when it finds them (NVIDIA's, crun and the WebAssembly shims) and an NPU's. Each runs plain runc here, as
// no GPU or Wasm runtime can run on the test bed, so that manifests asking for them still start.
var RuntimeHandlers = []string{
	"nvidia", "nvidia-experimental", "crun", "npu",
	"lunatic", "slight", "spin", "wasmedge", "wasmer", "wasmtime", "wws",
}

func containerdConfig(dir string) string {
	var runtimes strings.Builder
	for _, name := range append([]string{"runc"}, RuntimeHandlers...) {
		fmt.Fprintf(&runtimes, `
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.%[1]s]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.%[1]s.options]
        Root = %[2]q
        SystemdCgroup = false
`, name, filepath.Join(dir, "runc"))
	}
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
  # The machine's root may not lower OOM scores (no CAP_SYS_RESOURCE): without this every sandbox fails.
  restrict_oom_score_adj = true
  enable_unprivileged_ports = true
  enable_unprivileged_icmp = true
  # Pod network namespaces under the node's folder, not in the host's /run/netns.
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
%[7]s
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[8]q
    conf_dir = %[9]q
`, filepath.Join(dir, "containerd-root"), filepath.Join(dir, "containerd-state"),
		filepath.Join(dir, "containerd.sock"), filepath.Join(dir, "containerd.sock.ttrpc"),
		filepath.Join(dir, "opt"), sandboxImage, runtimes.String(), cniDir, filepath.Join(dir, "cni"))
}

// cniConfig is a bridge network for the node's pods: traffic between pods keeps its addresses (no masquerade), so
// NetworkPolicies see real peers; hairpin lets a pod reach itself through its Service.
func cniConfig(dir, subnet string) string {
	return fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "agops-testbed",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": %q
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, subnet, filepath.Join(dir, "cni-ipam"))
}

// kubeletConfig: cgroup v1 with the cgroupfs driver (containerd 1.6 cannot tell the kubelet its driver), the
// node's own cgroup as root, and eviction and image garbage collection that a shared, nearly full disk does not
// trigger (images are loaded, never pulled: collected ones would not come back).
func kubeletConfig(r *realNode, nodeIP, resolvConf string) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /%[1]s
cgroupsPerQOS: true
containerRuntimeEndpoint: unix://%[2]s
address: %[3]s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
clusterDNS: [%[4]s]
clusterDomain: cluster.local
resolvConf: %[5]s
failSwapOn: false
evictionHard:
  memory.available: "50Mi"
  nodefs.available: "1%%"
  nodefs.inodesFree: "1%%"
  imagefs.available: "1%%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
nodeStatusUpdateFrequency: 5s
nodeStatusReportFrequency: 10s
syncFrequency: 10s
fileCheckFrequency: 10s
maxPods: 110
podPidsLimit: -1
shutdownGracePeriod: 0s
rotateCertificates: false
serverTLSBootstrap: false
tlsCertFile: ""
kubeAPIQPS: 50
kubeAPIBurst: 100
# Not the shared /var/log/pods: each kubelet deletes the folders of pods it does not know.
podLogsDir: %[6]s
`, r.cgroup, r.socket(), nodeIP, ClusterDNS, resolvConf, filepath.Join(r.dir, "pod-logs"))
}

// kubeProxyConfig: iptables mode in the node's namespace. Conntrack limits and timeouts are left alone (0): they
// would be set for the whole machine.
func kubeProxyConfig(kubeconfig, node string) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %[1]s
hostnameOverride: %[2]s
mode: iptables
clusterCIDR: %[3]s
detectLocalMode: ClusterCIDR
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
iptables:
  syncPeriod: 10s
  minSyncPeriod: 0s
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, kubeconfig, node, podCIDR)
}
