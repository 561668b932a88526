package rehearse

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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

// TestSecondReplica checks which workloads get a second replica for the measurement, and that it can run beside
// the first: no claims, host ports or extended resources, and a controller owner so that no ReplicaSet adopts it.
func TestSecondReplica(t *testing.T) {
	t.Parallel()
	objs, err := kube.Decode([]byte(`
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: lab}
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: db}}
  template:
    metadata: {labels: {app.kubernetes.io/name: db}}
    spec:
      volumes:
      - {name: conf, configMap: {name: db}}
      - {name: extra, persistentVolumeClaim: {claimName: extra}}
      containers:
      - name: db
        image: agops
        args: [stand-in, --listen, 5432/TCP]
        ports: [{containerPort: 5432, hostPort: 5432}]
        resources:
          requests: {cpu: 10m, nvidia.com/gpu: "1"}
          limits: {memory: 256Mi, nvidia.com/gpu: "1"}
        volumeMounts: [{name: data, mountPath: /data}, {name: conf, mountPath: /etc/db}, {name: extra, mountPath: /x}]
  volumeClaimTemplates:
  - metadata: {name: data}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: lab}
spec:
  replicas: 2
  template: {spec: {containers: [{name: api, image: agops, args: [stand-in]}]}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: agops-gateway, namespace: lab}
spec:
  template: {spec: {containers: [{name: gateway, image: agops, args: [gateway]}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: monitor, namespace: lab}
spec:
  template: {spec: {hostNetwork: true, containers: [{name: m, image: agops, args: [stand-in]}]}}
`))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false, false, false} {
		if got := secondReplica(objs[i]); got != want {
			t.Errorf("%s %s: second replica %v, want %v", objs[i].GetKind(), objs[i].GetName(), got, want)
		}
	}
	pod, err := measuringPod(objs[0])
	if err != nil {
		t.Fatal(err)
	}
	asReplica(pod, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: measuringOwner, UID: "u1"}})
	if ref := metav1.GetControllerOf(pod); ref == nil || ref.Kind != "ConfigMap" || ref.UID != "u1" {
		t.Errorf("owner %+v, want the ConfigMap as controller", pod.OwnerReferences)
	}
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = v
	}
	if vols["data"].EmptyDir == nil || vols["extra"].EmptyDir == nil || vols["conf"].ConfigMap == nil || len(vols) != 3 {
		t.Errorf("volumes %+v: want claims as empty directories, the ConfigMap kept", pod.Spec.Volumes)
	}
	c := pod.Spec.Containers[0]
	if c.Ports[0].HostPort != 0 || c.Ports[0].ContainerPort != 5432 {
		t.Errorf("ports %+v: want the host port gone", c.Ports)
	}
	if _, ok := c.Resources.Requests["nvidia.com/gpu"]; ok || c.Resources.Requests.Cpu().String() != "10m" || c.Resources.Limits.Memory().String() != "256Mi" || len(c.Resources.Limits) != 1 {
		t.Errorf("resources %+v: want cpu and memory only", c.Resources)
	}
}
