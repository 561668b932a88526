package airgap

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/agops/agops/internal/image"
)

// The same random image, pulled from a registry or read from a `docker save` archive, is bundled with the same
// digest and the same blobs. The rule the test pins: the bundled digest is the one the archive's image has as
// go-containerregistry reads it back (for an image written by tarball, also the registry's digest).
func TestBundleArchiveSameDigest(t *testing.T) {
	t.Parallel()
	host := newRegistry(t)
	ref := host + "/own/web:1"
	img := randomImage(t, 2048, 3, "linux/amd64")
	pushed := push(t, ref, img)
	own := saveArchive(t, "own.tar", map[string]v1.Image{ref: img, host + "/own/unused:1": randomImage(t, 64, 1, "linux/amd64")})
	if got := digestOf(t, archived(t, own, ref)); got != pushed.String() {
		t.Fatalf("the tarball round trip changed the digest: %s, pushed %s", got, pushed)
	}
	pulledOut, pulled := bundle(t, []string{ref}, Options{})
	var progress bytes.Buffer
	loadedOut, loaded := bundle(t, []string{ref}, Options{Archives: []string{own}, Transport: offline{}, Progress: &progress})
	p, l := pulled.Images[0], loaded.Images[0]
	if p.Digest != pushed.String() || l.Digest != p.Digest || l.Size != p.Size || l.Repository != p.Repository || l.Registry != p.Registry {
		t.Errorf("pulled %+v, loaded %+v; want both with digest %s", p, l, pushed)
	}
	if p.Source != "" || l.Source != "archive own.tar" {
		t.Errorf("sources %q and %q, want none and %q", p.Source, l.Source, "archive own.tar")
	}
	pf, lf := tarFiles(t, pulledOut), tarFiles(t, loadedOut)
	for name, data := range pf {
		if strings.HasPrefix(name, blobDir) && !bytes.Equal(lf[name], data) {
			t.Errorf("%s differs between the pulled and the loaded bundle", name)
		}
	}
	if len(pf) != len(lf) {
		t.Errorf("the pulled bundle has %d files, the loaded one %d", len(pf), len(lf))
	}
	for _, want := range []string{"load " + ref + " [####################]", "(archive own.tar)", "image archive " + own + ": " + host + "/own/unused:1 not used by this project, left out"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
	}
	if _, err := Verify(loadedOut); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

// References match RepoTags by name, whatever their spelling; a reference pinned by digest matches when the
// archive's image has that digest.
func TestBundleArchiveMatching(t *testing.T) {
	t.Parallel()
	pg := randomImage(t, 256, 1, "linux/amd64")
	tool := randomImage(t, 256, 1, "linux/amd64")
	own := saveArchive(t, "own.tar", map[string]v1.Image{"postgres:17.2": pg, "quay.io/org/tool:2": tool})
	toolDigest := digestOf(t, archived(t, own, "quay.io/org/tool:2"))
	refs := []string{
		"postgres:17.2", "docker.io/library/postgres:17.2", "index.docker.io/library/postgres:17.2",
		"quay.io/org/tool@" + toolDigest, "quay.io/org/tool:2@" + toolDigest,
	}
	out, m := bundle(t, refs, Options{Archives: []string{own}, Transport: offline{}})
	pgDigest := digestOf(t, archived(t, own, "postgres:17.2"))
	for _, img := range m.Images {
		want := pgDigest
		if strings.Contains(img.Ref, "tool") {
			want = toolDigest
		}
		if img.Digest != want || img.Source != "archive own.tar" {
			t.Errorf("%s: digest %s from %q, want %s from the archive", img.Ref, img.Digest, img.Source, want)
		}
	}
	if img := imageOf(t, m, "postgres:17.2"); img.Repository != "index.docker.io/library/postgres" || img.Registry != "index.docker.io" {
		t.Errorf("postgres:17.2 recorded as %+v", img)
	}
	if _, err := Verify(out); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

// Pulls of a mirrored registry go to the pull-through cache; the bundle keeps the original names, and push maps
// them as it maps pulled images.
func TestBundleMirror(t *testing.T) {
	t.Parallel()
	cache, direct := newRegistry(t), newRegistry(t)
	pg := randomImage(t, 1024, 2, "linux/amd64")
	pgDigest := push(t, cache+"/hub/library/postgres:17.2", pg)
	idx, images := pushIndex(t, cache+"/hub/example/app:1.4")
	idxDigest, _ := idx.Digest()
	appDigest, _ := images["linux/amd64"].Digest()
	tool := randomImage(t, 512, 1, "linux/amd64")
	toolDigest := push(t, cache+"/ghcr/example/tool:1", tool)
	plain := randomImage(t, 512, 1, "linux/amd64")
	plainDigest := push(t, direct+"/own/plain:1", plain)
	mirrors := []Mirror{mustMirror(t, "docker.io="+cache+"/hub"), mustMirror(t, "ghcr.io="+cache+"/ghcr/")}
	refs := []string{"postgres:17.2", "docker.io/example/app:1.4", "ghcr.io/example/tool@" + toolDigest.String(), direct + "/own/plain:1"}
	out, m := bundle(t, refs, Options{Mirrors: mirrors})
	want := map[string]Image{
		"postgres:17.2": {Repository: "index.docker.io/library/postgres", Registry: "index.docker.io", Digest: pgDigest.String(), Source: "pull-mirror " + cache + "/hub"},
		"docker.io/example/app:1.4": {Repository: "index.docker.io/example/app", Registry: "index.docker.io", Digest: appDigest.String(),
			IndexDigest: idxDigest.String(), Source: "pull-mirror " + cache + "/hub"},
		"ghcr.io/example/tool@" + toolDigest.String(): {Repository: "ghcr.io/example/tool", Registry: "ghcr.io", Digest: toolDigest.String(), Source: "pull-mirror " + cache + "/ghcr"},
		direct + "/own/plain:1":                       {Repository: direct + "/own/plain", Registry: direct, Digest: plainDigest.String()},
	}
	for ref, w := range want {
		got := imageOf(t, m, ref)
		got.Ref, got.Size = "", 0
		if got != w {
			t.Errorf("%s recorded as\n%+v, want\n%+v", ref, got, w)
		}
	}
	target := newRegistry(t) + "/site"
	pushed, err := Push(context.Background(), out, target, PushOptions{})
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	for ref, img := range map[string]v1.Image{"postgres:17.2": pg, "docker.io/example/app:1.4": images["linux/amd64"], direct + "/own/plain:1": plain} {
		checkPushed(t, ref, pushed[ref], target, img)
	}
	_, err = Bundle(context.Background(), []string{"postgres:16"}, filepath.Join(t.TempDir(), "b.tar"), Options{Mirrors: mirrors})
	if err == nil || !strings.Contains(err.Error(), "image postgres:16: through pull-mirror "+cache+"/hub/library/postgres:16") {
		t.Errorf("an image the mirror lacks: error %v, want one naming the mirror's reference", err)
	}
}

func mustMirror(t *testing.T, s string) Mirror {
	t.Helper()
	m, err := ParseMirror(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The helper image built from a static binary is bundled with the digest image.Build gives.
func TestBundleHelperBinary(t *testing.T) {
	t.Parallel()
	bin := tinyStatic(t)
	ref := "ghcr.io/agops/agops:v9.9.9"
	built, err := image.Build(bin)
	if err != nil {
		t.Fatal(err)
	}
	out, m := bundle(t, []string{ref}, Options{Helper: &Helper{Ref: ref, Binary: bin}, Transport: offline{}})
	if img := m.Images[0]; img.Digest != digestOf(t, built) || img.Source != SourceBuilt || img.Registry != "ghcr.io" {
		t.Errorf("helper recorded as %+v, want digest %s built from the binary", img, digestOf(t, built))
	}
	if _, err := Verify(out); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

// Every source in one bundle; verify; push to a second registry: the digests there are the bundled ones. An
// interrupted run resumes without writing again the blobs it has, whatever their source, and gives the archive an
// uninterrupted run gives.
func TestBundleMixedSources(t *testing.T) {
	t.Parallel()
	host, cache := newRegistry(t), newRegistry(t)
	helperImg := randomImage(t, 1024, 2, "linux/amd64")
	ownImg := randomImage(t, 1024, 2, "linux/amd64")
	own := saveArchive(t, "own.tar", map[string]v1.Image{host + "/own/web:1": ownImg})
	pubImg := randomImage(t, 1024, 2, "linux/amd64")
	push(t, cache+"/hub/pub/app:1", pubImg)
	direct := randomImage(t, 1024, 2, "linux/amd64")
	push(t, host+"/plain/db:1", direct)
	refs := []string{host + "/agops/agops:1", host + "/own/web:1", "docker.io/pub/app:1", host + "/plain/db:1"}
	o := Options{Archives: []string{own}, Helper: &Helper{Ref: host + "/agops/agops:1", Image: helperImg},
		Mirrors: []Mirror{mustMirror(t, "docker.io="+cache+"/hub")}, Created: created}
	out := filepath.Join(t.TempDir(), "bundle.tar")
	// Blob GETs: the configs of the two pulled images while resolving, then the helper's and the archive's layers
	// are stored (no GET), then the first pulled layer fails.
	first := o
	first.Transport = newBlobCounter(2)
	if _, err := Bundle(context.Background(), refs, out, first); err == nil || !strings.Contains(err.Error(), errInterrupted.Error()) {
		t.Fatalf("interrupted Bundle: %v", err)
	}
	if exists(out) {
		t.Fatalf("an interrupted Bundle wrote %s", out)
	}
	checkPartial(t, out+".partial")
	var progress bytes.Buffer
	second := o
	second.Progress = &progress
	m, err := Bundle(context.Background(), refs, out, second)
	if err != nil {
		t.Fatalf("resumed Bundle: %v", err)
	}
	for _, ref := range refs[:2] {
		if !strings.Contains(progress.String(), "load "+ref+" [####################]") || !strings.Contains(lineOf(progress.String(), ref), "of layers already in the working folder") {
			t.Errorf("the resumed run wrote %s's layers again:\n%s", ref, progress.String())
		}
	}
	sources := map[string]string{refs[0]: SourceBuilt, refs[1]: "archive own.tar", refs[2]: "pull-mirror " + cache + "/hub", refs[3]: ""}
	for ref, src := range sources {
		if got := imageOf(t, m, ref).Source; got != src {
			t.Errorf("%s: source %q, want %q", ref, got, src)
		}
	}
	fresh, _ := bundle(t, refs, o)
	if sha256File(t, out) != sha256File(t, fresh) {
		t.Errorf("the resumed bundle differs from an uninterrupted one")
	}
	if _, err := Verify(out); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	target := newRegistry(t) + "/site"
	pushed, err := Push(context.Background(), out, target, PushOptions{})
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	for ref, img := range map[string]v1.Image{refs[0]: helperImg, refs[1]: archived(t, own, refs[1]), refs[2]: pubImg, refs[3]: direct} {
		checkPushed(t, ref, pushed[ref], target, img)
	}
}

// lineOf is the progress line about ref.
func lineOf(progress, ref string) string {
	for _, l := range strings.Split(progress, "\n") {
		if strings.Contains(l, " "+ref+" [") {
			return l
		}
	}
	return ""
}

// Bad sources fail with one clear line each, leave no archive, and leave only complete blobs in the working
// folder.
func TestBundleSourceErrors(t *testing.T) {
	t.Parallel()
	host := newRegistry(t)
	ok := host + "/ok/app:1"
	push(t, ok, randomImage(t, 256, 1, "linux/amd64"))
	web := randomImage(t, 256, 1, "linux/amd64")
	own := saveArchive(t, "own.tar", map[string]v1.Image{host + "/own/web:1": web, host + "/own/arm:1": randomImage(t, 256, 1, "linux/arm64")})
	again := saveArchive(t, "again.tar", map[string]v1.Image{host + "/own/web:1": web})
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("not an archive\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	other := "sha256:" + strings.Repeat("ab", 32)
	helper := host + "/agops/agops:1"
	arm := randomImage(t, 256, 1, "linux/arm64")
	cases := []struct {
		name string
		refs []string
		o    Options
		want []string
	}{
		{"invalid-archive-platform", []string{ok, host + "/own/arm:1"}, Options{Archives: []string{own}},
			[]string{"image " + host + "/own/arm:1: image archive " + own + ": the image is for linux/arm64, not linux/amd64"}},
		{"invalid-helper-platform", []string{ok, helper}, Options{Helper: &Helper{Ref: helper, Image: arm}},
			[]string{"image " + helper + ": the helper image given: the image is for linux/arm64, not linux/amd64"}},
		{"invalid-duplicate-tag", []string{ok}, Options{Archives: []string{own, again}},
			[]string{"image " + host + "/own/web:1 is offered twice: by image archive " + own + " and by " + again}},
		{"invalid-pinned-tag-digest", []string{ok, host + "/own/web:1@" + other}, Options{Archives: []string{own}},
			[]string{"image " + host + "/own/web:1@" + other + ": image archive " + own + " has digest " + digestOf(t, web) + ", but the reference pins " + other}},
		{"invalid-pinned-digest", []string{ok, host + "/own/web@" + other}, Options{Archives: []string{own}},
			[]string{"the reference pins " + other + ", but the image archives' images of " + host + "/own/web have other digests: tag 1 in " + own + " has " + digestOf(t, web)}},
		{"invalid-not-an-archive", []string{ok}, Options{Archives: []string{text, filepath.Join(dir, "missing.tar")}},
			[]string{"image archive " + text + ": not a docker-archive", "image archive " + filepath.Join(dir, "missing.tar") + ": not a docker-archive"}},
		{"invalid-helper-not-listed", []string{ok}, Options{Helper: &Helper{Ref: helper, Image: arm}},
			[]string{"helper image " + helper + " is not among the images to bundle"}},
		{"invalid-helper-not-static", []string{ok, helper}, Options{Helper: &Helper{Ref: helper, Binary: text}},
			[]string{"helper image " + helper + ": " + text + " is not an ELF executable", staticBuild}},
		{"invalid-helper-and-archive", []string{host + "/own/web:1"}, Options{Archives: []string{own}, Helper: &Helper{Ref: host + "/own/web:1", Image: arm}},
			[]string{"image " + host + "/own/web:1: both the helper binary and image archive " + own + " provide it"}},
		{"invalid-two-mirrors", []string{ok}, Options{Mirrors: []Mirror{{"index.docker.io", "a.example"}, {"index.docker.io", "b.example"}}},
			[]string{"two pull mirrors for index.docker.io: a.example and b.example"}},
		{"invalid-mirror-not-parsed", []string{ok}, Options{Mirrors: []Mirror{{"docker.io", "a.example/"}}},
			[]string{"pull mirror docker.io=a.example/: write it as index.docker.io=a.example"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "bundle.tar")
			_, err := Bundle(context.Background(), tc.refs, out, tc.o)
			if err == nil {
				t.Fatal("Bundle succeeded")
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if exists(out) {
				t.Errorf("Bundle failed but wrote %s", out)
			}
			checkPartial(t, out+".partial")
		})
	}
}
