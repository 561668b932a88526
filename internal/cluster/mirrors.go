package cluster

import (
	"errors"
	"fmt"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
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

// CheckMirrorPaths refuses images of different registries with the same repository path: a mirror keeps paths and
// drops registries (agops airgap push writes REG/prefix/<path>), as the nodes' mirror configuration does, so one would overwrite the other's tags and the
// nodes could not tell them apart.
func CheckMirrorPaths(refs []string) error {
	byPath := map[string]string{} // repository path → registry of its first image
	var errs []error
	for _, ref := range refs {
		r, err := name.ParseReference(ref)
		if err != nil {
			return fmt.Errorf("image %q: %w", ref, err)
		}
		path, reg := r.Context().RepositoryStr(), r.Context().RegistryStr()
		if prev, ok := byPath[path]; ok && prev != reg {
			errs = append(errs, fmt.Errorf("%s/%s and %s/%s would share the mirror's repository %s: a mirror keeps repository paths and "+
				"drops registries, as the nodes' mirror configuration does; retag one of them (another repository path) before bundling",
				prev, path, reg, path, path))
			continue
		}
		byPath[path] = reg
	}
	return errors.Join(errs...)
}
