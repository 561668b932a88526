package cluster

import (
	"fmt"
	"strings"
)

// TalosClusterName is the cluster name the README's talosctl commands use.
const TalosClusterName = "agops"

func (s Spec) talosReadme(b *strings.Builder) {
	vip := "https://" + bracket(s.VIP.String()) + ":6443"
	b.WriteString("## What goes to which machine\n\nTalos has no shell: nothing is copied onto the machines. From your workstation, " +
		"`talosctl` sends each machine its own configuration, built from `shared-patch.yaml` and the node's `patch.yaml`.\n\n")
	b.WriteString("| machine | address | configuration | boot media |\n|---|---|---|---|\n")
	for _, n := range s.Nodes {
		media := "the stock Talos image" + map[bool]string{true: " with your image cache", false: ""}[s.Airgap]
		if talosExtensions(s.Accelerators[n.Name]) != nil {
			media = "built from `" + n.Name + "/schematic.yaml`" + map[bool]string{true: " with your image cache", false: ""}[s.Airgap]
		}
		fmt.Fprintf(b, "| %s | %s | `%s/controlplane.yaml` (step 3) | %s |\n", n.Name, n.Addr, n.Name, media)
	}
	b.WriteString("\n## In this order\n\n")
	b.WriteString("1. `talosctl gen secrets -o secrets/secrets.yaml` — the cluster's CAs and tokens. Keep `secrets/` out of git.\n")
	b.WriteString("2. Boot media: " + s.talosMediaStep() + "\n")
	fmt.Fprintf(b, "3. For each node NAME: `talosctl gen config %s %s --with-secrets secrets/secrets.yaml --config-patch @shared-patch.yaml "+
		"--config-patch @NAME/patch.yaml --output-types controlplane --output NAME/controlplane.yaml`; once: the same with "+
		"`--output-types talosconfig --output talosconfig`. These outputs hold secrets too.\n", TalosClusterName, vip)
	b.WriteString("4. Boot every machine from its media (maintenance mode), then per node: `talosctl apply-config --insecure --nodes ADDRESS --file NAME/controlplane.yaml`.\n")
	fmt.Fprintf(b, "5. Once, on %s only: `talosctl --talosconfig talosconfig bootstrap --nodes %s --endpoints %s`. Etcd forms; the VIP comes up on one node.\n",
		s.Nodes[0].Name, s.first(), s.first())
	fmt.Fprintf(b, "6. `talosctl --talosconfig talosconfig kubeconfig --nodes %s --endpoints %s .`; then `agops apply manifests/` (or `kubectl apply -f manifests/`).\n",
		s.first(), s.first())
	fmt.Fprintf(b, "7. `agops cluster check --kubeconfig kubeconfig %s`.\n\n", s.checkFlags())
	b.WriteString("## What each file is for\n\n")
	b.WriteString("- `shared-patch.yaml`: the same for every node — the API certificate's SANs (the VIP, every address and name), " +
		"workloads allowed on control planes, cluster and service ranges" + s.talosSharedNote() + ".\n")
	b.WriteString("- `NAME/patch.yaml`: the node's hostname, the VIP on its interface (Talos's built-in shared IP: no kube-vip), " +
		"and for accelerator nodes their label, taint and kernel modules.\n")
	b.WriteString("- `NAME/schematic.yaml`: the system extensions for the node's accelerator (Image Factory schematic).\n")
	b.WriteString("- `manifests/`: " + strings.TrimPrefix(s.manifestNote(), "; ") + ".\n")
	b.WriteString("- `images.txt`: the images the manifests use. `agops-cluster.json`: what was asked.\n\n")
}

func (s Spec) talosMediaStep() string {
	step := "nodes with a `schematic.yaml` need an installer and boot image carrying those extensions " +
		"(Image Factory, or `imager` offline with `--system-extension-image`); the others use the stock image."
	if s.Airgap {
		step += " Air-gapped: build an image cache (`talosctl images default` plus `images.txt` and your workloads' images, " +
			"`talosctl images cache-create`) and bake it into the media (`imager ... --image-cache`); the patch enables it and sizes " +
			"the IMAGECACHE volume at " + ImageCacheSize + "."
	}
	return step
}

func (s Spec) talosSharedNote() string {
	var parts []string
	if s.RegistryMirror != "" {
		parts = append(parts, "registry mirrors for docker.io, ghcr.io, quay.io, registry.k8s.io and \"*\" → "+s.RegistryMirror+
			map[bool]string{true: " with `skipFallback`", false: ""}[s.Airgap])
	}
	if s.Airgap {
		parts = append(parts, "the image cache (`machine.features.imageCache.localEnabled`) and its volume")
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, "; ")
}

// genericNotes says plainly what agops did not verify and what is generic.
func (s Spec) genericNotes(b *strings.Builder) {
	b.WriteString("## Before you trust it\n\n")
	b.WriteString("- Image tags are pinned; digests are not (this was written offline). Replace each tag in `manifests/` with `tag@sha256:...` " +
		"— `agops cluster check --registry-mirror` counts an image as safe only when it comes from the mirror or is pinned by digest.\n")
	if s.Distro == K3s && s.RegistryMirror != "" {
		b.WriteString("- The mirror must hold k3s's system images under `" + mirrorRef(s.RegistryMirror) + "/rancher/...` " +
			"(`system-default-registry`), the pause image included (`" + PauseImage + "`: check your release's `k3s-images.txt`). " +
			"A mirror with its own CA needs `configs:` with `ca_file` in registries.yaml.\n")
	}
	if s.Interface == "" && s.Distro == K3s {
		b.WriteString("- No `--interface`: kube-vip uses the interface of the default route. On machines with several NICs, pass `--interface`.\n")
	} else if s.Interface == "" {
		b.WriteString("- No `--interface`: the VIP and DHCP go on every physical interface (`deviceSelector: {physical: true}`). " +
			"On machines with several NICs, pass `--interface`. Node addresses are expected from DHCP reservations.\n")
	}
	for _, k := range s.Kinds() {
		switch k {
		case NVIDIA:
			b.WriteString("- NVIDIA: " + map[Distro]string{
				K3s: "the driver and the NVIDIA container toolkit must be on the node; k3s finds the runtime, registers handler `nvidia` " +
					"and ships its own identical RuntimeClass `nvidia`.",
				Talos: "the extensions in `schematic.yaml` bring the driver and the runtime (handler `nvidia`); their versions must match your Talos release.",
			}[s.Distro] + " Device plugin " + NVIDIAPluginImage + ".\n")
		case AMD:
			b.WriteString("- AMD: the amdgpu driver must be loaded on the node. Device plugin " + AMDPluginImage + ".\n")
		case NPU:
			b.WriteString("- NPU: **generic**. " + GenericPluginImage + " advertises each `/dev/accel/accel*` file as one " + s.Resource(NPU) +
				"; it knows nothing of your NPU (no health, no topology, no driver). Use your vendor's device plugin when there is one. " +
				"`agops migrate` does not add a toleration for this taint yet: add one to NPU workloads.\n")
		}
	}
}
