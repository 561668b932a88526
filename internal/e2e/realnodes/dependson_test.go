package realnodes

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agops/agops/internal/e2e/e2etest"
	"github.com/agops/agops/internal/image"
	"github.com/agops/agops/internal/kube"
	"github.com/agops/agops/internal/plan/plantest"
	"github.com/agops/agops/internal/standin"
)

// dependsProject waits the two ways Compose does: a migration runs once the database is healthy, and the app starts
// once the database is healthy and the migration has completed.
const dependsProject = `name: order
services:
  db:
    image: postgres:17
    environment: {POSTGRES_PASSWORD: example}
    healthcheck: {test: ["CMD", "pg_isready"], interval: 2s}
  migrate:
    image: example/migrate:1
    restart: "no"
    environment: {DATABASE_URL: "postgres://app@db:5432/app"}
    depends_on: {db: {condition: service_healthy}}
  app:
    image: example/app:1
    expose: ["8080"]
    environment: {DATABASE_URL: "postgres://app@db:5432/app"}
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
`

// TestDependsOnOrderOnRealNodes runs depends_on for real: the manifests' init containers run `agops wait` with
// their own Role and token against the API, and the API's timestamps show that the migration's container started
// only after the database was Ready, and the app's only after both the database was Ready and the migration's Job
// had completed.
func TestDependsOnOrderOnRealNodes(t *testing.T) {
	onShared(t)
	p, dir := e2etest.InlineProject(t, "order", dependsProject)
	objs, err := kube.Load(e2etest.MigrateTo(t, p, dir), "ha")
	if err != nil {
		t.Fatal(err)
	}
	helper := plantest.OptionsFile(t, dir).HelperImage
	objs, _, err = standin.Apply(objs, standin.Options{HelperImage: helper})
	if err != nil {
		t.Fatal(err)
	}
	c := shared.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	img, err := image.Build(bin.StaticAgops(t, e2etest.RepoRoot(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.LoadImage(ctx, helper, img); err != nil {
		t.Fatal(err)
	}
	deploy(ctx, t, c, objs)
	cs := c.Client()
	// The cluster is shared: only this project's namespaces count.
	mine := map[string]bool{}
	for _, u := range objs {
		if ns := u.GetNamespace(); ns != "" {
			mine[ns] = true
		}
	}
	var db, app *corev1.Pod
	var job *batchv1.Job
	var mig *corev1.Pod
	for db == nil || app == nil || job == nil || mig == nil {
		if ctx.Err() != nil {
			t.Fatalf("not done within 6 minutes: db ready %v, migrate complete %v, app running %v", db != nil, job != nil, app != nil)
		}
		time.Sleep(time.Second)
		pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for i := range pods.Items {
			pod := &pods.Items[i]
			if !mine[pod.Namespace] {
				continue
			}
			switch pod.Labels["app.kubernetes.io/name"] {
			case "db":
				if readySince(pod) != nil {
					db = pod
				}
			case "app":
				if mainStarted(pod) != nil {
					app = pod
				}
			case "migrate":
				if mainStarted(pod) != nil {
					mig = pod
				}
			}
		}
		jobs, err := cs.BatchV1().Jobs("").List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for i := range jobs.Items {
			if mine[jobs.Items[i].Namespace] && jobs.Items[i].Name == "migrate" && jobs.Items[i].Status.CompletionTime != nil {
				job = &jobs.Items[i]
			}
		}
	}
	dbReady, jobDone := readySince(db).Time, job.Status.CompletionTime.Time
	migStart, appStart := mainStarted(mig).Time, mainStarted(app).Time
	t.Logf("db Ready %s; migrate started %s, completed %s; app started %s", dbReady.Format(time.RFC3339),
		migStart.Format(time.RFC3339), jobDone.Format(time.RFC3339), appStart.Format(time.RFC3339))
	if migStart.Before(dbReady) {
		t.Errorf("migrate started at %s, before db was Ready at %s", migStart, dbReady)
	}
	if appStart.Before(dbReady) || appStart.Before(jobDone) {
		t.Errorf("app started at %s, before db was Ready (%s) or migrate completed (%s)", appStart, dbReady, jobDone)
	}
	for _, p := range []*corev1.Pod{mig, app} {
		if len(p.Status.InitContainerStatuses) == 0 {
			t.Errorf("%s has no init container: nothing waited", p.Name)
		}
		for _, s := range p.Status.InitContainerStatuses {
			if s.State.Terminated == nil || s.State.Terminated.ExitCode != 0 {
				t.Errorf("%s: init container %s did not end with 0: %+v", p.Name, s.Name, s.State)
			}
		}
	}
}

// readySince is when a pod became Ready, or nil.
func readySince(p *corev1.Pod) *metav1.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return &c.LastTransitionTime
		}
	}
	return nil
}

// mainStarted is when a pod's first container started (running or since ended), or nil.
func mainStarted(p *corev1.Pod) *metav1.Time {
	if len(p.Status.ContainerStatuses) == 0 {
		return nil
	}
	s := p.Status.ContainerStatuses[0].State
	switch {
	case s.Running != nil:
		return &s.Running.StartedAt
	case s.Terminated != nil:
		return &s.Terminated.StartedAt
	}
	return nil
}
