package airgap

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
)

// Resolver pins image references to the digests a bundle holds, with no network (agops migrate --pin-digests
// --bundle): the manifests then name exactly what the bundle carries to the site, and what `agops airgap push` makes
// addressable in the mirror.
type Resolver struct {
	byRef  map[string]string // reference as given → image digest
	byName map[string]string // normalised reference → image digest
}

// NewResolver verifies the bundle at path and returns a Resolver over its images.
func NewResolver(path string) (*Resolver, error) {
	m, err := Verify(path)
	if err != nil {
		return nil, err
	}
	r := &Resolver{byRef: map[string]string{}, byName: map[string]string{}}
	for _, img := range m.Images {
		r.byRef[img.Ref] = img.Digest
		if n, err := name.ParseReference(img.Ref); err == nil {
			r.byName[n.Name()] = img.Digest
		}
	}
	return r, nil
}

// Digest implements pin.Resolver: the digest of the bundle's image for ref, or an error naming the missing image.
func (r *Resolver) Digest(_ context.Context, ref string) (string, error) {
	if d, ok := r.byRef[ref]; ok {
		return d, nil
	}
	if n, err := name.ParseReference(ref); err == nil {
		if d, ok := r.byName[n.Name()]; ok {
			return d, nil
		}
	}
	return "", fmt.Errorf("image %s is not in the bundle (add it: agops airgap bundle --image %s)", ref, ref)
}
