package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agops/agops/internal/e2e/e2etest"
	"github.com/agops/agops/internal/testbed"
)

// TestAdmissionGuard applies the example and asks the real API server to admit pods and NetworkPolicies in its
// ai-lab namespace: the ValidatingAdmissionPolicy must refuse privileged pods, host access, images from a registry
// the project does not use and hand-made NetworkPolicies, and admit an ordinary pod from a known registry.
func TestAdmissionGuard(t *testing.T) {
	root := e2etest.RepoRoot(t)
	c := testbed.StartForTest(t, e2etest.LabNodes())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out := e2etest.MigrateTo(t, e2etest.Project{Name: "example", File: filepath.Join(root, "examples", "ai-lab", "compose.yaml")}, t.TempDir())
	if _, err := applyAndWait(ctx, t, c, out, "ha"); err != nil {
		t.Fatal(err)
	}
	client := c.Client()
	const ns = "ai-lab-ai-lab"
	// Pod Security (baseline here) would refuse most of these pods first; let it admit everything, so that each
	// refusal below is the guard's own.
	patch := []byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"privileged"}}}`)
	if _, err := client.CoreV1().Namespaces().Patch(ctx, ns, "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	yes := true
	pod := func(name, image string, edit func(*corev1.PodSpec)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", Image: image, Resources: corev1.ResourceRequirements{}}},
		}}
		if edit != nil {
			edit(&p.Spec)
		}
		return p
	}
	cases := []struct {
		pod  *corev1.Pod
		want string // "" = admitted; else a word of the refusal
	}{
		{pod("privileged", "ghcr.io/example/x:1", func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &yes}
		}), "privileged containers are not allowed"},
		{pod("host-net", "ghcr.io/example/x:1", func(s *corev1.PodSpec) { s.HostNetwork = true }), "network, PID and IPC namespaces are not allowed"},
		{pod("host-path", "ghcr.io/example/x:1", func(s *corev1.PodSpec) {
			s.Volumes = []corev1.Volume{{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		}), "hostPath volumes are not allowed"},
		{pod("host-port", "ghcr.io/example/x:1", func(s *corev1.PodSpec) {
			s.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 80}}
		}), "host ports are not allowed"},
		{pod("evil-registry", "evil.example.com/miner:1", nil), "images must come from"},
		{pod("init-evil", "ghcr.io/example/x:1", func(s *corev1.PodSpec) {
			s.InitContainers = []corev1.Container{{Name: "i", Image: "10.0.0.5:5000/x:1"}}
		}), "images must come from"},
		{pod("fine-ghcr", "ghcr.io/example/x:1", nil), ""},
		{pod("fine-hub", "postgres:17.2", nil), ""},
	}
	// The policy takes effect asynchronously after it is created: wait until the first bad pod is refused.
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := client.CoreV1().Pods(ns).Create(ctx, cases[0].pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	for _, tc := range cases {
		_, err := client.CoreV1().Pods(ns).Create(ctx, tc.pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.pod.Name, err)
		case tc.want != "" && err == nil:
			t.Errorf("%s: admitted; want a refusal about %s", tc.pod.Name, tc.want)
		case tc.want != "" && (!apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v; want a refusal about %s", tc.pod.Name, err, tc.want)
		}
	}
	np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "let-me-out", Namespace: ns}, Spec: networkingv1.NetworkPolicySpec{
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}, Egress: []networkingv1.NetworkPolicyEgressRule{{}},
	}}
	if _, err := client.NetworkingV1().NetworkPolicies(ns).Create(ctx, np, metav1.CreateOptions{}); err == nil || !strings.Contains(err.Error(), "agops migrate only") {
		t.Errorf("a hand-made NetworkPolicy: err = %v, want it refused", err)
	}
	// Other namespaces are not guarded.
	np.Namespace = "ai-lab-web"
	if _, err := client.NetworkingV1().NetworkPolicies("ai-lab-web").Create(ctx, np, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Errorf("the guard reaches beyond ai-lab: %v", err)
	}
}
