package airgap

import (
	"bytes"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// checkManifest reads agops-bundle.json and compares it with index.json.
func (v *verifier) checkManifest(idx *v1.IndexManifest) Manifest {
	v.expected[ManifestFile] = true
	data, err := v.a.read(ManifestFile)
	if err != nil {
		v.problem("%s", err)
		return Manifest{}
	}
	m, err := ParseManifest(data)
	if err != nil {
		v.problems = append(v.problems, err)
		return Manifest{}
	}
	if idx != nil {
		v.agree(m, idx)
	}
	return m
}

// agree checks that the manifest and the index list the same references with the same digests, platform and
// sizes.
func (v *verifier) agree(m Manifest, idx *v1.IndexManifest) {
	byRef := v.indexByRef(idx)
	for _, img := range m.Images {
		d, ok := byRef[img.Ref]
		if !ok {
			v.problem("image %s: in %s but not in %s", img.Ref, ManifestFile, IndexFile)
			continue
		}
		delete(byRef, img.Ref)
		if d.Digest.String() != img.Digest {
			v.problem("image %s: %s says digest %s, %s says %s", img.Ref, ManifestFile, img.Digest, IndexFile, d.Digest)
		}
		if d.Platform == nil || d.Platform.String() != m.Platform {
			v.problem("image %s: %s has platform %v, the bundle is for %s", img.Ref, IndexFile, d.Platform, m.Platform)
		}
		if size := v.imageSize(d); size >= 0 && size != img.Size {
			v.problem("image %s: %s says %d bytes, its blobs have %d", img.Ref, ManifestFile, img.Size, size)
		}
	}
	refs := make([]string, 0, len(byRef))
	for ref := range byRef {
		refs = append(refs, ref)
	}
	slices.Sort(refs)
	for _, ref := range refs {
		v.problem("image %s: in %s but not in %s", ref, IndexFile, ManifestFile)
	}
}

// indexByRef maps each index entry's reference annotation to the entry.
func (v *verifier) indexByRef(idx *v1.IndexManifest) map[string]v1.Descriptor {
	byRef := map[string]v1.Descriptor{}
	for _, d := range idx.Manifests {
		ref := d.Annotations[RefAnnotation]
		switch _, dup := byRef[ref]; {
		case ref == "":
			v.problem("%s: entry %s has no %s annotation", IndexFile, d.Digest, RefAnnotation)
		case dup:
			v.problem("%s: image %s listed twice", IndexFile, ref)
		default:
			byRef[ref] = d
		}
	}
	return byRef
}

// imageSize is the bytes of an image's manifest, config and layers, or -1 when its manifest cannot be read (a
// problem already reported).
func (v *verifier) imageSize(d v1.Descriptor) int64 {
	data, err := v.a.read(blobName(d.Digest))
	if err != nil {
		return -1
	}
	m, err := v1.ParseManifest(bytes.NewReader(data))
	if err != nil {
		return -1
	}
	size := int64(len(data)) + m.Config.Size
	for _, l := range m.Layers {
		size += l.Size
	}
	return size
}
