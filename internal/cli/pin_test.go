package cli

import (
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestMigratePinDigests migrates a project whose images live in an in-process registry with --pin-digests: every
// image in the output carries its digest, and an image the registry does not have fails the migration with its name.
func TestMigratePinDigests(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	digests := map[string]string{}
	for _, repo := range []string{"agops/agops:v1", "team/app:1.0"} {
		img, err := random.Image(128, 1)
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := name.ParseReference(host+"/"+repo, name.Insecure)
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		digests[repo] = d.String()
	}
	dir := project(t, "services:\n  app:\n    image: "+host+"/team/app:1.0\n    depends_on: {db: {condition: service_healthy}}\n"+
		"  db:\n    image: "+host+"/team/app:1.0\n    expose: [\"5432\"]\n    healthcheck: {test: [CMD, pg_isready]}\n")
	out := filepath.Join(t.TempDir(), "out")
	r := run(t, "migrate", "-f", dir, "-o", out, "--pin-digests", "--insecure-registry", "--helper-image", host+"/agops/agops:v1")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var base []byte
	for _, f := range []string{"app.yaml", "db.yaml"} {
		b, err := os.ReadFile(filepath.Join(out, "base", f))
		if err != nil {
			t.Fatal(err)
		}
		base = append(base, b...)
	}
	for repo, d := range digests {
		if !strings.Contains(string(base), host+"/"+repo+"@"+d) {
			t.Errorf("no pinned %s in the output", repo)
		}
	}
	if strings.Contains(string(base), "image: "+host+"/team/app:1.0\n") {
		t.Error("an unpinned image is left")
	}
	gone := project(t, "services:\n  app:\n    image: "+host+"/team/gone:2\n")
	r = run(t, "migrate", "-f", gone, "-o", filepath.Join(t.TempDir(), "o2"), "--pin-digests", "--insecure-registry", "--helper-image", host+"/agops/agops:v1")
	if r.code == 0 || !strings.Contains(r.stderr, "team/gone:2") {
		t.Errorf("missing image: exit %d, %s", r.code, r.stderr)
	}
	// The same from a bundle, offline: the registry is not asked again.
	bundle := filepath.Join(t.TempDir(), "bundle.tar")
	if r := run(t, "airgap", "bundle", "--image", host+"/agops/agops:v1", "--image", host+"/team/app:1.0", "-o", bundle); r.code != 0 {
		t.Fatalf("bundle: exit %d: %s", r.code, r.stderr)
	}
	srv.Close()
	out2 := filepath.Join(t.TempDir(), "out2")
	if r := run(t, "migrate", "-f", dir, "-o", out2, "--bundle", bundle, "--helper-image", host+"/agops/agops:v1"); r.code != 0 {
		t.Fatalf("migrate --bundle: exit %d: %s", r.code, r.stderr)
	}
	b2, _ := os.ReadFile(filepath.Join(out2, "base", "app.yaml"))
	if !strings.Contains(string(b2), host+"/team/app:1.0@"+digests["team/app:1.0"]) {
		t.Errorf("not pinned from the bundle:\n%s", b2)
	}
	bad := project(t, "services:\n  app:\n    image: "+host+"/team/gone:2\n")
	if r := run(t, "migrate", "-f", bad, "-o", filepath.Join(t.TempDir(), "o3"), "--bundle", bundle, "--helper-image", host+"/agops/agops:v1"); r.code == 0 ||
		!strings.Contains(r.stderr, "not in the bundle") {
		t.Errorf("image missing from the bundle: exit %d, %s", r.code, r.stderr)
	}

}

// TestMigrateRegistryMirror: --registry-mirror leaves image names alone and writes the nodes' mirror configuration,
// which covers the project's own registry.
func TestMigrateRegistryMirror(t *testing.T) {
	t.Parallel()
	dir := project(t, "services:\n  app:\n    image: registry.example.com/team/app:1.0\n")
	out := filepath.Join(t.TempDir(), "out")
	if r := run(t, "migrate", "-f", dir, "-o", out, "--registry-mirror", "mirror.lab:5000/site", "--airgap"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	app, _ := os.ReadFile(filepath.Join(out, "base", "app.yaml"))
	if !strings.Contains(string(app), "image: registry.example.com/team/app:1.0\n") {
		t.Errorf("the image name changed:\n%s", app)
	}
	k3s, _ := os.ReadFile(filepath.Join(out, "cluster", "k3s-registries.yaml"))
	talos, _ := os.ReadFile(filepath.Join(out, "cluster", "talos-registry-mirrors.yaml"))
	for _, want := range []string{"registry.example.com:", "https://mirror.lab:5000", "site/$1"} {
		if !strings.Contains(string(k3s), want) {
			t.Errorf("k3s-registries.yaml lacks %q:\n%s", want, k3s)
		}
	}
	for _, want := range []string{"registry.example.com:", "skipFallback: true", "https://mirror.lab:5000/v2/site", "overridePath: true"} {
		if !strings.Contains(string(talos), want) {
			t.Errorf("talos-registry-mirrors.yaml lacks %q:\n%s", want, talos)
		}
	}
	if r := run(t, "migrate", "-f", dir, "-o", filepath.Join(t.TempDir(), "o2"), "--registry-mirror", "/nohost"); r.code == 0 {
		t.Errorf("a mirror without a host was accepted")
	}
}
