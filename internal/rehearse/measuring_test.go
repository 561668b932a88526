package rehearse

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/agops/agops/internal/kube"
	"github.com/agops/agops/internal/standin"
)

func TestMeasuringPod(t *testing.T) {
	t.Parallel()
	objs, err := kube.Decode([]byte(`
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: lab}
spec:
  template:
    metadata: {labels: {app.kubernetes.io/name: migrate}}
    spec:
      restartPolicy: OnFailure
      initContainers:
      - {name: wait, image: agops, args: [wait, service, db]}
      containers:
      - {name: main, image: agops, args: [stand-in, --once, --, migrate, --once]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: backup, namespace: lab}
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        metadata: {labels: {app.kubernetes.io/name: backup}}
        spec:
          restartPolicy: Never
          containers:
          - {name: main, image: agops, args: [stand-in, --once]}
`))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		name, label string
		args        []string
	}{
		{"migrate-measure", "migrate", []string{"stand-in", "--", "migrate", standin.OnceFlag}},
		{"backup-measure", "backup", []string{"stand-in"}},
	} {
		pod, err := measuringPod(objs[i])
		if err != nil {
			t.Fatal(err)
		}
		if pod.Name != want.name || pod.Namespace != "lab" || pod.Labels["app.kubernetes.io/name"] != want.label {
			t.Errorf("pod %s/%s labels %v, want lab/%s with the template's labels", pod.Namespace, pod.Name, pod.Labels, want.name)
		}
		if pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("%s: restart policy %s", pod.Name, pod.Spec.RestartPolicy)
		}
		if got := pod.Spec.Containers[0].Args; !slices.Equal(got, want.args) {
			t.Errorf("%s: args %q, want %q", pod.Name, got, want.args)
		}
		if i == 0 && (len(pod.Spec.InitContainers) != 1 || pod.Spec.InitContainers[0].Args[0] != "wait") {
			t.Errorf("%s: init containers %+v, want the template's", pod.Name, pod.Spec.InitContainers)
		}
	}
	deploy, err := kube.Decode([]byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := measuringPod(deploy[0]); err == nil {
		t.Error("a Deployment without a template made a measuring pod")
	}
}

func TestUnresolved(t *testing.T) {
	t.Parallel()
	closed := standin.MeasuredPair{From: "ns/a", To: "ns/b", Port: "80/TCP", State: standin.Closed, Errors: []string{"refused"}}
	if unresolved(standin.Measured{Pairs: []standin.MeasuredPair{closed}}) {
		t.Error("a refused connection counted as unresolved")
	}
	dns := closed
	dns.Errors = []string{"dns: timeout", "refused"}
	if !unresolved(standin.Measured{Pairs: []standin.MeasuredPair{closed, dns}}) {
		t.Error("a DNS failure did not count as unresolved")
	}
}
