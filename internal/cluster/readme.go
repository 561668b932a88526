package cluster

import (
	"fmt"
	"strings"
)

// readme is README.md: which files go to which machine, in which order to run what, and what is generic.
func (s Spec) readme() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s cluster: %s\n\n", s.Distro, s.joinNames())
	b.WriteString("Written by `agops cluster init`. " + s.summary() + "\n\n")
	if s.Distro == K3s {
		s.k3sReadme(&b)
	} else {
		s.talosReadme(&b)
	}
	s.genericNotes(&b)
	return []byte(b.String())
}

func (s Spec) summary() string {
	parts := []string{fmt.Sprintf("%d server(s), every one a control-plane node with an etcd member that also runs workloads; "+
		"the API server answers at the VIP https://%s:6443 (subnet %s).", len(s.Nodes), bracket(s.VIP.String()), s.subnet())}
	for _, n := range s.Nodes {
		if k, ok := s.Accelerators[n.Name]; ok {
			parts = append(parts, fmt.Sprintf("%s carries %s: label %s=%s, taint %s=%s:NoSchedule, resource %s.",
				n.Name, k, AcceleratorLabel, k, s.Resource(k), TaintValue, s.Resource(k)))
		}
	}
	if s.RegistryMirror != "" {
		parts = append(parts, "Every registry is pulled through the mirror "+s.RegistryMirror+".")
	}
	if s.Airgap {
		parts = append(parts, "Air-gapped: nodes never fall back to public registries.")
	}
	return strings.Join(parts, " ")
}

func (s Spec) k3sReadme(b *strings.Builder) {
	s.Procedure().markdown(b, false)
	b.WriteString("One server at a time: two servers joining at once can both try to add an etcd member and fail.\n\n")
	b.WriteString("## What each file is for\n\n")
	b.WriteString("- `NAME/config.yaml` → `/etc/rancher/k3s/config.yaml`. Its first part is identical, byte for byte, on every server " +
		"(cluster and service ranges, DNS, disabled components, flannel, secrets encryption, registry settings, `tls-san` with the VIP, " +
		"every address and every name); the second part is the server's own (`cluster-init` or `server:`, `node-name`, `node-ip`, labels, taints).\n")
	if s.hasRegistries() {
		b.WriteString("- `NAME/registries.yaml` → `/etc/rancher/k3s/registries.yaml`: containerd's mirrors (docker.io, ghcr.io, quay.io, registry.k8s.io" +
			map[bool]string{true: ` and "*"`, false: ""}[s.RegistryMirror != ""] + "). The same on every node.\n")
	}
	b.WriteString("- `NAME/install.sh`: installs k3s from the local files (`INSTALL_K3S_SKIP_DOWNLOAD=true`), copies the config, token, " +
		"registries and `manifests/` into place (k3s applies `/var/lib/rancher/k3s/server/manifests/` itself).\n")
	b.WriteString("- `NAME/preflight.sh`: read-only checks before the install; exits 1 if any fails.\n")
	b.WriteString("- `manifests/`: kube-vip (ARP, the VIP for the API server on the control-plane nodes)" + s.manifestNote() + ".\n")
	b.WriteString("- `images.txt`: the images the manifests use — `agops airgap bundle --cluster DIR` bundles them, and `agops cluster init ... --bundle` pins them.\n")
	b.WriteString("- `agops-cluster.json`: what was asked. `secrets/token`: the join token.\n\n")
}

func (s Spec) manifestNote() string {
	var parts []string
	for _, k := range s.Kinds() {
		switch k {
		case NVIDIA:
			parts = append(parts, "RuntimeClass `nvidia` and NVIDIA's device plugin")
		case AMD:
			parts = append(parts, "AMD's device plugin (no RuntimeClass: it hands /dev/kfd and /dev/dri to pods under the default runtime)")
		case NPU:
			parts = append(parts, "a generic device plugin advertising "+s.Resource(NPU)+" for /dev/accel/accel*")
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, "; ") + ", each only on nodes with its label and tolerating its taint"
}

func (s Spec) checkFlags() string {
	f := fmt.Sprintf("--expect-nodes %d", len(s.Nodes))
	for _, n := range s.Nodes {
		if k, ok := s.Accelerators[n.Name]; ok {
			f += fmt.Sprintf(" --accelerator %s=%s", n.Name, k)
		}
	}
	if s.NPUResource != "" {
		f += " --npu-resource " + s.NPUResource
	}
	if s.RegistryMirror != "" {
		f += " --registry-mirror " + mirrorRef(s.RegistryMirror)
	}
	return f
}
