package testbed

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agops/agops/internal/kubeclient"
)

const pauseImage = "registry.local/pause:3.10"

// TestCluster runs the scenarios that share one cluster, in order: the last
// one kills node-b.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	t.Parallel()
	begin := time.Now()
	c := StartForTest(t, WithNodes([]NodeSpec{{Name: "node-a", GPUs: 1}, {Name: "node-b"}, {Name: "node-c"}}))
	t.Logf("cluster started in %s (includes Install)", time.Since(begin).Round(time.Millisecond))

	t.Run("nodes ready", func(t *testing.T) { testNodesReady(t, c) })
	t.Run("deployment spreads", func(t *testing.T) { testDeploymentSpreads(t, c) })
	t.Run("claim binds", func(t *testing.T) { testClaimBinds(t, c) })
	t.Run("gpu scheduling", func(t *testing.T) { testGPUScheduling(t, c) })
	t.Run("killed node", func(t *testing.T) { testKilledNode(t, c) })
}

func testNodesReady(t *testing.T, c *Cluster) {
	nodes, err := c.Client().CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ready := map[string]bool{}
	for _, n := range nodes.Items {
		ready[n.Name] = NodeReady(&n)
	}
	for _, name := range c.Nodes() {
		if !ready[name] {
			t.Errorf("node %s is not Ready", name)
		}
	}
	if len(nodes.Items) != 3 {
		t.Errorf("got %d nodes, want 3", len(nodes.Items))
	}
}

func testDeploymentSpreads(t *testing.T, c *Cluster) {
	ns := createNamespace(t, c.Client(), "spread")
	createDeployment(t, c.Client(), ns, "web", 3)
	pods := waitPods(t, c.Client(), ns, "app=web", 2*time.Minute, func(pods []corev1.Pod) bool {
		on := runningOn(pods)
		return len(on) == 3 && distinct(on) == 3
	})
	t.Logf("web pods on %v", runningOn(pods))
}

func testClaimBinds(t *testing.T, c *Cluster) {
	ns := createNamespace(t, c.Client(), "storage")
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			},
		},
	}
	if _, err := c.Client().CoreV1().PersistentVolumeClaims(ns).Create(t.Context(), pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := pausePod("db", map[string]string{"app": "db"})
	pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"},
	}}}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	if _, err := c.Client().CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, time.Minute, "claim bound", func(ctx context.Context) bool {
		got, err := c.Client().CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
		return err == nil && got.Status.Phase == corev1.ClaimBound
	})
	got, err := c.Client().CoreV1().PersistentVolumeClaims(ns).Get(t.Context(), "data", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.StorageClassName == nil || *got.Spec.StorageClassName != StorageClassName {
		t.Errorf("claim class = %v, want the default %s", got.Spec.StorageClassName, StorageClassName)
	}
	if q := got.Status.Capacity[corev1.ResourceStorage]; q.Cmp(resource.MustParse("1Gi")) != 0 {
		t.Errorf("claim capacity = %s, want 1Gi", q.String())
	}
	waitPods(t, c.Client(), ns, "app=db", time.Minute, func(pods []corev1.Pod) bool { return len(runningOn(pods)) == 1 })

	// Deleting the claim releases the volume, which the binder deletes.
	volume := got.Spec.VolumeName
	if err := c.Client().CoreV1().Pods(ns).Delete(t.Context(), "db", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Client().CoreV1().PersistentVolumeClaims(ns).Delete(t.Context(), "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, time.Minute, "volume "+volume+" deleted", func(ctx context.Context) bool {
		_, err := c.Client().CoreV1().PersistentVolumes().Get(ctx, volume, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}

func testGPUScheduling(t *testing.T, c *Cluster) {
	ns := createNamespace(t, c.Client(), "gpu")
	for _, name := range []string{"gpu-1", "gpu-2"} {
		pod := pausePod(name, map[string]string{"app": "gpu"})
		pod.Spec.Containers[0].Resources.Limits = corev1.ResourceList{GPUResource: resource.MustParse("1")}
		if _, err := c.Client().CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pods := waitPods(t, c.Client(), ns, "app=gpu", time.Minute, func(pods []corev1.Pod) bool {
		return len(runningOn(pods)) == 1 && len(unschedulable(pods)) == 1
	})
	if on := runningOn(pods); on[0] != "node-a" {
		t.Errorf("the GPU pod runs on %s, want node-a, the only node with a GPU", on[0])
	}
}

func testKilledNode(t *testing.T, c *Cluster) {
	ns := createNamespace(t, c.Client(), "failover")
	createDeployment(t, c.Client(), ns, "api", 3)
	waitPods(t, c.Client(), ns, "app=api", 2*time.Minute, func(pods []corev1.Pod) bool {
		on := runningOn(pods)
		return len(on) == 3 && distinct(on) == 3
	})

	killed := time.Now()
	if err := c.KillNode("node-b"); err != nil {
		t.Fatal(err)
	}
	poll(t, 2*time.Minute, "node-b NotReady", func(ctx context.Context) bool {
		n, err := c.Client().CoreV1().Nodes().Get(ctx, "node-b", metav1.GetOptions{})
		return err == nil && !NodeReady(n)
	})
	t.Logf("node-b NotReady %s after the kill", time.Since(killed).Round(time.Second))
	pods := waitPods(t, c.Client(), ns, "app=api", 3*time.Minute, func(pods []corev1.Pod) bool {
		on := runningOn(pods)
		for _, n := range on {
			if n == "node-b" {
				return false
			}
		}
		return len(on) == 3
	})
	t.Logf("3 api pods running on %v %s after the kill", runningOn(pods), time.Since(killed).Round(time.Second))
}

func TestStopLeavesNoProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	t.Parallel()
	begin := time.Now()
	c, err := Start(t.Context(), WithNodes([]NodeSpec{{Name: "solo"}}))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one-node cluster started in %s", time.Since(begin).Round(time.Millisecond))
	pids := c.pids()
	if len(pids) != 5 {
		t.Errorf("got %d processes, want 5", len(pids))
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d still exists after Stop (kill 0: %v)", pid, err)
		}
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func createNamespace(t *testing.T, client kubeclient.Interface, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := client.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The ServiceAccount admission plugin refuses pods until the namespace's
	// default service account exists.
	poll(t, time.Minute, "default service account in "+name, func(ctx context.Context) bool {
		_, err := client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	})
	return name
}

func pausePod(name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       podSpec(),
	}
}

func podSpec() corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: pauseImage}}}
}

// createDeployment creates a Deployment spread over hostnames, whose pods
// leave a NotReady or unreachable node after 10s.
func createDeployment(t *testing.T, client kubeclient.Interface, ns, name string, replicas int32) {
	t.Helper()
	labels := map[string]string{"app": name}
	honor := corev1.NodeInclusionPolicyHonor
	ten := int64(10)
	spec := podSpec()
	spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
		MaxSkew:           1,
		TopologyKey:       corev1.LabelHostname,
		WhenUnsatisfiable: corev1.DoNotSchedule,
		LabelSelector:     &metav1.LabelSelector{MatchLabels: labels},
		NodeTaintsPolicy:  &honor, // a NotReady node is no domain to spread over
	}}
	spec.Tolerations = []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &ten},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &ten},
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec},
		},
	}
	if _, err := client.AppsV1().Deployments(ns).Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// runningOn lists the nodes of the Running, Ready, not terminating pods,
// one entry per pod.
func runningOn(pods []corev1.Pod) []string {
	var nodes []string
	for _, p := range pods {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && podReady(&p) {
			nodes = append(nodes, p.Spec.NodeName)
		}
	}
	return nodes
}

// distinct counts the different names.
func distinct(names []string) int {
	seen := map[string]bool{}
	for _, n := range names {
		seen[n] = true
	}
	return len(seen)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// unschedulable lists the pods the scheduler has given up on for now.
func unschedulable(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				out = append(out, p.Name)
			}
		}
	}
	return out
}

// waitPods polls the pods matching selector until ok holds, and returns them.
func waitPods(t *testing.T, client kubeclient.Interface, ns, selector string, within time.Duration, ok func([]corev1.Pod) bool) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	poll(t, within, fmt.Sprintf("pods %s in %s", selector, ns), func(ctx context.Context) bool {
		list, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false
		}
		pods = list.Items
		return ok(pods)
	})
	return pods
}

// poll checks cond every half second until it holds; the test fails if it
// does not within the bound.
func poll(t *testing.T, within time.Duration, what string, cond func(context.Context) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for !cond(ctx) {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}
