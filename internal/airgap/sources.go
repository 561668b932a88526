package airgap

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/agops/agops/internal/image"
)

// Where an image came from, as agops-bundle.json records it (Image.Source); empty means pulled from its registry.
const (
	// SourceBuilt is the source of the helper image built from an agops binary (Options.Helper).
	SourceBuilt = "built from agops binary"
	// sourceArchive prefixes the base name of the docker-archive an image was read from.
	sourceArchive = "archive "
	// sourceMirror prefixes the REG[/prefix] of the pull-through cache an image was fetched from.
	sourceMirror = "pull-mirror "
	// staticBuild is how to make an agops binary the helper image accepts.
	staticBuild = "CGO_ENABLED=0 go build -o agops ./cmd/agops"
)

// Helper is agops's helper image (what the init containers, the gateway and the agent workers run) made on this
// machine from a static agops binary, instead of pulled: it exists in no registry until `agops image push`.
type Helper struct {
	// Ref is the helper image's reference as the manifests name it (agops migrate --helper-image); it must be
	// one of the images to bundle.
	Ref string
	// Binary is a statically linked Linux agops binary, made into the image with image.Build.
	Binary string
	// Image, when not nil, is bundled instead of building Binary.
	Image v1.Image
}

// build returns the helper image, building it from Binary unless Image is set.
func (h *Helper) build() (v1.Image, error) {
	if h.Image != nil {
		return h.Image, nil
	}
	img, err := image.Build(h.Binary)
	if err != nil {
		return nil, fmt.Errorf("%w (from agops's source tree: %s, then give that agops)", err, staticBuild)
	}
	return img, nil
}

// held is an image in hand for one reference, bundled instead of pulled.
type held struct {
	img    v1.Image
	source string // Image.Source
	origin string // for messages: "archive /tmp/own.tar", "agops binary bin/agops"
}

// assign decides which references are bundled from images in hand (Options.Archives, Options.Helper) rather than
// pulled, keyed by the reference as given. It reports every problem at once, and names on the progress output the
// archives' images the project does not use.
func (b *bundler) assign(parsed map[string]name.Reference) (map[string]held, error) {
	out := map[string]held{}
	var errs []error
	if len(b.o.Archives) > 0 {
		s, err := readArchives(b.o.Archives, b.o.Insecure)
		if err != nil {
			return nil, err
		}
		for _, given := range slices.Sorted(maps.Keys(parsed)) {
			h, ok, err := s.match(given, parsed[given])
			if err != nil {
				errs = append(errs, fmt.Errorf("image %s: %w", given, err))
			} else if ok {
				out[given] = h
			}
		}
		s.notice(b.o.Progress)
	}
	if b.o.Helper != nil {
		if err := b.assignHelper(parsed, out); err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// assignHelper gives the helper image to every reference that names it.
func (b *bundler) assignHelper(parsed map[string]name.Reference, out map[string]held) error {
	h := b.o.Helper
	want, err := name.ParseReference(h.Ref, nameOptions(b.o.Insecure)...)
	if err != nil {
		return fmt.Errorf("helper image %q: %w", h.Ref, err)
	}
	var givens []string
	for _, given := range slices.Sorted(maps.Keys(parsed)) {
		if parsed[given].Name() == want.Name() {
			givens = append(givens, given)
		}
	}
	if len(givens) == 0 {
		return fmt.Errorf("helper image %s is not among the images to bundle (its reference must be the one the manifests use)", h.Ref)
	}
	for _, given := range givens {
		if other, ok := out[given]; ok {
			return fmt.Errorf("image %s: both the helper binary and %s provide it", given, other.origin)
		}
	}
	img, err := h.build()
	if err != nil {
		return fmt.Errorf("helper image %s: %w", h.Ref, err)
	}
	origin := "agops binary " + h.Binary
	if h.Image != nil {
		origin = "the helper image given"
	}
	for _, given := range givens {
		out[given] = held{img: img, source: SourceBuilt, origin: origin}
	}
	return nil
}
