package site_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agops/agops/internal/cluster"
	"github.com/agops/agops/internal/migrate"
	"github.com/agops/agops/internal/model"
	"github.com/agops/agops/internal/plan"
	"github.com/agops/agops/internal/report"
	"github.com/agops/agops/internal/site"
)

// testdata is absolute: example changes the working folder.
var testdata, _ = filepath.Abs("testdata")

// root is the repository's root.
var root, _ = filepath.Abs(filepath.Join("..", ".."))

var update = flag.Bool("update", false, "rewrite testdata/*.md from the current output")

// example plans the shipped example, as agops migrate does, and returns its model and report.
func example(t *testing.T, mutate func(*plan.Options)) (*model.Project, report.Report) {
	t.Helper()
	o := migrate.Options{Plan: plan.DefaultOptions()}
	if mutate != nil {
		mutate(&o.Plan)
	}
	t.Chdir(root)
	o.Compose.Files = []string{filepath.Join("examples", "ai-lab", "compose.yaml")}
	m, files, err := migrate.Load(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return m, report.Build(m, files, wd)
}

func spec(t *testing.T, f cluster.Flags) cluster.Spec {
	t.Helper()
	s, err := cluster.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var three = []string{"gpu-1=10.0.0.11", "cpu-1=10.0.0.12", "cpu-2=10.0.0.13"}

// inputs are the example's inputs for a cluster folder "site" and output "out".
func inputs(t *testing.T, f cluster.Flags) site.Inputs {
	m, rep := example(t, nil)
	return site.Inputs{Project: m, ComposeFiles: []string{"examples/ai-lab/compose.yaml"}, Out: "out", Cluster: "site", Spec: spec(t, f), Secrets: rep.Secrets}
}

func markdown(t *testing.T, s *report.Site) []byte {
	t.Helper()
	md := string(report.Report{Project: "ai-lab", Site: s}.Markdown())
	start, end := strings.Index(md, "## Site plan"), strings.Index(md, "## Services")
	if start < 0 || end < start {
		t.Fatalf("no site plan section in:\n%s", md)
	}
	return []byte(md[start:end])
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(testdata, name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test ./internal/site -update, then review the diff):\n%s", path, got)
	}
}

// TestK3sAirgapPlan: the example into three air-gapped k3s nodes with a bundle that lacks kube-vip's image.
func TestK3sAirgapPlan(t *testing.T) {
	in := inputs(t, cluster.Flags{Distro: "k3s", Nodes: three, VIP: "10.0.0.10", Airgap: true,
		RegistryMirror: "registry.lab:5000/mirror", Accelerators: []string{"gpu-1=nvidia"}})
	in.Bundle = "ai-lab.tar"
	in.Digest = func(ref string) (string, bool) {
		return "sha256:" + strings.Repeat("a", 64), ref != cluster.KubeVIPImage
	}
	s, err := site.Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "k3s-airgap.md", markdown(t, s))
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "--image "+cluster.KubeVIPImage) {
		t.Errorf("warnings %q: want exactly the missing kube-vip image", s.Warnings)
	}
	// Every node gets its own folder, the shared manifests and the token; the workstation the bundle and -o.
	for _, m := range s.Machines {
		switch m.Name {
		case site.Workstation:
			for _, want := range []string{"ai-lab.tar", "out/", "examples/ai-lab/compose.yaml"} {
				if !slices.Contains(m.Copy, want) {
					t.Errorf("workstation copies %q, want %s among them", m.Copy, want)
				}
			}
		default:
			if want := []string{"site/" + m.Name + "/", "site/manifests/", "site/secrets/token"}; !slices.Equal(m.Copy, want) {
				t.Errorf("%s copies %q, want %q", m.Name, m.Copy, want)
			}
		}
	}
	// Order: push before any node installs; the first server installs before the others; secrets before apply.
	order := func(substr string) int {
		for i, st := range s.Steps {
			if strings.Contains(strings.Join(st.Run, "\n"), substr) {
				return i
			}
		}
		t.Fatalf("no step runs %q", substr)
		return -1
	}
	if !(order("airgap push ai-lab.tar --registry registry.lab:5000/mirror") < order("./gpu-1/install.sh") &&
		order("./gpu-1/install.sh") < order("./cpu-1/install.sh") && order("./cpu-1/install.sh") < order("./cpu-2/install.sh") &&
		order("agops secrets") < order("agops apply out")) {
		t.Errorf("steps out of order:\n%s", markdown(t, s))
	}
}

// TestTalosPlan: Talos machines get nothing copied; the workstation runs talosctl in the cluster folder.
func TestTalosPlan(t *testing.T) {
	s, err := site.Plan(inputs(t, cluster.Flags{Distro: "talos", Nodes: three, VIP: "10.0.0.10", Accelerators: []string{"gpu-1=nvidia"}}))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "talos.md", markdown(t, s))
	for _, m := range s.Machines[1:] {
		if len(m.Copy) != 0 || !strings.HasPrefix(m.Also, "boot media: ") {
			t.Errorf("talos machine %+v: want no copies and its boot media", m)
		}
	}
	if !slices.Contains(s.Machines[0].Copy, "site/") {
		t.Errorf("the workstation needs the cluster folder for talosctl: %q", s.Machines[0].Copy)
	}
}

func TestMirrorMismatch(t *testing.T) {
	in := inputs(t, cluster.Flags{Distro: "k3s", Nodes: three, VIP: "10.0.0.10", RegistryMirror: "registry.lab:5000"})
	in.Mirror = "other.lab:5000"
	if _, err := site.Plan(in); err == nil || !strings.Contains(err.Error(), "pulls through registry.lab:5000") {
		t.Errorf("Plan: %v; want the mismatch named", err)
	}
	in.Mirror = "registry.lab:5000/"
	if _, err := site.Plan(in); err != nil {
		t.Errorf("the same mirror with a trailing slash: %v", err)
	}
}

// TestAcceleratorWarnings: a GPU no node has, and more GPU replicas than GPU nodes, are named.
func TestAcceleratorWarnings(t *testing.T) {
	none := inputs(t, cluster.Flags{Distro: "k3s", Nodes: three, VIP: "10.0.0.10"})
	s, err := site.Plan(none)
	if err != nil {
		t.Fatal(err)
	}
	if !anyContains(s.Warnings, "ollama requests nvidia.com/gpu, which no node of the cluster advertises") {
		t.Errorf("warnings %q: want ollama's GPU named", s.Warnings)
	}
	amd := inputs(t, cluster.Flags{Distro: "k3s", Nodes: three, VIP: "10.0.0.10", Accelerators: []string{"gpu-1=amd"}})
	if s, _ = site.Plan(amd); !anyContains(s.Warnings, "nvidia.com/gpu") {
		t.Errorf("an AMD node does not serve nvidia.com/gpu: %q", s.Warnings)
	}
	ok := inputs(t, cluster.Flags{Distro: "k3s", Nodes: three, VIP: "10.0.0.10", Accelerators: []string{"gpu-1=nvidia"}})
	if s, _ = site.Plan(ok); anyContains(s.Warnings, "nvidia.com/gpu") {
		t.Errorf("one replica on one GPU node: %q", s.Warnings)
	}
	for i := range ok.Project.Workloads {
		if w := &ok.Project.Workloads[i]; w.Service == "ollama" {
			w.HAReplicas = 2
		}
	}
	if s, _ = site.Plan(ok); !anyContains(s.Warnings, "ollama runs 2 replicas that request nvidia.com/gpu, and only gpu-1 advertises it") {
		t.Errorf("two replicas, one GPU node: %q", s.Warnings)
	}
}

func TestAirgapWithoutBundle(t *testing.T) {
	s, err := site.Plan(inputs(t, cluster.Flags{Distro: "k3s", Nodes: three, VIP: "10.0.0.10", Airgap: true, RegistryMirror: "r:5000",
		Accelerators: []string{"gpu-1=nvidia"}}))
	if err != nil {
		t.Fatal(err)
	}
	if !anyContains(s.Warnings, "no --bundle") {
		t.Errorf("warnings %q", s.Warnings)
	}
	for _, st := range s.Steps {
		if slices.ContainsFunc(st.Run, func(r string) bool { return strings.Contains(r, "airgap push") }) {
			t.Errorf("a push step without a bundle: %+v", st)
		}
	}
}

func anyContains(list []string, substr string) bool {
	return slices.ContainsFunc(list, func(s string) bool { return strings.Contains(s, substr) })
}

// TestClusterPins: with a bundle, a cluster folder that names its images by tag, or pins other digests, is named;
// one pinned to the bundle's digests is not.
func TestClusterPins(t *testing.T) {
	in := inputs(t, cluster.Flags{Distro: "k3s", Nodes: three, VIP: "10.0.0.10", Airgap: true, RegistryMirror: "r:5000",
		Accelerators: []string{"gpu-1=nvidia"}})
	digest := "sha256:" + strings.Repeat("b", 64)
	in.Bundle, in.Digest = "ai-lab.tar", func(string) (string, bool) { return digest, true }
	s, err := site.Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "name images by tag") || !strings.Contains(s.Warnings[0], "--bundle ai-lab.tar") {
		t.Errorf("unpinned cluster: %q", s.Warnings)
	}
	pins := map[string]string{}
	for _, img := range in.Spec.Images() {
		pins[img] = digest
	}
	if err := in.Spec.SetDigests(pins); err != nil {
		t.Fatal(err)
	}
	if s, _ = site.Plan(in); len(s.Warnings) != 0 {
		t.Errorf("pinned to the bundle: %q", s.Warnings)
	}
	in.Digest = func(string) (string, bool) { return "sha256:" + strings.Repeat("c", 64), true }
	if s, _ = site.Plan(in); len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "digests other than ai-lab.tar holds") {
		t.Errorf("pinned to another bundle: %q", s.Warnings)
	}
}

// TestTalosAirgapPlan: air-gapped Talos boot media carry an image cache, built outside from Talos's images and every
// image of the project and the cluster, before the files are carried in.
func TestTalosAirgapPlan(t *testing.T) {
	s, err := site.Plan(inputs(t, cluster.Flags{Distro: "talos", Nodes: three, VIP: "10.0.0.10", Airgap: true,
		RegistryMirror: "registry.lab:5000", Accelerators: []string{"gpu-1=nvidia"}}))
	if err != nil {
		t.Fatal(err)
	}
	media, carry := -1, -1
	for i, st := range s.Steps {
		switch {
		case strings.HasPrefix(st.Do, "prepare the boot media"):
			media = i
			if st.Phase != report.PhaseOutside || !slices.Contains(st.Run, "agops airgap images -f examples/ai-lab/compose.yaml --cluster site >> cache-images.txt") ||
				!slices.ContainsFunc(st.Run, func(r string) bool { return strings.HasPrefix(r, "talosctl images cache-create") }) {
				t.Errorf("boot media step %+v: want it outside, with the project's and the cluster's images in the cache", st)
			}
		case strings.HasPrefix(st.Do, "carry onto each machine"):
			carry = i
		}
	}
	if media < 0 || carry < 0 || media > carry {
		t.Errorf("boot media at step %d, carrying at %d: the media are made before the files are carried in", media, carry)
	}
}
