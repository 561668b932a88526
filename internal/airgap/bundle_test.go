package airgap

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// source is a registry with a plain image, a two-platform index and a digest-pinned image.
type source struct {
	host    string
	refs    []string
	digests map[string]v1.Hash // ref → the linux/amd64 image digest
	images  map[string]v1.Image
	index   v1.Hash
}

func newSource(t *testing.T) source {
	t.Helper()
	s := source{host: newRegistry(t), digests: map[string]v1.Hash{}, images: map[string]v1.Image{}}
	plain := randomImage(t, 2048, 3, "linux/amd64")
	s.add(s.host+"/library/postgres:16", plain, push(t, s.host+"/library/postgres:16", plain))
	idx, images := pushIndex(t, s.host+"/example/app:1.4")
	s.index, _ = idx.Digest()
	d, _ := images["linux/amd64"].Digest()
	s.add(s.host+"/example/app:1.4", images["linux/amd64"], d)
	s.add(s.host+"/example/app@"+s.index.String(), images["linux/amd64"], d)
	pinnedImg := randomImage(t, 512, 1, "linux/amd64")
	d = push(t, s.host+"/tools/probe:0.1", pinnedImg)
	s.add(s.host+"/tools/probe@"+d.String(), pinnedImg, d)
	slices.Sort(s.refs)
	return s
}

func (s *source) add(ref string, img v1.Image, d v1.Hash) {
	s.refs, s.digests[ref], s.images[ref] = append(s.refs, ref), d, img
}

func bundle(t *testing.T, refs []string, o Options) (string, Manifest) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bundle.tar")
	o.Created = created
	m, err := Bundle(context.Background(), refs, out, o)
	if err != nil {
		t.Fatalf("Bundle: %v", err)
	}
	return out, m
}

func TestBundleVerifyPush(t *testing.T) {
	t.Parallel()
	src := newSource(t)
	out, m := bundle(t, src.refs, Options{})
	if exists(out + ".partial") {
		t.Errorf("the working folder %s.partial is still there after success", out)
	}
	vm, err := Verify(out)
	if err != nil {
		t.Fatalf("Verify of a fresh bundle: %v", err)
	}
	if vm.Platform != "linux/amd64" || len(vm.Images) != len(src.refs) || !vm.Created.Equal(created) {
		t.Errorf("Verify's manifest = %+v", vm)
	}
	for i, img := range m.Images {
		if img.Ref != src.refs[i] || img.Digest != src.digests[img.Ref].String() {
			t.Errorf("image %d: %s %s, want %s %s", i, img.Ref, img.Digest, src.refs[i], src.digests[src.refs[i]])
		}
	}
	target := newRegistry(t) + "/mirror"
	pushed, err := Push(context.Background(), out, target, PushOptions{})
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	for _, ref := range src.refs {
		checkPushed(t, ref, pushed[ref], target, src.images[ref])
	}
}

// checkPushed compares what Push reports and what the target registry serves with the source image: by tag (when
// the reference has one) and by digest.
func checkPushed(t *testing.T, ref, pushedAs, target string, want v1.Image) {
	t.Helper()
	wantDigest, _ := want.Digest()
	mapped, err := TargetRef(ref, target)
	if err != nil {
		t.Fatal(err)
	}
	repoAndTag, _, _ := strings.Cut(mapped, "@")
	if pushedAs != repoAndTag+"@"+wantDigest.String() {
		t.Errorf("%s pushed as %q, want %s@%s", ref, pushedAs, repoAndTag, wantDigest)
	}
	repo := repoAndTag
	if tag := tagOf(ref); tag != "" {
		repo = strings.TrimSuffix(repoAndTag, ":"+tag)
	}
	pulls := []string{pushedAs, repo + "@" + wantDigest.String()}
	if repo != repoAndTag {
		pulls = append(pulls, repoAndTag)
	}
	wantConfig, _ := want.ConfigName()
	for _, r := range pulls {
		got := pull(t, r)
		d, _ := got.Digest()
		config, _ := got.ConfigName()
		if d != wantDigest || config != wantConfig {
			t.Errorf("%s: digest %s and config %s, want %s and %s", r, d, config, wantDigest, wantConfig)
		}
		if err := validate.Image(got); err != nil {
			t.Errorf("pulling %s from the target: %v", r, err)
		}
	}
}

func pull(t *testing.T, ref string) v1.Image {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	return img
}

// The archive, unpacked, is an OCI image layout that go-containerregistry reads and validates, and its entries
// keep the references.
func TestBundleIsOCILayout(t *testing.T) {
	t.Parallel()
	src := newSource(t)
	out, _ := bundle(t, src.refs, Options{})
	dir := t.TempDir()
	for name, data := range tarFiles(t, out) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Errorf("the unpacked bundle is not a valid OCI layout: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, d := range im.Manifests {
		refs = append(refs, d.Annotations[RefAnnotation])
		if d.Digest != src.digests[d.Annotations[RefAnnotation]] {
			t.Errorf("index.json: %s has digest %s, want %s", d.Annotations[RefAnnotation], d.Digest, src.digests[d.Annotations[RefAnnotation]])
		}
	}
	if !slices.Equal(refs, src.refs) {
		t.Errorf("index.json references = %v, want %v", refs, src.refs)
	}
}

func TestBundleMultiPlatform(t *testing.T) {
	t.Parallel()
	host := newRegistry(t)
	ref := host + "/example/app:1.4"
	idx, images := pushIndex(t, ref)
	indexDigest, _ := idx.Digest()
	for _, tc := range []struct{ platform, other string }{{"linux/arm64", "linux/amd64"}, {"linux/amd64", "linux/arm64"}} {
		t.Run("valid-"+strings.ReplaceAll(tc.platform, "/", "-"), func(t *testing.T) {
			t.Parallel()
			out, m := bundle(t, []string{ref}, Options{Platform: tc.platform})
			want, _ := images[tc.platform].Digest()
			if img := m.Images[0]; img.Digest != want.String() || img.IndexDigest != indexDigest.String() || m.Platform != tc.platform {
				t.Errorf("recorded %+v on %s; want digest %s, index digest %s", img, m.Platform, want, indexDigest)
			}
			files := tarFiles(t, out)
			for _, h := range blobDigests(t, images[tc.platform]) {
				if _, ok := files[blobName(h)]; !ok {
					t.Errorf("blob %s of %s is missing", h, tc.platform)
				}
			}
			for _, h := range blobDigests(t, images[tc.other]) {
				if _, ok := files[blobName(h)]; ok {
					t.Errorf("blob %s of %s is in a %s bundle", h, tc.other, tc.platform)
				}
			}
		})
	}
	t.Run("invalid-platform-not-in-index", func(t *testing.T) {
		t.Parallel()
		out := filepath.Join(t.TempDir(), "b.tar")
		_, err := Bundle(context.Background(), []string{ref}, out, Options{Platform: "linux/s390x"})
		if err == nil || !strings.Contains(err.Error(), "no linux/s390x image") || !strings.Contains(err.Error(), "linux/arm64") {
			t.Errorf("error = %v, want one naming the missing platform and those available", err)
		}
	})
}

func sha256File(t *testing.T, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

// An interrupted pull leaves its verified blobs in the working folder; the next run fetches only the others and
// writes the same archive as an uninterrupted run.
func TestBundleResume(t *testing.T) {
	t.Parallel()
	src := newSource(t)
	out := filepath.Join(t.TempDir(), "bundle.tar")
	first := newBlobCounter(6) // the 3 configs (fetched while resolving) and 3 layers
	_, err := Bundle(context.Background(), src.refs, out, Options{Transport: first, Created: created})
	if err == nil || !strings.Contains(err.Error(), errInterrupted.Error()) {
		t.Fatalf("interrupted Bundle: error %v, want the injected failure", err)
	}
	if exists(out) {
		t.Fatalf("an interrupted Bundle left %s", out)
	}
	stored := storedBlobs(t, out+".partial", src)
	if len(stored) != 6 {
		t.Errorf("after 6 blob GETs the working folder holds %d blobs, want 6", len(stored))
	}
	second := newBlobCounter(0)
	if _, err := Bundle(context.Background(), src.refs, out, Options{Transport: second, Created: created}); err != nil {
		t.Fatalf("resumed Bundle: %v", err)
	}
	for d, n := range second.gets {
		if slices.Contains(stored, strings.TrimPrefix(d, "sha256:")) {
			t.Errorf("resumed Bundle fetched %s again; the interrupted run had stored it", d)
		}
		if n > 1 {
			t.Errorf("resumed Bundle fetched %s %d times", d, n)
		}
	}
	if got, want := len(second.gets)+len(stored), countBlobs(t, src); got != want {
		t.Errorf("first run stored %d blobs, second fetched %d: %d in all, want %d", len(stored), len(second.gets), got, want)
	}
	fresh, _ := bundle(t, src.refs, Options{})
	if sha256File(t, out) != sha256File(t, fresh) {
		t.Errorf("the resumed bundle differs from an uninterrupted one")
	}
}

// storedBlobs are the hex digests of the config and layer blobs in a working folder (manifests are written
// there too, from memory).
func storedBlobs(t *testing.T, dir string, src source) []string {
	t.Helper()
	manifests := map[string]bool{}
	for _, d := range src.digests {
		manifests[d.Hex] = true
	}
	entries, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !manifests[e.Name()] {
			out = append(out, e.Name())
		}
	}
	return out
}

// countBlobs is the number of distinct config and layer blobs of the source's images.
func countBlobs(t *testing.T, src source) int {
	seen := map[v1.Hash]bool{}
	for _, img := range src.images {
		for _, h := range blobDigests(t, img) {
			seen[h] = true
		}
	}
	return len(seen)
}

func TestBundleProgress(t *testing.T) {
	t.Parallel()
	src := newSource(t)
	var pulls, pushes bytes.Buffer
	out, _ := bundle(t, src.refs, Options{Progress: &pulls})
	if _, err := Push(context.Background(), out, newRegistry(t), PushOptions{Progress: &pushes}); err != nil {
		t.Fatal(err)
	}
	for _, ref := range src.refs {
		if !strings.Contains(pulls.String(), "pull "+ref+" [####################]") {
			t.Errorf("no finished progress line for %s in:\n%s", ref, pulls.String())
		}
		if !strings.Contains(pushes.String(), "push "+ref) {
			t.Errorf("no push progress line for %s in:\n%s", ref, pushes.String())
		}
	}
	if lines := strings.Count(pulls.String(), "\n"); lines != len(src.refs) {
		t.Errorf("%d progress lines for %d images (not a terminal: one line each):\n%s", lines, len(src.refs), pulls.String())
	}
}
