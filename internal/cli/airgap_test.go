package cli

import (
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// inProcessRegistry starts a registry for the test and returns its host:port.
func inProcessRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// pushRandom writes a random image of two layers of size bytes to ref and returns its digest.
func pushRandom(t *testing.T, ref string, size int64) v1.Hash {
	t.Helper()
	img, err := random.Image(size, 2)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestAirgapImagesExample(t *testing.T) {
	t.Parallel()
	file := filepath.Join(repoRoot(t), "examples", "ai-lab", "compose.yaml")
	r := run(t, "airgap", "images", "-f", file, "--image", "nvcr.io/nvidia/k8s-device-plugin:v0.17.0")
	if r.code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"ghcr.io/agops/agops:" + Version, "temporalio/auto-setup:1.30.1", "postgres:17.2", "nvcr.io/nvidia/k8s-device-plugin:v0.17.0"} {
		if !strings.Contains(r.stdout, want+"\n") {
			t.Errorf("image list lacks %s:\n%s", want, r.stdout)
		}
	}
}

// A Compose project whose images live in an in-process registry: bundle, verify, push to a second registry.
func TestAirgapBundleVerifyPush(t *testing.T) {
	t.Parallel()
	src, dst := inProcessRegistry(t), inProcessRegistry(t)
	appDigest := pushRandom(t, src+"/example/app:1", 1024)
	pushRandom(t, src+"/library/postgres:16", 1024)
	pushRandom(t, src+"/agops/agops:1", 1024)
	extra := pushRandom(t, src+"/nvidia/device-plugin:0.17", 1024)
	file := project(t, "services:\n  app:\n    image: "+src+"/example/app:1\n    depends_on:\n      db: {condition: service_healthy}\n"+
		"  db:\n    image: "+src+"/library/postgres:16\n    healthcheck: {test: [CMD, pg_isready]}\n")
	out := filepath.Join(t.TempDir(), "bundle.tar")
	r := run(t, "airgap", "bundle", "-f", file, "--helper-image", src+"/agops/agops:1", "--image", src+"/nvidia/device-plugin:0.17", "-o", out)
	if r.code != exitOK {
		t.Fatalf("bundle: exit %d; stderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "wrote "+out+": 4 images for linux/amd64") || !strings.Contains(r.stdout, appDigest.String()) {
		t.Errorf("bundle stdout:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "pull "+src+"/example/app:1 [") {
		t.Errorf("bundle shows no progress:\n%s", r.stderr)
	}
	r = run(t, "airgap", "verify", out)
	if r.code != exitOK || !strings.Contains(r.stdout, out+" is intact: 4 images") {
		t.Fatalf("verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, "-q", "airgap", "push", out, "--registry", dst+"/mirror")
	if r.code != exitOK || r.stderr != "" {
		t.Fatalf("push -q: exit %d; stderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		src + "/example/app:1 -> " + dst + "/mirror/example/app:1@" + appDigest.String(),
		src + "/nvidia/device-plugin:0.17 -> " + dst + "/mirror/nvidia/device-plugin:0.17@" + extra.String(),
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("push stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	byDigest, err := name.ParseReference(dst + "/mirror/example/app@" + appDigest.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Head(byDigest); err != nil {
		t.Errorf("the pushed image is not addressable by its digest: %v", err)
	}
}

// A bundle from an agops output folder; then a tampered copy fails verify and push with one line per problem.
func TestAirgapFolderAndTamper(t *testing.T) {
	t.Parallel()
	src := inProcessRegistry(t)
	pushRandom(t, src+"/example/app:1", 1<<20) // layers so large that the archive's middle is in one
	dir := t.TempDir()
	folder := filepath.Join(dir, "out")
	file := project(t, "services:\n  app:\n    image: "+src+"/example/app:1\n")
	if r := run(t, "migrate", "-q", "-f", file, "-o", folder); r.code != exitOK {
		t.Fatalf("migrate: %s", r.stderr)
	}
	out := filepath.Join(dir, "bundle.tar")
	if r := run(t, "-q", "airgap", "bundle", folder, "-o", out); r.code != exitOK {
		t.Fatalf("bundle OUT: exit %d; stderr:\n%s", r.code, r.stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/4] ^= 0x01 // inside the first large layer, whatever the order of blobs (not in tar padding)
	bad := filepath.Join(dir, "bad.tar")
	if err := os.WriteFile(bad, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"airgap", "verify", bad}, {"airgap", "push", bad, "--registry", inProcessRegistry(t)}} {
		r := run(t, args...)
		if r.code != exitInput || !strings.Contains(r.stderr, "agops: bundle "+bad+" is not intact") || !strings.Contains(r.stderr, "agops: blobs/sha256/") {
			t.Errorf("%v: exit %d; stderr:\n%s", args, r.code, r.stderr)
		}
	}
}

func TestAirgapUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a binary\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"invalid-bundle-no-output", []string{"airgap", "bundle", "--image", "redis:7"}, exitUsage, "-o bundle.tar is required"},
		{"invalid-bundle-no-source", []string{"airgap", "bundle", "-o", filepath.Join(dir, "b.tar")}, exitUsage, "nothing to bundle"},
		{"invalid-bundle-both-sources", []string{"airgap", "bundle", dir, "-f", "compose.yaml", "-o", filepath.Join(dir, "b.tar")}, exitUsage, "not both"},
		{"invalid-bundle-two-folders", []string{"airgap", "bundle", dir, dir, "-o", filepath.Join(dir, "b.tar")}, exitUsage, "accepts at most 1 arg"},
		{"invalid-bundle-bad-ref", []string{"airgap", "bundle", "--image", "Bad Ref", "-o", filepath.Join(dir, "b.tar")}, exitInput, `image "Bad Ref"`},
		{"invalid-push-no-registry", []string{"airgap", "push", filepath.Join(dir, "b.tar")}, exitUsage, "--registry REG[/prefix] is required"},
		{"invalid-verify-missing", []string{"airgap", "verify", filepath.Join(dir, "nope.tar")}, exitInput, "opening bundle"},
		{"invalid-unknown-verb", []string{"airgap", "mirror"}, exitUsage, "unknown command"},
		{"invalid-pull-mirror-no-equals", []string{"airgap", "bundle", "--image", "redis:7", "--pull-mirror", "docker.io", "-o", filepath.Join(dir, "b.tar")},
			exitUsage, `--pull-mirror: pull mirror "docker.io": no '='; want HOST=REG[/prefix]`},
		{"invalid-pull-mirror-empty-host", []string{"airgap", "bundle", "--image", "redis:7", "--pull-mirror", "=proxy.example", "-o", filepath.Join(dir, "b.tar")},
			exitUsage, "no registry host before '='"},
		{"invalid-pull-mirror-scheme", []string{"airgap", "bundle", "--image", "redis:7", "--pull-mirror", "docker.io=https://proxy.example", "-o", filepath.Join(dir, "b.tar")},
			exitUsage, "without a scheme"},
		{"invalid-pull-mirror-not-a-host", []string{"airgap", "bundle", "--image", "redis:7", "--pull-mirror", "docker=proxy.example", "-o", filepath.Join(dir, "b.tar")},
			exitUsage, `"docker" is not a registry host`},
		{"invalid-pull-mirror-twice", []string{"airgap", "bundle", "--image", "redis:7", "--pull-mirror", "docker.io=a.example", "--pull-mirror", "index.docker.io=b.example", "-o", filepath.Join(dir, "b.tar")},
			exitUsage, "two pull mirrors for index.docker.io: a.example and b.example"},
		{"invalid-helper-binary-not-static", []string{"airgap", "bundle", "--image", "ghcr.io/agops/agops:" + Version, "--helper-binary", filepath.Join(dir, "notes.txt"), "-o", filepath.Join(dir, "b.tar")},
			exitInput, "CGO_ENABLED=0 go build -o agops ./cmd/agops"},
		{"invalid-image-archive-missing", []string{"airgap", "bundle", "--image", "redis:7", "--image-archive", filepath.Join(dir, "nope.tar"), "-o", filepath.Join(dir, "b.tar")},
			exitInput, "image archive " + filepath.Join(dir, "nope.tar") + ": not a docker-archive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d (want %d); stderr lacks %q:\n%s", r.code, tc.code, tc.want, r.stderr)
			}
		})
	}
	if exists(filepath.Join(dir, "b.tar")) {
		t.Errorf("a failed bundle wrote its output")
	}
}

// saveImages writes a `docker save` archive, own-images.tar, holding a random image under each tag.
func saveImages(t *testing.T, tags []string) string {
	t.Helper()
	images := map[name.Reference]v1.Image{}
	for _, tag := range tags {
		img, err := random.Image(512, 2)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := name.NewTag(tag)
		if err != nil {
			t.Fatal(err)
		}
		images[ref] = img
	}
	path := filepath.Join(t.TempDir(), "own-images.tar")
	if err := tarball.MultiRefWriteToFile(path, images); err != nil {
		t.Fatal(err)
	}
	return path
}

// staticAgops builds agops as docs/airgap.md tells a user to (CGO_ENABLED=0 go build -o DIR/agops ./cmd/agops),
// for linux/amd64 and stripped, so that image.Build has less to compress. The build cache makes it cheap after the
// first run (which compiles the tree once more with cgo off).
func staticAgops(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "agops")
	cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", out, "./cmd/agops")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// lineWith is the first line of text containing s, without trailing blanks.
func lineWith(text, s string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return strings.TrimRight(l, " ")
		}
	}
	return ""
}
