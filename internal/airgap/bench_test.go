package airgap

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// benchImages pushes 5 random images of 4 layers of 1 MiB to a new in-process registry.
func benchImages(b *testing.B) []string {
	src := newRegistry(b)
	var refs []string
	for i := range 5 {
		ref := fmt.Sprintf("%s/bench/app%d:1", src, i)
		push(b, ref, randomImage(b, 1<<20, 4, "linux/amd64"))
		refs = append(refs, ref)
	}
	return refs
}

// BenchmarkBundlePush bundles 5 random images of 4 layers of 1 MiB from one in-process registry and pushes them
// to a fresh one, per iteration.
func BenchmarkBundlePush(b *testing.B) {
	refs := benchImages(b)
	dir := b.TempDir()
	b.SetBytes(5 * 4 << 20)
	i := 0
	for b.Loop() {
		i++
		out := filepath.Join(dir, fmt.Sprintf("b%d.tar", i))
		if _, err := Bundle(context.Background(), refs, out, Options{}); err != nil {
			b.Fatal(err)
		}
		if _, err := Push(context.Background(), out, newRegistry(b), PushOptions{}); err != nil {
			b.Fatal(err)
		}
		os.Remove(out)
	}
}

// BenchmarkBundle is the bundle half of BenchmarkBundlePush.
func BenchmarkBundle(b *testing.B) {
	refs := benchImages(b)
	dir := b.TempDir()
	b.SetBytes(5 * 4 << 20)
	i := 0
	for b.Loop() {
		i++
		out := filepath.Join(dir, fmt.Sprintf("b%d.tar", i))
		if _, err := Bundle(context.Background(), refs, out, Options{}); err != nil {
			b.Fatal(err)
		}
		os.Remove(out)
	}
}

// BenchmarkVerify verifies a bundle of 5 images of 4 layers of 1 MiB.
func BenchmarkVerify(b *testing.B) {
	refs := benchImages(b)
	out := filepath.Join(b.TempDir(), "b.tar")
	if _, err := Bundle(context.Background(), refs, out, Options{}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(5 * 4 << 20)
	for b.Loop() {
		if _, err := Verify(out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBundleArchive bundles 5 images of 4 layers of 1 MiB from a docker-archive (--image-archive), offline.
func BenchmarkBundleArchive(b *testing.B) {
	images, refs := map[string]v1.Image{}, []string(nil)
	for i := range 5 {
		ref := fmt.Sprintf("ghcr.io/bench/app%d:1", i)
		images[ref] = randomImage(b, 1<<20, 4, "linux/amd64")
		refs = append(refs, ref)
	}
	archive := saveArchive(b, "own.tar", images)
	dir := b.TempDir()
	b.SetBytes(5 * 4 << 20)
	i := 0
	for b.Loop() {
		i++
		out := filepath.Join(dir, fmt.Sprintf("b%d.tar", i))
		if _, err := Bundle(context.Background(), refs, out, Options{Archives: []string{archive}, Transport: offline{}}); err != nil {
			b.Fatal(err)
		}
		os.Remove(out)
	}
}
