package realnodes

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/client"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/agops/agops/internal/agent"
	"github.com/agops/agops/internal/agent/activities"
	"github.com/agops/agops/internal/agent/runs"
	"github.com/agops/agops/internal/devserver"
	"github.com/agops/agops/internal/e2e/e2etest"
	"github.com/agops/agops/internal/image"
	"github.com/agops/agops/internal/kube"
	"github.com/agops/agops/internal/llmtest"
	"github.com/agops/agops/internal/pgtest"
	"github.com/agops/agops/internal/team"
	"github.com/agops/agops/internal/testbed"
)

// relayTeam hands the researcher's findings to the writer: the writer's answer quotes them, so the run's output
// shows whether the thread survived.
const relayTeam = `apiVersion: agops.dev/v1alpha1
kind: AgentTeam
metadata: {name: relay}
spec:
  models:
    m: {baseURL: MODEL_URL, model: scripted}
  agents:
    - {name: researcher, role: gathers the facts, instructions: You are the researcher.}
    - {name: writer, role: writes the report, instructions: You are the writer.}
  flow:
    sequence: [researcher, writer]
`

var relayScript = llmtest.Script{
	{Agent: "You are the researcher", Content: "findings on {{input}}"},
	{Agent: "You are the writer", Content: "report: {{input}}"},
}

const (
	relayInput  = "the outage of 3 May"
	relayOutput = "report: the outage of 3 May\n\nThe previous agent (researcher) answered:\nfindings on the outage of 3 May"
	teamNS      = "default"
	// modelDelay is how long every model call takes: long enough to kill a worker in the middle of one.
	modelDelay = 20 * time.Second
)

// TestAgentTeamOnRealNodes runs an agent team on three real nodes and kills the host of the worker that is in the
// middle of a model call: agops's embedded Temporal server runs as a pod on node-a, two `agops worker` replicas from
// the agops image run on node-b and node-c and keep the transcripts in PostgreSQL (outside the cluster, as a managed
// database would be), and a scripted model stands in for the LLM. Temporal notices the dead worker by its missing
// heartbeats, the surviving worker retries the call, and the run ends with the whole thread: the writer's answer
// quotes the researcher's, in the result and in the shared transcripts.
func TestAgentTeamOnRealNodes(t *testing.T) {
	realNodes(t)
	root := e2etest.RepoRoot(t)
	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t)
	model := llmtest.New(t, relayScript)
	model.Delay(modelDelay)
	agopsBin, temporalBin := bin.StaticAgops(t, root), teamProgram(t, root, "./internal/e2e/realnodes/testdata/teamtemporal")
	c := testbed.StartForTest(t, testbed.WithRealNodes())
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	nodes := c.Nodes()
	hostIP, _, err := net.SplitHostPort(teamURLHost(t, c.RESTConfig().Host)) // the bridge's address: pods reach it
	if err != nil {
		t.Fatal(err)
	}
	modelURL := fmt.Sprintf("http://%s:%d/v1", hostIP, teamForward(t, hostIP, teamURLHost(t, model.URL())))
	pgAt := fmt.Sprintf("%s:%d", hostIP, teamForward(t, hostIP, fmt.Sprintf("%s:%d", pg.Host, pg.Port)))

	teamLoadImage(ctx, t, c, "agops.test/agops:team", agopsBin, image.Spec{Path: image.Path, User: image.User, Title: "agops"})
	teamLoadImage(ctx, t, c, "agops.test/teamtemporal:1", temporalBin, image.Spec{Path: "/teamtemporal", User: image.User, Title: "teamtemporal"})
	t.Cleanup(func() {
		if t.Failed() {
			teamLogPods(t, c)
		}
	})
	a, err := kube.NewApplier(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	teamApply(ctx, t, a, temporalObjects(nodes[0]))
	teamApply(ctx, t, a, workerObjects(nodes[0], pgAt, dsn))

	tc := teamDialTemporal(ctx, t, c, nodes[0])
	pollers := teamPollers(ctx, t, tc, 2)
	t.Logf("workers polling: %q", pollers)
	tm, err := team.Parse([]byte(strings.ReplaceAll(relayTeam, "MODEL_URL", modelURL)))
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	id, err := runs.Start(ctx, tc, tm, relayInput, runs.StartOptions{}) // the default heartbeat timeout
	if err != nil {
		t.Fatal(err)
	}
	writer := id + "/writer-2"
	busy := teamModelCall(ctx, t, tc, writer, 1)
	for model.CountFor("You are the writer") == 0 && ctx.Err() == nil {
		time.Sleep(200 * time.Millisecond) // the call has reached the model: the worker is busy with it
	}
	pod, node := teamPodOf(ctx, t, c, busy.GetLastWorkerIdentity())
	if node == nodes[0] {
		t.Fatalf("worker %s runs on Temporal's node %s", pod, node)
	}
	t.Logf("the writer's model call (attempt %d) is running on %s on %s; killing %s", busy.GetAttempt(), pod, node, node)
	if err := c.KillNode(node); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	retry := teamModelCall(ctx, t, tc, writer, busy.GetAttempt()+1)
	res, err := runs.Result(ctx, tc, id)
	if err != nil {
		t.Fatalf("the run failed: %v", err)
	}
	done := time.Now()
	t.Logf("figures: the retry started on %s %s after the kill; run done %s after the kill, %s after its start",
		teamWorkerHost(retry.GetLastWorkerIdentity()), retry.GetLastStartedTime().AsTime().Sub(killed).Round(time.Millisecond),
		done.Sub(killed).Round(time.Millisecond), done.Sub(started).Round(time.Millisecond))
	if res.Output != relayOutput || res.Outputs["researcher"] != "findings on "+relayInput {
		t.Errorf("output %q, outputs %q; want the writer to quote the researcher: %q", res.Output, res.Outputs, relayOutput)
	}
	teamCheckFinisher(ctx, t, tc, writer, pod)
	teamCheckTranscripts(ctx, t, dsn, map[string]string{id + "/researcher-1": res.Outputs["researcher"], writer: relayOutput})
	t.Logf("model calls: researcher %d, writer %d (the dead worker's call and its retry)",
		model.CountFor("You are the researcher"), model.CountFor("You are the writer"))
	if n := model.CountFor("You are the writer"); n < 2 {
		t.Errorf("the writer's model was called %d times; want the lost call and its retry", n)
	}
}

// teamProgram builds the main package pkg of the repository without cgo.
func teamProgram(t *testing.T, root, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = root
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, out)
	}
	return bin
}

func teamLoadImage(ctx context.Context, t *testing.T, c *testbed.Cluster, ref, bin string, spec image.Spec) {
	t.Helper()
	img, err := image.Pack(bin, spec)
	if err == nil {
		err = c.LoadImage(ctx, ref, img)
	}
	if err != nil {
		t.Fatalf("image %s: %v", ref, err)
	}
}

// teamURLHost is the host:port of a URL.
func teamURLHost(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// teamForward relays TCP connections from host (an address pods reach: the test network's bridge) to target (a loopback
// server of the test) until the test ends, and returns the port it listens on.
func teamForward(t *testing.T, host, target string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	track := func(cs ...net.Conn) {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range cs {
			open[c] = true
		}
	}
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			track(in, out)
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for c := range open {
			c.Close()
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}

// teamApply applies objs and waits until their workloads are rolled out.
func teamApply(ctx context.Context, t *testing.T, a *kube.Applier, objs []runtime.Object) {
	t.Helper()
	var us []*unstructured.Unstructured
	for _, o := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			t.Fatal(err)
		}
		us = append(us, &unstructured.Unstructured{Object: m})
	}
	if _, err := a.Apply(ctx, us, kube.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute) // a loaded machine starts containers slowly
	defer cancel()
	if err := a.Wait(wctx, us, nil); err != nil {
		t.Fatalf("waiting for the rollout: %v", err)
	}
}

var teamLabels = map[string]string{"app.kubernetes.io/part-of": "team-lab"}

func teamMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: teamNS, Labels: teamLabels}
}

// teamDeployment is a Deployment of one container whose pods carry app=name.
func teamDeployment(name string, replicas int32, pod corev1.PodSpec) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	pod.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: teamPtr(true),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	for i := range pod.Containers {
		pod.Containers[i].ImagePullPolicy = corev1.PullNever
		pod.Containers[i].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: teamPtr(false),
			ReadOnlyRootFilesystem: teamPtr(true), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: teamMeta(name),
		Spec: appsv1.DeploymentSpec{Replicas: teamPtr(replicas), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod}},
	}
}

func teamPtr[T any](v T) *T { return &v }

// temporalObjects run the embedded Temporal server on node, its frontend behind Service temporal (a NodePort too,
// for the test's own client).
func temporalObjects(node string) []runtime.Object {
	d := teamDeployment("temporal", 1, corev1.PodSpec{
		NodeSelector: map[string]string{"kubernetes.io/hostname": node},
		Containers: []corev1.Container{{Name: "temporal", Image: "agops.test/teamtemporal:1",
			// No USER: devserver sets it, as the agops image has no /etc/passwd.
			Env: []corev1.EnvVar{{Name: "DATA_DIR", Value: "/data"},
				{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}},
			Ports:          []corev1.ContainerPort{{Name: "grpc", ContainerPort: 7233}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(7233)}}, PeriodSeconds: 2},
			VolumeMounts:   []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
		Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
	})
	svc := &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: teamMeta("temporal"),
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "temporal"},
			Ports: []corev1.ServicePort{{Name: "grpc", Port: 7233, TargetPort: intstr.FromInt32(7233)}}},
	}
	return []runtime.Object{d, svc}
}

// workerObjects run two `agops worker` replicas, one per node, never on Temporal's node: they dial Service temporal
// and keep the transcripts in the PostgreSQL database of dsn, reached at pgAt.
func workerObjects(temporalNode, pgAt, dsn string) []runtime.Object {
	u, _ := url.Parse(dsn)
	pw, _ := u.User.Password()
	pgHost, pgPort, _ := net.SplitHostPort(pgAt)
	secret := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: teamMeta("team-lab"),
		StringData: map[string]string{"pgpassword": pw, "gateway-token": "unused: the team has no tools"}}
	env := []corev1.EnvVar{{Name: "TEMPORAL_ADDRESS", Value: "temporal:7233"}, {Name: "AGOPS_TRANSCRIPTS", Value: "postgres"},
		{Name: "PGHOST", Value: pgHost}, {Name: "PGPORT", Value: pgPort}, {Name: "PGUSER", Value: u.User.Username()},
		{Name: "PGDATABASE", Value: strings.TrimPrefix(u.Path, "/")}, {Name: "PGSSLMODE", Value: "disable"},
		{Name: "PGPASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "team-lab"}, Key: "pgpassword"}}}}
	d := teamDeployment("agops-worker", 2, corev1.PodSpec{
		Affinity: &corev1.Affinity{
			NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpNotIn, Values: []string{temporalNode}}}}}}},
			PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: "kubernetes.io/hostname", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agops-worker"}}}}},
		},
		Containers: []corev1.Container{{Name: "worker", Image: "agops.test/agops:team", Env: env,
			Args:         []string{"worker", "--gateway-token-file", "/var/run/agops/gateway-token"},
			VolumeMounts: []corev1.VolumeMount{{Name: "token", MountPath: "/var/run/agops", ReadOnly: true}}}},
		Volumes: []corev1.Volume{{Name: "token", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: "team-lab", Items: []corev1.KeyToPath{{Key: "gateway-token", Path: "gateway-token"}}}}}},
	})
	return []runtime.Object{secret, d}
}

// teamDialTemporal connects the test to Temporal through the Service's NodePort on node's address.
func teamDialTemporal(ctx context.Context, t *testing.T, c *testbed.Cluster, node string) client.Client {
	t.Helper()
	svc, err := c.Client().CoreV1().Services(teamNS).Get(ctx, "temporal", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.Client().CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ip string
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			ip = a.Address
		}
	}
	addr := fmt.Sprintf("%s:%d", ip, svc.Spec.Ports[0].NodePort)
	tc, err := client.DialContext(ctx, client.Options{HostPort: addr, Logger: devserver.QuietLogger()})
	if err != nil {
		t.Fatalf("dialing Temporal at %s: %v", addr, err)
	}
	t.Cleanup(tc.Close)
	return tc
}

// teamPollers waits until n workers poll the agent task queue for activities and returns their identities.
func teamPollers(ctx context.Context, t *testing.T, tc client.Client, n int) []string {
	t.Helper()
	for {
		resp, err := tc.DescribeTaskQueue(ctx, agent.TaskQueue, enumspb.TASK_QUEUE_TYPE_ACTIVITY)
		var ids []string
		for _, p := range resp.GetPollers() {
			ids = append(ids, p.GetIdentity())
		}
		if len(ids) >= n {
			return ids
		}
		if ctx.Err() != nil {
			t.Fatalf("%d of %d workers polling (last error %v)", len(ids), n, err)
		}
		time.Sleep(time.Second)
	}
}

// teamModelCall waits until task's model call has started its attempt-th attempt (or a later one) on a worker.
func teamModelCall(ctx context.Context, t *testing.T, tc client.Client, task string, attempt int32) *workflowpb.PendingActivityInfo {
	t.Helper()
	for {
		d, err := tc.DescribeWorkflowExecution(ctx, task, "")
		for _, p := range d.GetPendingActivities() {
			if p.GetActivityType().GetName() == agent.ModelCallActivity && p.GetAttempt() >= attempt &&
				p.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED && p.GetLastWorkerIdentity() != "" {
				return p
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: no model call at attempt %d started (last error %v)", task, attempt, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// teamWorkerHost is the host name in a Temporal SDK worker identity (pid@host@queue): the pod's name.
func teamWorkerHost(identity string) string {
	parts := strings.Split(identity, "@")
	if len(parts) < 2 {
		return identity
	}
	return parts[1]
}

// teamPodOf returns the worker pod of a Temporal worker identity and its node.
func teamPodOf(ctx context.Context, t *testing.T, c *testbed.Cluster, identity string) (pod, node string) {
	t.Helper()
	p, err := c.Client().CoreV1().Pods(teamNS).Get(ctx, teamWorkerHost(identity), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the worker %q: %v", identity, err)
	}
	return p.Name, p.Spec.NodeName
}

// teamCheckFinisher reads task's history: the model call that completed was a retry, run by a worker other than dead.
func teamCheckFinisher(ctx context.Context, t *testing.T, tc client.Client, task, dead string) {
	t.Helper()
	it := tc.GetWorkflowHistory(ctx, task, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var started []*historypb.ActivityTaskStartedEventAttributes
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := e.GetActivityTaskStartedEventAttributes(); a != nil {
			started = append(started, a)
		}
	}
	if len(started) != 1 {
		t.Fatalf("%s: %d activities started; want the one model call", task, len(started))
	}
	s := started[0]
	t.Logf("%s: the model call completed at attempt %d on %s; the attempt before ended with %q", task, s.GetAttempt(),
		teamWorkerHost(s.GetIdentity()), s.GetLastFailure().GetMessage())
	if s.GetAttempt() < 2 || teamWorkerHost(s.GetIdentity()) == dead {
		t.Errorf("%s: the model call completed at attempt %d on %s; want a retry on the surviving worker, not %s",
			task, s.GetAttempt(), teamWorkerHost(s.GetIdentity()), dead)
	}
}

// teamCheckTranscripts reads each task's transcript from the workers' shared store: system, task, and the answer.
func teamCheckTranscripts(ctx context.Context, t *testing.T, dsn string, answers map[string]string) {
	t.Helper()
	store, err := activities.OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for key, want := range answers {
		msgs, err := store.Get(ctx, key, 3)
		if err != nil {
			t.Errorf("transcript %s: %v", key, err)
			continue
		}
		if msgs[2].Content != want {
			t.Errorf("transcript %s ends with %q; want %q", key, msgs[2].Content, want)
		}
	}
}

// teamLogPods logs the last lines of every pod of the test (a dead node's pods have none).
func teamLogPods(t *testing.T, c *testbed.Cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pods, err := c.Client().CoreV1().Pods(teamNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Logf("listing pods: %v", err)
		return
	}
	for _, p := range pods.Items {
		b, err := c.Client().CoreV1().Pods(teamNS).GetLogs(p.Name, &corev1.PodLogOptions{TailLines: teamPtr(int64(30))}).DoRaw(ctx)
		lines := strings.Split(string(b), "\n")
		for i, l := range lines {
			if len(l) > 400 {
				lines[i] = l[:400] + "…"
			}
		}
		t.Logf("pod %s on %s (%s): %v\n%s", p.Name, p.Spec.NodeName, p.Status.Phase, err, strings.Join(lines, "\n"))
	}
}
