package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMirroredRef: under a mirror, a model's artifact is where agops airgap push puts it, by digest when pinned.
func TestMirroredRef(t *testing.T) {
	t.Parallel()
	digest := "sha256:" + strings.Repeat("ab", 32)
	for ref, want := range map[string]string{
		"ai/smollm2":                       "mirror.lab:5000/site/ai/smollm2:latest",
		"ai/qwen2.5:7B-Q4_K_M":             "mirror.lab:5000/site/ai/qwen2.5:7B-Q4_K_M",
		"ai/smollm2:latest@" + digest:      "mirror.lab:5000/site/ai/smollm2@" + digest,
		"hf.co/org/model:Q4_K_M@" + digest: "mirror.lab:5000/site/org/model@" + digest,
	} {
		got, err := mirroredRef(ref, "mirror.lab:5000/site")
		if err != nil || got != want {
			t.Errorf("mirroredRef(%s) = %s, %v; want %s", ref, got, err, want)
		}
	}
	if _, err := mirroredRef("ai/smollm2", "/nohost"); err == nil {
		t.Error("a mirror without a host was accepted")
	}
}

// TestMigrateRegistryMirrorModels: with --registry-mirror, the weights of a model are pulled from the mirror, and
// the mirror configuration covers Docker Hub, where ai/ models live.
func TestMigrateRegistryMirrorModels(t *testing.T) {
	t.Parallel()
	dir := project(t, "services:\n  app:\n    image: registry.example.com/team/app:1.0\n    models: [llm]\nmodels:\n  llm:\n    model: ai/smollm2\n")
	out := filepath.Join(t.TempDir(), "out")
	if r := run(t, "migrate", "-f", dir, "-o", out, "--registry-mirror", "mirror.lab:5000/site", "--airgap"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	llm, _ := os.ReadFile(filepath.Join(out, "base", "llm.yaml"))
	if !strings.Contains(string(llm), "- --mirror\n        - mirror.lab:5000/site\n") {
		t.Errorf("the weights are not pulled from the mirror:\n%s", llm)
	}
	k3s, _ := os.ReadFile(filepath.Join(out, "cluster", "k3s-registries.yaml"))
	if !strings.Contains(string(k3s), "docker.io:") {
		t.Errorf("k3s-registries.yaml does not mirror docker.io:\n%s", k3s)
	}
}
