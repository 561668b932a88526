package cluster

import (
	"fmt"
	"slices"
)

// mirrored is every registry the nodes send to the mirror: the usual public ones and the Spec's own, sorted after
// "*", without duplicates.
func (s Spec) mirrored() []string {
	regs := append([]string(nil), mirroredRegistries...)
	for _, r := range s.Registries {
		if !slices.Contains(regs, r) {
			regs = append(regs, r)
		}
	}
	slices.Sort(regs[1:])
	return regs
}

// MirrorConfig is the node-side configuration that sends every registry — the public ones and the given ones — to
// mirror (REG[/prefix]), for `agops migrate --registry-mirror`: a k3s registries.yaml and a Talos machine config
// patch. The manifests keep their image names; the nodes pull them from the mirror. Air-gapped, Talos never falls
// back to the public registry.
func MirrorConfig(mirror string, airgap bool, registries []string) (k3s, talos []byte, err error) {
	s := Spec{RegistryMirror: mirror, Airgap: airgap, Registries: registries}
	if _, host, _ := splitMirror(mirror); host == "" {
		return nil, nil, fmt.Errorf("--registry-mirror %q: want REG[/prefix]", mirror)
	}
	if k3s, err = s.k3sRegistries(); err != nil {
		return nil, nil, err
	}
	var d doc
	d.comment("# agops migrate --registry-mirror: apply to every Talos node (talosctl patch machineconfig -p @" + "talos-registry-mirrors.yaml).\n")
	d.yaml(talosConfig{Machine: &talosMachine{Registries: s.talosRegistries()}})
	talos, err = d.bytes()
	return k3s, talos, err
}
