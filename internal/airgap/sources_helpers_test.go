package airgap

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// saveArchive writes a docker-archive (as `docker save` does) holding each image under its tags, and returns its
// path.
func saveArchive(tb testing.TB, file string, images map[string]v1.Image) string {
	tb.Helper()
	refs := map[name.Reference]v1.Image{}
	for tag, img := range images {
		r, err := name.NewTag(tag)
		if err != nil {
			tb.Fatal(err)
		}
		refs[r] = img
	}
	path := filepath.Join(tb.TempDir(), file)
	if err := tarball.MultiRefWriteToFile(path, refs); err != nil {
		tb.Fatal(err)
	}
	return path
}

// archived is img as go-containerregistry reads it back from the archive at path under tag.
func archived(tb testing.TB, path, tag string) v1.Image {
	tb.Helper()
	t, err := name.NewTag(tag)
	if err != nil {
		tb.Fatal(err)
	}
	img, err := tarball.ImageFromPath(path, &t)
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

func digestOf(tb testing.TB, img v1.Image) string {
	tb.Helper()
	d, err := img.Digest()
	if err != nil {
		tb.Fatal(err)
	}
	return d.String()
}

// offline is a transport that fails every request: a bundle made with it pulled nothing.
type offline struct{}

var errOffline = errors.New("no network in this test")

func (offline) RoundTrip(*http.Request) (*http.Response, error) { return nil, errOffline }

// tinyStatic compiles a tiny static Go program for linux/amd64 (as internal/image's tests do: cheap, and the build
// cache shares it) and returns its path.
func tinyStatic(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	files := map[string]string{
		"go.mod":  "module tiny\n\ngo 1.26\n",
		"main.go": "package main\n\nfunc main() { println(\"tiny\") }\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	out := filepath.Join(dir, "agops")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOWORK=off", "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// checkPartial fails when the working folder at dir holds anything but complete blobs: every file under
// blobs/sha256 has the content its name says, and no download is left in tmp/.
func checkPartial(tb testing.TB, dir string) {
	tb.Helper()
	if !exists(dir) {
		return
	}
	entries, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		if got := fileSHA256(filepath.Join(dir, "blobs", "sha256", e.Name())); got != e.Name() {
			tb.Errorf("working folder: blob %s has content %s", e.Name(), got)
		}
	}
	if tmp, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(tmp) > 0 {
		tb.Errorf("working folder: %d partial downloads left in tmp/", len(tmp))
	}
}

// imageOf finds ref's entry in m.
func imageOf(tb testing.TB, m Manifest, ref string) Image {
	tb.Helper()
	for _, img := range m.Images {
		if img.Ref == ref {
			return img
		}
	}
	var refs []string
	for _, img := range m.Images {
		refs = append(refs, img.Ref)
	}
	tb.Fatalf("%s is not in the bundle (%s)", ref, strings.Join(refs, ", "))
	return Image{}
}
