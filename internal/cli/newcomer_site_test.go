package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/agops/agops/internal/airgap"
	"github.com/agops/agops/internal/cluster"
)

// TestNewcomerSite is docs/site.md on the shipped example, as a newcomer runs it outside the site: the three k3s
// nodes' folder; the bundle — public images through a pull mirror (an in-process registry standing in for the
// internet or the company's proxy cache), the made-up ghcr.io/example images from a `docker save` archive, the
// helper image from a static agops binary, the cluster's own images (kube-vip, the NVIDIA device plugin); the
// cluster folder again, pinned to the bundle; the manifests pinned to the bundle, with the site plan in the report.
// Then, as inside the site: verify, push into a second registry, and every digest is the bundle's.
func TestNewcomerSite(t *testing.T) {
	t.Parallel()
	file := filepath.Join(repoRoot(t), "examples", "ai-lab", "compose.yaml")
	cache, siteReg := inProcessRegistry(t), inProcessRegistry(t)
	public := map[string]string{ // as the example and the cluster name them → path in the cache
		"postgres:17.2": "hub/library/postgres:17.2", "redis:7.4-alpine": "hub/library/redis:7.4-alpine",
		"ollama/ollama:0.6.2": "hub/ollama/ollama:0.6.2", "qdrant/qdrant:v1.13.4": "hub/qdrant/qdrant:v1.13.4",
		"temporalio/auto-setup:1.30.1": "hub/temporalio/auto-setup:1.30.1", "temporalio/ui:2.40.1": "hub/temporalio/ui:2.40.1",
		cluster.KubeVIPImage:      "ghcr/" + strings.TrimPrefix(cluster.KubeVIPImage, "ghcr.io/"),
		cluster.NVIDIAPluginImage: "nvcr/" + strings.TrimPrefix(cluster.NVIDIAPluginImage, "nvcr.io/"),
	}
	for _, path := range public {
		pushRandom(t, cache+"/"+path, 512)
	}
	own := []string{"ghcr.io/example/ai-lab-web:1.4.2", "ghcr.io/example/ai-lab-api:1.4.2", "ghcr.io/example/mcp-tools:0.9.0"}
	archive := saveImages(t, append(own, "ghcr.io/example/ai-lab-agent:1.4.2"))
	dir := t.TempDir()
	bundle, siteDir, out := filepath.Join(dir, "ai-lab.tar"), filepath.Join(dir, "site"), filepath.Join(dir, "out")
	mirror := siteReg + "/mirror"
	initArgs := []string{"cluster", "init", "--distro", "k3s", "--node", "gpu-1=10.0.0.11", "--node", "cpu-1=10.0.0.12",
		"--node", "cpu-2=10.0.0.13", "--vip", "10.0.0.10", "--airgap", "--registry-mirror", mirror, "--accelerator", "gpu-1=nvidia", "-o", siteDir}

	// 1. The nodes' folder.
	mustRun(t, initArgs...)
	// 2. The bundle.
	r := mustRun(t, "airgap", "bundle", "-f", file, "--cluster", siteDir, "--image-archive", archive, "--helper-binary", staticAgops(t),
		"--pull-mirror", "docker.io="+cache+"/hub", "--pull-mirror", "ghcr.io="+cache+"/ghcr", "--pull-mirror", "nvcr.io="+cache+"/nvcr",
		"--insecure", "-o", bundle)
	want := map[string]string{"ghcr.io/agops/agops:" + Version: "built from agops binary"}
	for _, ref := range own {
		want[ref] = "archive own-images.tar"
	}
	for ref, path := range public {
		want[ref] = "pull-mirror " + cache + "/" + strings.SplitN(path, "/", 2)[0]
	}
	for ref, source := range want {
		if line := lineWith(r.stdout, "  "+ref+" "); !strings.HasSuffix(line, source) {
			t.Errorf("%s: line %q, want the source %q", ref, line, source)
		}
	}
	if !strings.Contains(r.stdout, "wrote "+bundle+": 12 images for linux/amd64") {
		t.Errorf("bundle stdout:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "image archive "+archive+": ghcr.io/example/ai-lab-agent:1.4.2 not used by this project, left out") {
		t.Errorf("bundle does not name the archive's unused image (agops runs agent-worker on its own image):\n%s", r.stderr)
	}
	// 3. The nodes' folder again, pinned to the bundle; the join token stays.
	token, err := os.ReadFile(filepath.Join(siteDir, cluster.TokenPath))
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, append(initArgs, "--bundle", bundle)...)
	if again, _ := os.ReadFile(filepath.Join(siteDir, cluster.TokenPath)); string(again) != string(token) {
		t.Error("writing the cluster folder again changed its join token")
	}
	for _, f := range []string{"kube-vip.yaml", "nvidia-device-plugin.yaml"} {
		data, _ := os.ReadFile(filepath.Join(siteDir, "manifests", f))
		if !regexp.MustCompile(`image: \S+@sha256:[0-9a-f]{64}\n`).Match(data) {
			t.Errorf("manifests/%s is not pinned:\n%s", f, data)
		}
	}
	// 4. The manifests, pinned, and the report with the site plan.
	mustRun(t, "migrate", "-f", file, "-o", out, "--bundle", bundle, "--cluster", siteDir)
	report, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	plan := string(report[strings.Index(string(report), "## Site plan"):strings.Index(string(report), "## Services")])
	if strings.Contains(plan, "Fix before you go") {
		t.Errorf("the newcomer's move has warnings:\n%s", plan)
	}
	for _, want := range []string{
		"| workstation |  | runs agops, kubectl inside the site; reaches the nodes and the registry | `" + bundle + "`, `" + out + "/`",
		"| gpu-1 | 10.0.0.11 | server 1: initialises the cluster (`cluster-init`) | `" + siteDir + "/gpu-1/`, `" + siteDir + "/manifests/`, `" + siteDir + "/secrets/token` |",
		"On outside: `agops airgap verify " + bundle + "`",
		"On workstation: `agops airgap push " + bundle + " --registry " + mirror + "`",
		"On gpu-1, in `" + siteDir + "/`: `sudo ./gpu-1/install.sh`",
		"`agops apply " + out + " --overlay ha --wait --kubeconfig k3s.yaml`",
	} {
		if !strings.Contains(plan, want) {
			t.Errorf("the site plan lacks %q:\n%s", want, plan)
		}
	}
	_ = filepath.WalkDir(filepath.Join(out, "base"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, _ := os.ReadFile(p)
		for _, m := range regexp.MustCompile(`image: (\S+)`).FindAllStringSubmatch(string(data), -1) {
			if !strings.Contains(m[1], "@sha256:") {

				t.Errorf("%s: image %s is not pinned", filepath.Base(p), m[1])
			}
		}
		return nil
	})

	// Inside: verify, push, and every image is in the site's registry under its digest.
	mustRun(t, "airgap", "verify", bundle)
	mustRun(t, "airgap", "push", bundle, "--registry", mirror, "--insecure")
	m, err := airgap.Verify(bundle)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range m.Images {
		target, err := airgap.TargetRef(img.Ref, mirror)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := name.ParseReference(target, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		d, err := remote.Head(ref)
		if err != nil {
			t.Errorf("%s is not in the site's registry: %v", target, err)
			continue
		}
		if d.Digest.String() != img.Digest {
			t.Errorf("%s: digest %s in the site's registry, %s in the bundle", target, d.Digest, img.Digest)
		}
	}
}

// mustRun runs agops and fails the test unless it exits 0.
func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := run(t, args...)
	if r.code != exitOK {
		t.Fatalf("agops %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}
