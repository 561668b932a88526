package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/agops/agops/internal/kube"
	"github.com/agops/agops/internal/kubeclient"
	"github.com/agops/agops/internal/testbed"
)

// TestOnTestbed runs against a real control plane with three kwok nodes, gpu-1 advertising one nvidia.com/gpu:
// the API server accepts every generated manifest, and Check passes on a healthy cluster and fails, saying why,
// on a node without its resource, on images from outside the mirror, and on a dead node.
func TestOnTestbed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	c := testbed.StartForTest(t, testbed.WithNodes([]testbed.NodeSpec{{Name: "gpu-1", GPUs: 1}, {Name: "cpu-1"}, {Name: "cpu-2"}}))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	t.Run("manifests accepted", func(t *testing.T) { manifestsAccepted(ctx, t, c) })
	client := c.Client()
	prepareGPUNode(ctx, t, c)
	t.Run("healthy", func(t *testing.T) {
		r := check(ctx, t, client, CheckSpec{ExpectNodes: 3, Accelerators: map[string]Kind{"gpu-1": NVIDIA}})
		t.Logf("report:\n%s", text(r))
		if r.Failed() != 0 {
			t.Errorf("a healthy cluster failed:\n%s", text(r))
		}
		for _, want := range []string{"ok   nodes: 3 of 3 Ready", "ok   control plane: readyz:", "etcd included",
			"ok   accelerator gpu-1: 1 nvidia.com/gpu allocatable", "ok   runtime classes: nvidia (handler nvidia)", "info registry mirror: not visible"} {
			if !strings.Contains(text(r), want) {
				t.Errorf("report lacks %q:\n%s", want, text(r))
			}
		}
	})
	t.Run("resource missing", func(t *testing.T) {
		r := check(ctx, t, client, CheckSpec{ExpectNodes: 3, Accelerators: map[string]Kind{"cpu-1": NVIDIA, "gpu-1": AMD, "gpu-9": NPU}})
		for _, want := range []string{
			`FAIL accelerator cpu-1: label agops.dev/accelerator="", want "nvidia"; no nvidia.com/gpu allocatable`,
			`FAIL accelerator gpu-1: label agops.dev/accelerator="nvidia", want "amd"; no amd.com/gpu allocatable`,
			"FAIL accelerator gpu-9: no node gpu-9 in the cluster",
		} {
			if !strings.Contains(text(r), want) {
				t.Errorf("report lacks %q:\n%s", want, text(r))
			}
		}
	})
	t.Run("images outside the mirror", func(t *testing.T) { imagesOutsideMirror(ctx, t, client) })
	t.Run("node down", func(t *testing.T) { nodeDown(ctx, t, c) })
}

// manifestsAccepted server-side dry-run applies every golden tree's manifests.
func manifestsAccepted(ctx context.Context, t *testing.T, c *testbed.Cluster) {
	a, err := kube.NewApplier(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range goldenCases() {
		files, err := mustSpec(t, f).manifestFiles()
		if err != nil {
			t.Fatal(err)
		}
		for path, data := range files {
			objs, err := kube.Decode(data)
			if err != nil {
				t.Fatalf("%s/%s: %v", name, path, err)
			}
			if _, err := a.Apply(ctx, objs, kube.ApplyOptions{DryRun: true}); err != nil {
				t.Errorf("%s/manifests/%s rejected: %v", name, path, err)
			}
		}
	}
}

// prepareGPUNode labels gpu-1 as init's config would and really applies the RuntimeClass.
func prepareGPUNode(ctx context.Context, t *testing.T, c *testbed.Cluster) {
	patch := []byte(`{"metadata":{"labels":{"` + AcceleratorLabel + `":"nvidia"}}}`)
	if _, err := c.Client().CoreV1().Nodes().Patch(ctx, "gpu-1", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	files, err := mustSpec(t, goldenCases()["k3s-3node-gpu"]).manifestFiles()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := kube.Decode(files["runtimeclasses.yaml"])
	if err != nil {
		t.Fatal(err)
	}
	a, err := kube.NewApplier(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(ctx, objs, kube.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
}

func imagesOutsideMirror(ctx context.Context, t *testing.T, client kubeclient.Interface) {
	pods := map[string]string{
		"from-hub":    "docker.io/library/nginx:1.27",
		"from-mirror": "registry.lab:5000/mirror/library/redis:7",
		"pinned":      "docker.io/library/busybox@sha256:" + strings.Repeat("ab", 32),
	}
	for name, image := range pods {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: corev1.PodSpec{NodeName: "cpu-1", Containers: []corev1.Container{{Name: "c", Image: image}}}}
		if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var r Report
	for ctx.Err() == nil {
		r = check(ctx, t, client, CheckSpec{ExpectNodes: 3, RegistryMirror: "registry.lab:5000/mirror"})
		if strings.Contains(text(r), "3 running containers") {
			break
		}
		time.Sleep(time.Second)
	}
	want := "FAIL images: 3 running containers: 1 pinned by digest, 1 from registry.lab:5000/mirror; neither: default/from-hub c=docker.io/library/nginx:1.27"
	if !strings.Contains(text(r), want) {
		t.Errorf("report lacks %q:\n%s", want, text(r))
	}
}

// nodeDown kills cpu-2's kwok: the node goes NotReady and the nodes check fails naming it.
func nodeDown(ctx context.Context, t *testing.T, c *testbed.Cluster) {
	if err := c.KillNode("cpu-2"); err != nil {
		t.Fatal(err)
	}
	for ctx.Err() == nil {
		r := check(ctx, t, c.Client(), CheckSpec{ExpectNodes: 3})
		if strings.Contains(text(r), "FAIL nodes: 2 of 3 Ready, want 3 (cpu-1, gpu-1); not Ready: cpu-2 (Ready=Unknown") {
			t.Logf("report:\n%s", text(r))
			return
		}
		time.Sleep(2 * time.Second)
	}
	t.Errorf("the nodes check never failed for cpu-2")
}

func check(ctx context.Context, t *testing.T, client kubeclient.Interface, cs CheckSpec) Report {
	t.Helper()
	r, err := Check(ctx, client, cs)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func text(r Report) string {
	var b strings.Builder
	_ = r.Write(&b)
	return b.String()
}
