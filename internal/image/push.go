package image

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Push writes img to the registry at ref, with credentials from the default keychain (docker config and
// credential helpers), and returns the pushed manifest's digest ("sha256:...").
func Push(ctx context.Context, ref string, img v1.Image, opts ...Option) (string, error) {
	o := makeOptions(opts)
	var nameOpts []name.Option
	if o.insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nameOpts...)
	if err != nil {
		return "", fmt.Errorf("parsing image reference %q: %w", ref, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("computing digest of image for %q: %w", ref, err)
	}
	err = remote.Write(r, img, remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("pushing %s: %w", r, err)
	}
	return digest.String(), nil
}
