package cluster

import (
	"strings"
)

// TalosClusterName is the cluster name the README's talosctl commands use.
const TalosClusterName = "agops"

func (s Spec) talosReadme(b *strings.Builder) {
	s.Procedure().markdown(b, true)
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
	if !s.Pinned() {
		b.WriteString("- Image tags are pinned; digests are not. Write the folder again with the same flags and `--bundle` (the air-gap bundle " +
			"that holds `images.txt`; the token stays), or replace each tag in `manifests/` with `tag@sha256:...` " +
			"— `agops cluster check --registry-mirror` counts an image as safe only when it comes from the mirror or is pinned by digest.\n")
	}
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
				"`agops migrate --npu-resource " + s.Resource(NPU) + "` requests it and tolerates the taint.\n")
		}
	}
}
