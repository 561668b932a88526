package cli

import (
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestMCPBridgeInstall: the init container's copy is this binary, executable, and nothing else is left in the
// folder.
func TestMCPBridgeInstall(t *testing.T) {
	dir := t.TempDir()
	if r := run(t, "mcp-bridge", "--install", dir); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "agops"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the copy differs from the binary (%v)", err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "agops")); fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("the copy is not executable: %v", fi.Mode())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the folder holds %d entries, want the copy alone", len(entries))
	}
}

func TestMCPBridgeUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"mcp-bridge"}, "no server to run"},
		{[]string{"mcp-bridge", "--image", "mcp/x", "--", "python"}, "not both"},
		{[]string{"mcp-bridge", "--install", t.TempDir(), "--", "x"}, "--install takes nothing else"},
		{[]string{"mcp-bridge", "--listen", "127.0.0.1:0", "--", filepath.Join(t.TempDir(), "absent")}, "absent"},
	} {
		r := run(t, tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want an error with %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

// TestMCPBridgeMirror: with --mirror, the bridge reads the image's entrypoint where agops airgap push put the image
// under the mirror, not from the image's own registry (which an air-gapped cluster cannot reach).
func TestMCPBridgeMirror(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	mirror := host + "/site"
	target, err := mirroredRef("mcp/duckduckgo:latest", mirror)
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "server-from-the-mirror")
	img, err := mutate.Config(empty.Image, v1.Config{Entrypoint: []string{missing}})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(target)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	r := run(t, "mcp-bridge", "--listen", "127.0.0.1:0", "--image", "mcp/duckduckgo:latest", "--mirror", mirror)
	if r.code == 0 || !strings.Contains(r.stderr, "server-from-the-mirror") {
		t.Errorf("exit %d, stderr %q: want the entrypoint read from the mirror (a command that does not exist)", r.code, r.stderr)
	}
}

// TestMigrateRegistryMirrorBridge: with --registry-mirror, the catalog servers of Docker's MCP gateway read their
// images' entrypoints from the mirror too.
func TestMigrateRegistryMirrorBridge(t *testing.T) {
	t.Parallel()
	dir := project(t, "services:\n  agent:\n    image: registry.example.com/agent:1\n    environment: {MCP: \"http://mcp-gateway:8811/sse\"}\n  mcp-gateway:\n    image: docker/mcp-gateway\n    command: [--transport=sse, --servers=duckduckgo]\n")
	out := filepath.Join(t.TempDir(), "out")
	if r := run(t, "migrate", "-f", dir, "-o", out, "--registry-mirror", "mirror.lab:5000/site"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	ddg, _ := os.ReadFile(filepath.Join(out, "base", "mcp-gateway-duckduckgo.yaml"))
	if !strings.Contains(string(ddg), "- --image\n        - mcp/duckduckgo\n") || !strings.Contains(string(ddg), "- --mirror\n        - mirror.lab:5000/site\n") {
		t.Errorf("the bridge does not read its image from the mirror:\n%s", ddg)
	}
}
