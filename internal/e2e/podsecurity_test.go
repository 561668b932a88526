package e2e

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/agops/agops/internal/e2e/e2etest"
	"github.com/agops/agops/internal/kube"
	"github.com/agops/agops/internal/migrate"
	"github.com/agops/agops/internal/plan"
	"github.com/agops/agops/internal/testbed"
)

// TestPodSecurityMatchesTheReport takes a service the migrate report says cannot meet the restricted Pod Security
// level, and has the real API server judge its pod in a namespace that enforces restricted: it must be refused for
// the reason the report gives, and accepted once the Compose change the report suggests is made. The migrated
// project's own namespaces, with their enforce labels, must accept its pods.
func TestPodSecurityMatchesTheReport(t *testing.T) {
	c := testbed.StartForTest(t, e2etest.LabNodes())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	client := c.Client()
	strict := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "strict", Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, strict, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, user  string
		wantRefused bool
	}{
		{"default-user", "", true},
		{"fixed", "1000:1000", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			compose := "name: psa\nservices:\n  app:\n    image: ghcr.io/example/app:1.0\n    expose: [\"8080\"]\n"
			if tc.user != "" {
				compose += "    user: \"" + tc.user + "\"\n"
			}
			p, dir := e2etest.InlineProject(t, "psa-"+tc.name, compose)
			out := e2etest.MigrateTo(t, p, dir)
			res := reportOf(t, p.File)
			blocks := ""
			for _, d := range res.Model.Decisions {
				if d.Service == "app" && d.Key == "pod-security" {
					blocks = d.Reason
				}
			}
			if says := strings.Contains(blocks, "blocks restricted"); says != tc.wantRefused {
				t.Fatalf("report: %q; want it to say blocks restricted: %v", blocks, tc.wantRefused)
			}
			objs, err := kube.Load(out, "ha")
			if err != nil {
				t.Fatal(err)
			}
			var pod *corev1.Pod
			for _, u := range objs {
				if u.GetKind() == "Deployment" && u.GetName() == "app" {
					var d appsv1.Deployment
					if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &d); err != nil {
						t.Fatal(err)
					}
					pod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app-" + tc.name, Namespace: "strict"}, Spec: d.Spec.Template.Spec}
				}
			}
			if pod == nil {
				t.Fatal("no Deployment app in the output")
			}
			pod.Spec.ServiceAccountName = ""
			_, err = client.CoreV1().Pods("strict").Create(ctx, pod, metav1.CreateOptions{})
			switch {
			case tc.wantRefused && !apierrors.IsForbidden(err):
				t.Errorf("the API server accepted a pod the report says blocks restricted (err %v)", err)
			case tc.wantRefused && !strings.Contains(err.Error(), "runAsNonRoot"):
				t.Errorf("refused for another reason than the report's (%s): %v", blocks, err)
			case !tc.wantRefused && err != nil:
				t.Errorf("the API server refused a pod the report says meets restricted: %v", err)
			}
			// The project's own namespace, with the level migrate chose, takes the workload.
			if _, err := applyAndWait(ctx, t, c, out, "ha"); err != nil {
				t.Errorf("applying the migrated project: %v", err)
			}
		})
	}
}

// reportOf plans a Compose file without writing anything.
func reportOf(t *testing.T, file string) migrate.Result {
	t.Helper()
	o := migrate.Options{Plan: plan.DefaultOptions(), Format: migrate.FormatYAML, Overlay: "ha", Stdout: io.Discard}
	o.Compose.Files = []string{file}
	res, err := migrate.Run(context.Background(), o)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return res
}
