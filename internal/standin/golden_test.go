package standin

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/agops/agops/internal/kube"
	"github.com/agops/agops/internal/migrate"
	"github.com/agops/agops/internal/plan"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output (and its input from examples/ai-lab)")

const helperImage = "ghcr.io/agops/agops:v0.1.0"

// TestApplyGolden turns testdata/golden/ai-lab-ha/manifests.yaml (agops migrate of examples/ai-lab, overlay ha)
// into stand-ins and compares the objects Apply changed with standins.yaml and its notes with notes.txt. Refresh
// all three with go test ./internal/standin -run Golden -update and review the diff.
func TestApplyGolden(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("testdata", "golden", "ai-lab-ha")
	input := filepath.Join(dir, "manifests.yaml")
	if *update {
		writeGolden(t, input, migrateExample(t, "ha"))
	}
	data, err := os.ReadFile(input)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := kube.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	out, notes, err := Apply(objs, Options{HelperImage: helperImage})
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, filepath.Join(dir, "standins.yaml"), encodeChanged(t, objs, out))
	var text strings.Builder
	for _, n := range notes {
		fmt.Fprintf(&text, "%s\t%s\t%s\t%s\n", n.Workload, n.Container, n.Field, n.What)
	}
	compareGolden(t, filepath.Join(dir, "notes.txt"), []byte(text.String()))
}

// encodeChanged is the YAML stream of the objects of out that are not those of in.
func encodeChanged(t *testing.T, in, out []*unstructured.Unstructured) []byte {
	t.Helper()
	if len(in) != len(out) {
		t.Fatalf("Apply returned %d objects for %d", len(out), len(in))
	}
	var b bytes.Buffer
	for i := range out {
		if out[i] == in[i] {
			continue
		}
		y, err := yaml.Marshal(out[i].Object)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.Bytes()
}

var (
	migrated   = map[string][]byte{}
	migratedMu sync.Mutex
)

// migrateExample is agops migrate of examples/ai-lab as one YAML stream of the overlay.
func migrateExample(t *testing.T, overlay string) []byte {
	t.Helper()
	migratedMu.Lock()
	defer migratedMu.Unlock()
	if b, ok := migrated[overlay]; ok {
		return b
	}
	var out bytes.Buffer
	o := migrate.Options{Plan: plan.DefaultOptions(), Format: migrate.FormatYAML, Overlay: overlay, Stdout: &out}
	o.Compose.Files = []string{filepath.Join("..", "..", "examples", "ai-lab", "compose.yaml")}
	if _, err := migrate.Run(context.Background(), o); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	migrated[overlay] = out.Bytes()
	return out.Bytes()
}

func writeGolden(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		writeGolden(t, path, got)
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
		for i := range max(len(wl), len(gl)) {
			var w, g string
			if i < len(wl) {
				w = wl[i]
			}
			if i < len(gl) {
				g = gl[i]
			}
			if w != g {
				t.Fatalf("%s differs from the output (run with -update and review the diff); line %d:\nwant %q\n got %q", path, i+1, w, g)
			}
		}
	}
}

// TestApplyMigrateGoldens checks the stand-ins of every project of migrate's golden tests (their ha.yaml, kept
// current by those tests).
func TestApplyMigrateGoldens(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("..", "migrate", "testdata", "golden", "*", "ha.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden projects of migrate: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(f)), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := kube.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			out, _, err := Apply(objs, Options{HelperImage: helperImage})
			if err != nil {
				t.Fatal(err)
			}
			checkPods(t, objs, out)
		})
	}
}

// TestApplyMigratedExample checks what must hold of the stand-ins of whatever migrate renders today, for both
// overlays of the example: only the helper image runs, every exec and gRPC probe is replaced, every stand-in's
// flags parse, every port a Service reaches is probed, requests are small, GPUs stay, the wait init containers
// and everything that is not a workload are untouched, and the output is the same twice.
func TestApplyMigratedExample(t *testing.T) {
	t.Parallel()
	for _, overlay := range []string{"ha", "single-node"} {
		t.Run(overlay, func(t *testing.T) {
			objs, err := kube.Decode(migrateExample(t, overlay))
			if err != nil {
				t.Fatal(err)
			}
			out, _, err := Apply(objs, Options{HelperImage: helperImage})
			if err != nil {
				t.Fatal(err)
			}
			again, _, err := Apply(objs, Options{HelperImage: helperImage})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(encodeChanged(t, objs, out), encodeChanged(t, objs, again)) {
				t.Error("two runs of Apply differ")
			}
			checkStandIns(t, objs, out)
		})
	}
}

func checkStandIns(t *testing.T, in, out []*unstructured.Unstructured) {
	t.Helper()
	probed := checkPods(t, in, out)
	for _, want := range []string{"ai-lab-ai-lab/api 8000/TCP", "ai-lab-data/postgres 5432/TCP", "ai-lab-ai-lab/qdrant 6334/TCP",
		"ai-lab-web/web 80/TCP", "ai-lab-ai-lab/agops-gateway 8080/TCP", "ai-lab-ai-lab/ollama 11434/TCP"} {
		if !probed[want] {
			t.Errorf("no stand-in dials %s; probed: %v", want, probed)
		}
	}
	gpus := 0
	for _, u := range out {
		if w, _ := decodeWorkload(u); w != nil {
			for _, c := range w.spec.Containers {
				if _, ok := c.Resources.Limits["nvidia.com/gpu"]; ok {
					gpus++
				}
			}
		}
	}
	if gpus == 0 {
		t.Error("no stand-in kept the GPU of ollama")
	}
}

// checkPods checks what must hold of any stand-ins and returns the ports they dial ("namespace/name 80/TCP").
func checkPods(t *testing.T, in, out []*unstructured.Unstructured) map[string]bool {
	t.Helper()
	probed := map[string]bool{}
	for i, u := range out {
		w, err := decodeWorkload(u)
		if err != nil {
			t.Fatal(err)
		}
		if w == nil {
			if u != in[i] {
				t.Errorf("%s %s changed; only workloads may", u.GetKind(), u.GetName())
			}
			continue
		}
		before, _ := decodeWorkload(in[i])
		listening := map[string]string{}
		for j, c := range w.spec.InitContainers {
			orig := before.spec.InitContainers[j]
			pulls := len(orig.Args) > 0 && orig.Args[0] == "model" // agops model pull needs the registry outside: stood in
			if pulls && (len(c.Args) == 0 || c.Args[0] != "stand-in") {
				t.Errorf("%s: init container %s pulls model weights and was not stood in for: %q", w.id, c.Name, c.Args)
			}
			if orig.Image == helperImage && !pulls && !equalContainers(orig, c) {
				t.Errorf("%s: init container %s runs the helper image and was changed", w.id, c.Name)
			}
			sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
			checkContainer(t, w, c, !sidecar || w.once, probed, listening)
		}
		for _, c := range w.spec.Containers {
			checkContainer(t, w, c, w.once, probed, listening)
		}
	}
	return probed
}

func equalContainers(a, b corev1.Container) bool {
	ya, _ := yaml.Marshal(a)
	yb, _ := yaml.Marshal(b)
	return bytes.Equal(ya, yb)
}

// checkContainer checks one container; probed gains the ports it dials, listening (port to container) the ports
// it listens on.
func checkContainer(t *testing.T, w *workload, c corev1.Container, once bool, probed map[string]bool, listening map[string]string) {
	t.Helper()
	where := w.id + " container " + c.Name
	if c.Image != helperImage {
		t.Errorf("%s runs %s", where, c.Image)
	}
	if len(c.Args) == 0 || c.Args[0] != "stand-in" {
		return // a helper container of migrate's (a wait, the gateway, the tool proxy): the real thing, probes too
	}
	for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
		if p != nil && p.Exec != nil && !slices.Equal(p.Exec.Command, []string{"/agops", "stand-in", "check", "--container", c.Name}) {
			t.Errorf("%s keeps the exec probe %q", where, p.Exec.Command)
		}
		if p != nil && p.GRPC != nil {
			t.Errorf("%s keeps a gRPC probe", where)
		}
	}
	if r := c.Resources; r.Requests.Cpu().Cmp(DefaultRequestCPU) > 0 || r.Requests.Memory().Cmp(DefaultRequestMemory) > 0 || r.Limits.Cpu().Sign() != 0 {
		t.Errorf("%s resources %v", where, r)
	}
	flags := map[string]string{}
	for i := 1; i < len(c.Args) && c.Args[i] != "--"; i++ {
		if c.Args[i] == "--once" {
			flags["once"] = "true"
		} else if i+1 < len(c.Args) {
			flags[strings.TrimPrefix(c.Args[i], "--")] = c.Args[i+1]
			i++
		}
	}
	if flags["workload"] != w.id || flags["container"] != c.Name || (flags["once"] == "true") != once {
		t.Errorf("%s flags %v (want once %v)", where, flags, once)
	}
	listen, err := ParsePorts(flags["listen"])
	if err != nil {
		t.Errorf("%s: --listen: %v", where, err)
	}
	for _, p := range listen {
		if other, ok := listening[p.String()]; ok {
			t.Errorf("%s and container %s of the same pod both listen on %s", where, other, p)
		}
		listening[p.String()] = c.Name
	}
	probes, err := ParseProbes(flags["probe"])
	if err != nil {
		t.Errorf("%s: --probe: %v", where, err)
	}
	for _, p := range probes {
		probed[fmt.Sprintf("%s %d/%s", p.Workload, p.Port, p.Protocol)] = true
	}
}
