package airgap

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/agops/agops/internal/weights"
)

// TestBundleModelArtifact: a model's OCI artifact (a GGUF layer, Model Runner's config media type, no platform) is
// bundled like an image, verified, pushed into the site's registry, and agops model pull copies its weights from
// there.
func TestBundleModelArtifact(t *testing.T) {
	t.Parallel()
	host := newRegistry(t)
	ref := host + "/ai/tiny:360M-Q4_K_M"
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, "application/vnd.docker.ai.model.config.v0.1+json")
	img, err := mutate.AppendLayers(img, static.NewLayer([]byte("GGUF-tiny-weights"), weights.GGUFMediaType))
	if err != nil {
		t.Fatal(err)
	}
	digest := push(t, ref, img)
	out, m := bundle(t, []string{ref}, Options{})
	if len(m.Images) != 1 || m.Images[0].Digest != digest.String() {
		t.Fatalf("bundle manifest %+v, want the artifact at %s", m.Images, digest)
	}
	if _, err := Verify(out); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	target := newRegistry(t) + "/mirror"
	pushed, err := Push(context.Background(), out, target, PushOptions{})
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	dir := t.TempDir()
	res, err := weights.Pull(context.Background(), pushed[ref], dir, "model.gguf", weights.Options{NameOptions: []name.Option{name.Insecure}})
	if err != nil {
		t.Fatalf("pulling the weights from the site's registry (%s): %v", pushed[ref], err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "model.gguf")); err != nil || string(b) != "GGUF-tiny-weights" || res.Skipped {
		t.Errorf("weights %q, %v (skipped %v)", b, err, res.Skipped)
	}
}
