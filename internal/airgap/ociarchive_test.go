package airgap

import (
	"archive/tar"
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// ociEntry is one index.json entry to write: an image with its annotations.
type ociEntry struct {
	img         v1.Image
	annotations map[string]string
}

// ociLayout writes an OCI image layout folder holding entries, and returns it.
func ociLayout(tb testing.TB, entries []ociEntry) string {
	tb.Helper()
	dir := tb.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		if err := p.AppendImage(e.img, layout.WithAnnotations(e.annotations)); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// tarDir writes the files under dir into the tar file path (with "./" names when dot is set, as some tools do).
func tarDir(tb testing.TB, dir, path string, dot bool) string {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n := filepath.ToSlash(rel)
		if dot {
			n = "./" + n
		}
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

// ociArchiveOf writes an OCI archive (a tar of an OCI layout) holding entries, and returns its path.
func ociArchiveOf(tb testing.TB, file string, entries []ociEntry) string {
	tb.Helper()
	return tarDir(tb, ociLayout(tb, entries), filepath.Join(tb.TempDir(), file), false)
}

// An OCI archive's images are bundled byte for byte under the full references their annotations give: the
// digest is the archive's manifest digest, whichever annotation names the reference.
func TestBundleOCIArchive(t *testing.T) {
	t.Parallel()
	web := randomImage(t, 2048, 3, "linux/amd64")
	tool := randomImage(t, 512, 2, "linux/amd64")
	unused := randomImage(t, 64, 1, "linux/amd64")
	dir := ociLayout(t, []ociEntry{
		{web, map[string]string{ociRefName: "ghcr.io/own/web:1"}},
		{tool, map[string]string{ociRefName: "2", containerdRefKey: "quay.io/org/tool:2"}},
		{unused, map[string]string{ociRefName: "registry.example/own/unused:1"}},
	})
	for _, dot := range []bool{false, true} {
		own := tarDir(t, dir, filepath.Join(t.TempDir(), "own-oci.tar"), dot)
		var progress bytes.Buffer
		refs := []string{"ghcr.io/own/web:1", "quay.io/org/tool@" + digestOf(t, tool)}
		out, m := bundle(t, refs, Options{Archives: []string{own}, Transport: offline{}, Progress: &progress})
		if got, want := imageOf(t, m, "ghcr.io/own/web:1"), digestOf(t, web); got.Digest != want || got.Source != "archive own-oci.tar" {
			t.Errorf("web bundled as %+v, want digest %s from archive own-oci.tar", got, want)
		}
		if got, want := imageOf(t, m, refs[1]), digestOf(t, tool); got.Digest != want {
			t.Errorf("tool bundled with digest %s, want %s", got.Digest, want)
		}
		files := tarFiles(t, out)
		for _, img := range []v1.Image{web, tool} {
			layers, err := img.Layers()
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range layers {
				d, _ := l.Digest()
				if _, ok := files[blobDir+d.Hex]; !ok {
					t.Errorf("layer %s is not in the bundle", d)
				}
			}
		}
		if want := "image archive " + own + ": registry.example/own/unused:1 not used by this project, left out"; !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
		if _, err := Verify(out); err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
}

// An entry named only by a tag, a missing or corrupt blob, and an image of another platform are refused, naming
// the archive.
func TestBundleOCIArchiveErrors(t *testing.T) {
	t.Parallel()
	web := randomImage(t, 256, 1, "linux/amd64")
	arm := randomImage(t, 256, 1, "linux/arm64")
	bare := ociArchiveOf(t, "bare.tar", []ociEntry{{web, map[string]string{ociRefName: "1"}}})
	platform := ociArchiveOf(t, "arm.tar", []ociEntry{{arm, map[string]string{ociRefName: "ghcr.io/own/arm:1"}}})
	layers, err := web.Layers()
	if err != nil {
		t.Fatal(err)
	}
	layer, _ := layers[0].Digest()
	dir := ociLayout(t, []ociEntry{{web, map[string]string{ociRefName: "ghcr.io/own/web:1"}}})
	blob := filepath.Join(dir, "blobs", "sha256", layer.Hex)
	data, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(blob, data, 0o644); err != nil {
		t.Fatal(err)
	}
	corrupt := tarDir(t, dir, filepath.Join(t.TempDir(), "corrupt.tar"), false)
	if err := os.Remove(blob); err != nil {
		t.Fatal(err)
	}
	missing := tarDir(t, dir, filepath.Join(t.TempDir(), "missing.tar"), false)
	cases := []struct {
		name    string
		ref     string
		archive string
		want    string
	}{
		{"bare-tag", "ghcr.io/own/web:1", bare, "image archive " + bare + ": index.json entry 0 (" + digestOf(t, web) + ") is named only by the tag \"1\""},
		{"corrupt-layer", "ghcr.io/own/web:1", corrupt, "blob " + layer.String() + " in image archive " + corrupt + " is corrupt"},
		{"missing-layer", "ghcr.io/own/web:1", missing, "blob " + layer.String() + " is missing from image archive " + missing},
		{"platform", "ghcr.io/own/arm:1", platform, "image ghcr.io/own/arm:1: image archive " + platform + ": the image is for linux/arm64, not linux/amd64"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "bundle.tar")
			_, err := Bundle(context.Background(), []string{tc.ref}, out, Options{Archives: []string{tc.archive}, Transport: offline{}})
			if err == nil {
				t.Fatal("Bundle succeeded")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error lacks %q:\n%v", tc.want, err)
			}
			if exists(out) {
				t.Errorf("Bundle failed but wrote %s", out)
			}
		})
	}
}

// A nested index (as buildx writes, with an attestation beside the image) gives its one image; one of several
// platforms is refused.
func TestBundleOCIArchiveNestedIndex(t *testing.T) {
	t.Parallel()
	img := randomImage(t, 256, 1, "linux/amd64")
	att := randomImage(t, 64, 1, "linux/amd64")
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"}}})
	multi := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: randomImage(t, 64, 1, "linux/arm64"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{ociRefName: "1", containerdRefKey: "ghcr.io/own/web:1"})); err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(multi, layout.WithAnnotations(map[string]string{ociRefName: "ghcr.io/own/multi:1"})); err != nil {
		t.Fatal(err)
	}
	own := tarDir(t, dir, filepath.Join(t.TempDir(), "buildx.tar"), false)
	out, m := bundle(t, []string{"ghcr.io/own/web:1"}, Options{Archives: []string{own}, Transport: offline{}})
	if got, want := m.Images[0].Digest, digestOf(t, img); got != want {
		t.Errorf("bundled %s, want the index's amd64 image %s", got, want)
	}
	if _, err := Verify(out); err != nil {
		t.Errorf("Verify: %v", err)
	}
	_, err = Bundle(context.Background(), []string{"ghcr.io/own/multi:1"}, filepath.Join(t.TempDir(), "b.tar"), Options{Archives: []string{own}, Transport: offline{}})
	if err == nil || !strings.Contains(err.Error(), "multi-platform indexes in OCI archives are not supported") {
		t.Errorf("multi-platform index: %v", err)
	}
}

// A Docker 25 archive (manifest.json beside index.json and oci-layout) is still read through manifest.json: its
// RepoTags name the images, and the OCI annotations are not looked at.
func TestBundleDockerArchiveWithIndex(t *testing.T) {
	t.Parallel()
	web := randomImage(t, 256, 1, "linux/amd64")
	docker := saveArchive(t, "docker.tar", map[string]v1.Image{"ghcr.io/own/web:1": web})
	files := tarFiles(t, docker)
	dir := ociLayout(t, []ociEntry{{web, map[string]string{ociRefName: "ghcr.io/own/other:1"}}})
	for n, data := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, n)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	both := tarDir(t, dir, filepath.Join(t.TempDir(), "both.tar"), false)
	var progress bytes.Buffer
	_, m := bundle(t, []string{"ghcr.io/own/web:1"}, Options{Archives: []string{both}, Transport: offline{}, Progress: &progress})
	if got, want := m.Images[0].Digest, digestOf(t, archived(t, both, "ghcr.io/own/web:1")); got != want {
		t.Errorf("bundled %s, want %s as tarball reads manifest.json", got, want)
	}
	if strings.Contains(progress.String(), "ghcr.io/own/other:1") {
		t.Errorf("the index.json name was read:\n%s", progress.String())
	}
}
