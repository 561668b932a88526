package airgap

import (
	"bytes"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// bundleImage is one image of an opened bundle, read in place: its manifest bytes are pushed as they are, so the
// pushed digest is the bundled one.
type bundleImage struct {
	a        *archive
	mt       types.MediaType
	raw      []byte
	manifest *v1.Manifest
}

// archiveImage is the v1.Image of index entry d.
func archiveImage(a *archive, d v1.Descriptor) (v1.Image, error) {
	raw, err := a.read(blobName(d.Digest))
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	return partial.CompressedToImage(&bundleImage{a: a, mt: d.MediaType, raw: raw, manifest: m})
}

// RawConfigFile implements partial.CompressedImageCore.
func (b *bundleImage) RawConfigFile() ([]byte, error) {
	return b.a.read(blobName(b.manifest.Config.Digest))
}

// MediaType implements partial.CompressedImageCore.
func (b *bundleImage) MediaType() (types.MediaType, error) { return b.mt, nil }

// RawManifest implements partial.CompressedImageCore.
func (b *bundleImage) RawManifest() ([]byte, error) { return b.raw, nil }

// LayerByDigest implements partial.CompressedImageCore.
func (b *bundleImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, d := range append([]v1.Descriptor{b.manifest.Config}, b.manifest.Layers...) {
		if d.Digest == h {
			return bundleLayer{a: b.a, desc: d}, nil
		}
	}
	return nil, fmt.Errorf("blob %s is not part of this image", h)
}

// bundleLayer is a blob of an opened bundle.
type bundleLayer struct {
	a    *archive
	desc v1.Descriptor
}

// Digest implements partial.CompressedLayer.
func (l bundleLayer) Digest() (v1.Hash, error) { return l.desc.Digest, nil }

// Size implements partial.CompressedLayer.
func (l bundleLayer) Size() (int64, error) { return l.desc.Size, nil }

// MediaType implements partial.CompressedLayer.
func (l bundleLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }

// Compressed implements partial.CompressedLayer.
func (l bundleLayer) Compressed() (io.ReadCloser, error) {
	r, ok := l.a.open(blobName(l.desc.Digest))
	if !ok {
		return nil, fmt.Errorf("blob %s is missing from the bundle", l.desc.Digest)
	}
	return io.NopCloser(r), nil
}
