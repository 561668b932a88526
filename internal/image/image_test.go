package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// staticBinary compiles a tiny Go program for linux/goarch with cgo off and returns its path.
func staticBinary(t *testing.T, goarch string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":  "module tiny\n\ngo 1.26\n",
		"main.go": "package main\n\nfunc main() { println(\"tiny\") }\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "tiny")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOWORK=off", "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// patched copies the binary at src with b written at offset, to make ELF files Build must refuse.
func patched(t *testing.T, src string, offset int, b ...byte) string {
	t.Helper()
	bin, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	copy(bin[offset:], b)
	out := filepath.Join(t.TempDir(), "patched")
	if err := os.WriteFile(out, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(out, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBuildArchitecture(t *testing.T) {
	t.Parallel()
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run("valid-"+arch, func(t *testing.T) {
			t.Parallel()
			img, err := Build(staticBinary(t, arch))
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			cfg, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Architecture != arch || cfg.OS != "linux" {
				t.Errorf("platform = %s/%s, want linux/%s", cfg.OS, cfg.Architecture, arch)
			}
		})
	}
}

func TestBuildRefuses(t *testing.T) {
	t.Parallel()
	static := staticBinary(t, "amd64")
	tests := []struct {
		name    string
		path    func(t *testing.T) string
		wantErr []string
	}{
		{name: "invalid-dynamic", path: func(t *testing.T) string {
			if _, err := os.Stat("/bin/ls"); err != nil {
				t.Skip("no /bin/ls to use as a dynamically linked binary")
			}
			return "/bin/ls"
		}, wantErr: []string{"/bin/ls is dynamically linked", "CGO_ENABLED=0 go build ./cmd/agops"}},
		{name: "invalid-not-elf", path: func(t *testing.T) string { return writeFile(t, "#!/bin/sh\necho hi\n") },
			wantErr: []string{"is not an ELF executable", "CGO_ENABLED=0 go build ./cmd/agops"}},
		{name: "invalid-empty", path: func(t *testing.T) string { return writeFile(t, "") },
			wantErr: []string{"is not an ELF executable"}},
		{name: "invalid-missing", path: func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") },
			wantErr: []string{"reading agops binary"}},
		{name: "invalid-riscv64", path: func(t *testing.T) string { return patched(t, static, 18, 243, 0) }, // e_machine
			wantErr: []string{"is built for EM_RISCV", "amd64 and arm64"}},
		{name: "invalid-shared-object", path: func(t *testing.T) string { return patched(t, static, 16, 3, 0) }, // e_type
			wantErr: []string{"is an ELF ET_DYN, not an executable"}},
		{name: "invalid-freebsd", path: func(t *testing.T) string { return patched(t, static, 7, 9) }, // EI_OSABI
			wantErr: []string{"for ELFOSABI_FREEBSD, not Linux"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			img, err := Build(tc.path(t))
			if err == nil {
				t.Fatalf("Build: got image %v, want an error", img)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestBuildIsReproducible(t *testing.T) {
	t.Parallel()
	bin := staticBinary(t, "amd64")
	again := patched(t, bin, 0) // the same bytes at another path
	var digests []v1.Hash
	for _, path := range []string{bin, bin, again} {
		img, err := Build(path)
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
	}
	if digests[0] != digests[1] || digests[0] != digests[2] {
		t.Errorf("digests differ across builds of the same binary: %v", digests)
	}
}

func TestPushAndPull(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	bin := staticBinary(t, "amd64")
	img, err := Build(bin)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	ref := strings.TrimPrefix(srv.URL, "http://") + "/agops/agops:test"
	digest, err := Push(t.Context(), ref, img, Insecure())
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	pulled := pull(t, ref, digest)
	checkConfig(t, pulled)
	want, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	checkLayer(t, pulled, want)
}

// pull reads ref back and checks that its digest is the one Push returned.
func pull(t *testing.T, ref, digest string) v1.Image {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	got, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != digest {
		t.Errorf("pulled digest %s, Push returned %s", got, digest)
	}
	if mt, _ := img.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s, want %s", mt, types.OCIManifestSchema1)
	}
	return img
}

func checkConfig(t *testing.T, img v1.Image) {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	if !slices.Equal(c.Entrypoint, []string{"/agops"}) || c.User != "65532:65532" {
		t.Errorf("entrypoint %q user %q, want [/agops] 65532:65532", c.Entrypoint, c.User)
	}
	if cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64", cfg.OS, cfg.Architecture)
	}
	if !cfg.Created.Equal(time.Unix(0, 0)) {
		t.Errorf("config created %v, want the fixed 1970-01-01T00:00:00Z", cfg.Created)
	}
	if got := c.Labels["org.opencontainers.image.title"]; got != "agops" {
		t.Errorf("title label %q, want agops", got)
	}
}

// checkLayer checks that img has one layer whose tar holds exactly agops, mode 0755, owned 0:0, with bytes want.
func checkLayer(t *testing.T, img v1.Image, want []byte) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("image has %d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	hdr, err := tr.Next()
	if err != nil {
		t.Fatalf("reading layer tar: %v", err)
	}
	if hdr.Name != "agops" || hdr.Mode != 0o755 || hdr.Uid != 0 || hdr.Gid != 0 || hdr.Typeflag != tar.TypeReg {
		t.Errorf("entry %q mode %o owner %d:%d type %c, want agops 755 0:0 regular",
			hdr.Name, hdr.Mode, hdr.Uid, hdr.Gid, hdr.Typeflag)
	}
	if !hdr.ModTime.Equal(time.Unix(0, 0)) {
		t.Errorf("entry mtime %v, want the fixed 1970-01-01T00:00:00Z", hdr.ModTime)
	}
	got, err := io.ReadAll(tr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("agops in the layer has %d bytes that differ from the binary's %d", len(got), len(want))
	}
	if hdr, err := tr.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("layer tar has more than agops: next entry %v, err %v", hdr, err)
	}
}

func TestPushRefuses(t *testing.T) {
	t.Parallel()
	img, err := Build(staticBinary(t, "amd64"))
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	tests := []struct {
		name, ref, wantErr string
	}{
		{name: "invalid-reference", ref: "Not A Reference!", wantErr: `parsing image reference "Not A Reference!"`},
		{name: "invalid-empty-reference", ref: "", wantErr: `parsing image reference ""`},
		{name: "invalid-upper-case-repository", ref: "registry.example:5000/Agops/agops:v1", wantErr: "parsing image reference"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			digest, err := Push(t.Context(), tc.ref, img)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Push(%q) = %q, %v; want an error containing %q", tc.ref, digest, err, tc.wantErr)
			}
		})
	}
}
