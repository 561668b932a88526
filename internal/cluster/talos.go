package cluster

import "sort"

// The Talos types below mirror the documented Talos v1.x machine-config fields agops writes (v1alpha1), and
// nothing more: github.com/siderolabs/talos/pkg/machinery is not available here. A test unmarshals the written
// YAML strictly into these same types.

// talosConfig is a machine-config patch (strategic merge).
type talosConfig struct {
	Machine *talosMachine `json:"machine,omitempty"`
	Cluster *talosCluster `json:"cluster,omitempty"`
}

type talosMachine struct {
	CertSANs   []string          `json:"certSANs,omitempty"`
	Network    *talosNetwork     `json:"network,omitempty"`
	NodeLabels map[string]string `json:"nodeLabels,omitempty"`
	NodeTaints map[string]string `json:"nodeTaints,omitempty"` // key: "value:Effect"
	Kernel     *talosKernel      `json:"kernel,omitempty"`
	Sysctls    map[string]string `json:"sysctls,omitempty"`
	Registries *talosRegistries  `json:"registries,omitempty"`
	Features   *talosFeatures    `json:"features,omitempty"`
}

type talosNetwork struct {
	Hostname   string           `json:"hostname,omitempty"`
	Interfaces []talosInterface `json:"interfaces,omitempty"`
}

type talosInterface struct {
	Interface      string               `json:"interface,omitempty"`
	DeviceSelector *talosDeviceSelector `json:"deviceSelector,omitempty"`
	DHCP           bool                 `json:"dhcp,omitempty"`
	VIP            *talosVIP            `json:"vip,omitempty"`
}

type talosDeviceSelector struct {
	Physical *bool `json:"physical,omitempty"`
}

// talosVIP is Talos's built-in shared IP: the control-plane nodes elect its holder through etcd.
type talosVIP struct {
	IP string `json:"ip"`
}

type talosKernel struct {
	Modules []talosModule `json:"modules"`
}

type talosModule struct {
	Name string `json:"name"`
}

type talosRegistries struct {
	Mirrors map[string]talosMirror `json:"mirrors"`
}

type talosMirror struct {
	Endpoints    []string `json:"endpoints"`
	OverridePath bool     `json:"overridePath,omitempty"`
	SkipFallback bool     `json:"skipFallback,omitempty"`
}

type talosFeatures struct {
	ImageCache *talosImageCache `json:"imageCache,omitempty"`
}

// talosImageCache turns on the image cache shipped in the boot media (Talos 1.9+).
type talosImageCache struct {
	LocalEnabled bool `json:"localEnabled"`
}

type talosCluster struct {
	AllowSchedulingOnControlPlanes bool                 `json:"allowSchedulingOnControlPlanes"`
	APIServer                      *talosAPIServer      `json:"apiServer,omitempty"`
	Network                        *talosClusterNetwork `json:"network,omitempty"`
}

type talosAPIServer struct {
	CertSANs []string `json:"certSANs"`
}

type talosClusterNetwork struct {
	DNSDomain      string   `json:"dnsDomain"`
	PodSubnets     []string `json:"podSubnets"`
	ServiceSubnets []string `json:"serviceSubnets"`
}

// talosVolumeConfig sizes a system volume; agops uses it for IMAGECACHE.
type talosVolumeConfig struct {
	APIVersion   string                  `json:"apiVersion"`
	Kind         string                  `json:"kind"`
	Name         string                  `json:"name"`
	Provisioning talosVolumeProvisioning `json:"provisioning"`
}

type talosVolumeProvisioning struct {
	DiskSelector talosDiskSelector `json:"diskSelector"`
	MinSize      string            `json:"minSize"`
	MaxSize      string            `json:"maxSize"`
}

type talosDiskSelector struct {
	Match string `json:"match"`
}

// talosSchematic is an Image Factory schematic: the system extensions baked into a node's boot media.
type talosSchematic struct {
	Customization talosCustomization `json:"customization"`
}

type talosCustomization struct {
	SystemExtensions talosSystemExtensions `json:"systemExtensions"`
}

type talosSystemExtensions struct {
	OfficialExtensions []string `json:"officialExtensions"`
}

// ImageCacheSize is the IMAGECACHE volume agops asks for on air-gapped Talos nodes (Talos's default is 1GB).
const ImageCacheSize = "20GB"

// talosShared is the patch every control-plane node gets.
func (s Spec) talosShared() talosConfig {
	n := s.clusterNet()
	m := &talosMachine{CertSANs: s.sans()}
	if s.Airgap {
		m.Features = &talosFeatures{ImageCache: &talosImageCache{LocalEnabled: true}}
	}
	if s.RegistryMirror != "" {
		m.Registries = s.talosRegistries()
	}
	return talosConfig{Machine: m, Cluster: &talosCluster{
		AllowSchedulingOnControlPlanes: true,
		APIServer:                      &talosAPIServer{CertSANs: s.sans()},
		Network:                        &talosClusterNetwork{DNSDomain: n.Domain, PodSubnets: []string{n.PodCIDR}, ServiceSubnets: []string{n.ServiceCIDR}},
	}}
}

// talosRegistries sends every registry to the mirror, without falling back to the public one when air-gapped.
// A prefix goes into the endpoint's path (overridePath), so repository paths stay as `agops airgap push` writes them.
func (s Spec) talosRegistries() *talosRegistries {
	scheme, host, path := splitMirror(s.RegistryMirror)
	m := talosMirror{Endpoints: []string{scheme + "://" + host}, SkipFallback: s.Airgap}
	if path != "" {
		m.Endpoints, m.OverridePath = []string{scheme + "://" + host + "/v2/" + path}, true
	}
	r := &talosRegistries{Mirrors: map[string]talosMirror{}}
	for _, reg := range s.mirrored() {
		r.Mirrors[reg] = m
	}
	return r
}

func (s Spec) talosImageCacheVolume() talosVolumeConfig {
	return talosVolumeConfig{APIVersion: "v1alpha1", Kind: "VolumeConfig", Name: "IMAGECACHE", Provisioning: talosVolumeProvisioning{
		DiskSelector: talosDiskSelector{Match: "system_disk"}, MinSize: ImageCacheSize, MaxSize: ImageCacheSize,
	}}
}

// talosNode is node i's own patch: hostname, the VIP on its interface, and its accelerator.
func (s Spec) talosNode(i int) talosConfig {
	n := s.Nodes[i]
	iface := talosInterface{DHCP: true, VIP: &talosVIP{IP: s.VIP.String()}}
	if s.Interface != "" {
		iface.Interface = s.Interface
	} else {
		iface.DeviceSelector = &talosDeviceSelector{Physical: ptr(true)}
	}
	m := &talosMachine{Network: &talosNetwork{Hostname: n.Name, Interfaces: []talosInterface{iface}}}
	if k, ok := s.Accelerators[n.Name]; ok {
		m.NodeLabels = map[string]string{AcceleratorLabel: string(k)}
		m.NodeTaints = map[string]string{s.Resource(k): TaintValue + ":NoSchedule"}
		if k == NVIDIA {
			m.Kernel = &talosKernel{Modules: []talosModule{{"nvidia"}, {"nvidia_uvm"}, {"nvidia_drm"}, {"nvidia_modeset"}}}
			m.Sysctls = map[string]string{"net.core.bpf_jit_harden": "1"}
		}
	}
	return talosConfig{Machine: m}
}

// talosExtensions are the official system extensions a node's kind needs; none for an NPU (vendor specific).
func talosExtensions(k Kind) []string {
	switch k {
	case NVIDIA:
		return []string{"siderolabs/nonfree-kmod-nvidia", "siderolabs/nvidia-container-toolkit"}
	case AMD:
		return []string{"siderolabs/amd-ucode", "siderolabs/amdgpu"}
	}
	return nil
}

// talosFiles adds shared-patch.yaml and, per node, patch.yaml and (for GPU nodes) schematic.yaml.
func (s Spec) talosFiles(t Tree) error {
	var shared doc
	shared.comment("# agops cluster init: Talos patch for every control-plane node (talosctl gen config --config-patch @shared-patch.yaml).\n")
	shared.yaml(s.talosShared())
	if s.Airgap {
		shared.comment("---\n")
		shared.yaml(s.talosImageCacheVolume())
	}
	if err := t.addDoc("shared-patch.yaml", &shared); err != nil {
		return err
	}
	for i, n := range s.Nodes {
		var patch doc
		patch.comment("# agops cluster init: Talos patch for " + n.Name + " (" + n.Addr.String() + "), after shared-patch.yaml.\n")
		patch.yaml(s.talosNode(i))
		if err := t.addDoc(n.Name+"/patch.yaml", &patch); err != nil {
			return err
		}
		if ext := talosExtensions(s.Accelerators[n.Name]); ext != nil {
			sort.Strings(ext)
			var sc doc
			sc.comment("# agops cluster init: Image Factory schematic for " + n.Name + "'s boot media and installer (system extensions).\n")
			sc.yaml(talosSchematic{Customization: talosCustomization{SystemExtensions: talosSystemExtensions{OfficialExtensions: ext}}})
			if err := t.addDoc(n.Name+"/schematic.yaml", &sc); err != nil {
				return err
			}
		}
	}
	return nil
}
