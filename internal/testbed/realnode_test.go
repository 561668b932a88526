//go:build linux

package testbed

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/agops/agops/internal/kubeclient"
	"github.com/agops/agops/internal/traffic"
)

const echoImage = "agops.test/echo:1"

// startRealForTest starts a cluster of three real nodes with the echo image loaded, or skips where real nodes
// cannot run.
func startRealForTest(t *testing.T) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and starts real nodes")
	}
	if err := RealNodesSupported(); err != nil {
		t.Skip(err)
	}
	c := StartForTest(t, WithRealNodes())
	bin := filepath.Join(t.TempDir(), "echo")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/echo")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the echo image: %v\n%s", err, out)
	}
	if err := c.LoadBinary(context.Background(), echoImage, bin); err != nil {
		t.Fatal(err)
	}
	return c
}

func echoDeployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name: "echo", Image: echoImage, ImagePullPolicy: corev1.PullNever,
						Args:  []string{"serve", ":8080"},
						Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080)}},
							PeriodSeconds: 1,
						},
					}},
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
						MaxSkew: 1, TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.DoNotSchedule,
						LabelSelector: &metav1.LabelSelector{MatchLabels: labels},
					}},
				},
			},
		},
	}
}

func echoService(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
}

// clientPod runs `echo get url` once.
func clientPod(name, url string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "get", Image: echoImage, ImagePullPolicy: corev1.PullNever, Args: []string{"get", url},
			}},
		},
	}
}

// podOutcome waits for a pod to end and returns its phase and log.
func podOutcome(t *testing.T, client kubeclient.Interface, ns, name string, within time.Duration) (corev1.PodPhase, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		p, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && (p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed) {
			log, err := client.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
			if err != nil {
				t.Fatalf("logs of %s: %v", name, err)
			}
			return p.Status.Phase, string(log)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod %s did not finish within %s (last: %+v, %v)", name, within, p.Status, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func TestRealNodesRunPodsBehindServices(t *testing.T) {
	c := startRealForTest(t)
	ctx := context.Background()
	client := c.Client()
	ns := metav1.NamespaceDefault
	if _, err := client.AppsV1().Deployments(ns).Create(ctx, echoDeployment("echo", 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc, err := client.CoreV1().Services(ns).Create(ctx, echoService("echo"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// By the Service's address: kube-proxy's rules on the client's node send it to a pod on any node.
	if _, err := client.CoreV1().Pods(ns).Create(ctx, clientPod("by-ip", "http://"+svc.Spec.ClusterIP+"/"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	phase, log := podOutcome(t, client, ns, "by-ip", 2*time.Minute)
	if phase != corev1.PodSucceeded || !strings.Contains(log, "answered by echo-") {
		t.Fatalf("client by address: %s, log %q", phase, log)
	}
}

// TestRealNodeKillUnderTraffic calls a two-replica Service every 100 ms from a third node while the node of one
// replica dies: requests that land on the dead pod fail until the node is NotReady and its pod leaves the Service's
// endpoints; then the surviving replica serves every request.
func TestRealNodeKillUnderTraffic(t *testing.T) {
	c := startRealForTest(t)
	ctx := context.Background()
	client := c.Client()
	ns := metav1.NamespaceDefault
	if _, err := client.AppsV1().Deployments(ns).Create(ctx, echoDeployment("web", 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc, err := client.CoreV1().Services(ns).Create(ctx, echoService("web"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hosts := readyPodNodes(t, client, ns, "app=web", 2, 2*time.Minute)
	var free string
	for _, n := range c.Nodes() {
		if !slices.Contains(hosts, n) {
			free = n
		}
	}
	pod := clientPod("traffic", "http://"+svc.Spec.ClusterIP+"/")
	pod.Spec.Containers[0].Args = []string{"traffic", "http://" + svc.Spec.ClusterIP + "/"}
	pod.Spec.NodeName = free
	if _, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodRunning(t, client, ns, "traffic", time.Minute)
	time.Sleep(8 * time.Second)
	killedAt := time.Now()
	if err := c.KillNode(hosts[0]); err != nil {
		t.Fatal(err)
	}
	// When the dead replica stops being a ready endpoint of the Service: the node NotReady after its grace period
	// (20 s), its pods NotReady, the EndpointSlice updated. kube-proxy then stops sending requests there.
	left := make(chan time.Duration, 1)
	go func() { left <- endpointLeft(client, ns, "web", hosts[0], killedAt, 2*time.Minute) }()
	phase, log := podOutcome(t, client, ns, "traffic", 2*time.Minute)
	if phase != corev1.PodSucceeded {
		t.Fatalf("traffic pod %s: %s", phase, log)
	}
	r, err := traffic.Parse(strings.NewReader(log))
	if err != nil {
		t.Fatalf("%v; log (%d bytes) begins %.300q and ends %.300q", err, len(log), log, log[max(0, len(log)-300):])
	}
	kill := killedAt.Sub(r.Start)
	epLeft := <-left
	t.Logf("killed %s at %s: %d of %d requests failed; longest outage %s from %s; the dead replica left the endpoints %s after the kill",
		hosts[0], kill.Round(time.Millisecond), r.Failed, r.Requests, r.LongestOutage, r.OutageFrom.Round(time.Millisecond),
		epLeft.Round(100*time.Millisecond))
	if epLeft < 0 {
		t.Fatalf("the dead replica on %s was still a ready endpoint 2 minutes after the kill", hosts[0])
	}
	// kube-proxy applies an endpoint change within seconds; on a machine this busy, allow 15.
	const propagation = 15 * time.Second
	var before, after, lastFail time.Duration
	var late []traffic.Sample
	for _, s := range r.Samples {
		switch {
		case !s.OK && s.At < kill:
			before++
		case !s.OK:
			lastFail = s.At
		}
		if s.At > kill+epLeft+propagation && !s.OK {
			after++
			late = append(late, s)
		}
	}
	if before > 0 {
		t.Errorf("%d requests failed before the kill", before)
	}
	if r.Failed == 0 {
		t.Errorf("no request failed although half of them went to a dead pod")
	}
	if after > 0 {
		t.Errorf("%d requests failed more than %s after the dead replica left the endpoints (%s after the kill; last failure %s after it): the surviving replica should serve; %+v",
			after, propagation, epLeft.Round(100*time.Millisecond), (lastFail - kill).Round(time.Millisecond), late[:min(len(late), 5)])
	}
}

// endpointLeft polls the EndpointSlices of Service svc until none lists a ready endpoint on node, and returns how long
// after since that was seen; -1 if it did not happen within the time given.
func endpointLeft(client kubeclient.Interface, ns, svc, node string, since time.Time, within time.Duration) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		list, err := client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + svc})
		if err == nil {
			serving := false
			for _, sl := range list.Items {
				for _, ep := range sl.Endpoints {
					if ep.NodeName != nil && *ep.NodeName == node && (ep.Conditions.Ready == nil || *ep.Conditions.Ready) {
						serving = true
					}
				}
			}
			if !serving {
				return time.Since(since)
			}
		}
		select {
		case <-ctx.Done():
			return -1
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// readyPodNodes waits for n Ready pods matching selector and returns their nodes.
func readyPodNodes(t *testing.T, client kubeclient.Interface, ns, selector string, n int, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		pods, err := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		var nodes []string
		if err == nil {
			for _, p := range pods.Items {
				if podReady(&p) {
					nodes = append(nodes, p.Spec.NodeName)
				}
			}
		}
		if len(nodes) >= n {
			return nodes
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d pods %s Ready after %s", len(nodes), n, selector, within)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func waitPodRunning(t *testing.T, client kubeclient.Interface, ns, name string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		p, err := client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s not running after %s", name, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestRealNodesResolveNamesAndEnforcePolicies: CoreDNS answers Service names (short, qualified, and an
// ExternalName across namespaces, as agops's links between tiers are), and kube-router enforces a default-deny
// ingress policy and the rule that admits one client.
func TestRealNodesResolveNamesAndEnforcePolicies(t *testing.T) {
	c := startRealForTest(t)
	ctx := context.Background()
	client := c.Client()
	ns := metav1.NamespaceDefault
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "other"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.AppsV1().Deployments(ns).Create(ctx, echoDeployment("api", 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Services(ns).Create(ctx, echoService("api"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	link := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "other"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "api.default.svc.cluster.local"},
	}
	if _, err := client.CoreV1().Services("other").Create(ctx, link, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	readyPodNodes(t, client, ns, "app=api", 1, 2*time.Minute)
	run := func(name, ns, url string, labels map[string]string) (corev1.PodPhase, string) {
		t.Helper()
		p := clientPod(name, url)
		p.Labels = labels
		if _, err := client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		return podOutcome(t, client, ns, name, 2*time.Minute)
	}
	for _, tc := range []struct{ name, ns, url string }{
		{"short", ns, "http://api/"},
		{"qualified", ns, "http://api.default.svc.cluster.local/"},
		{"link", "other", "http://api:80/"},
	} {
		if phase, log := run(tc.name, tc.ns, tc.url, nil); phase != corev1.PodSucceeded || !strings.Contains(log, "answered by api-") {
			t.Errorf("%s (%s from %s): %s, log %q", tc.name, tc.url, tc.ns, phase, log)
		}
	}
	deny := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "api-ingress"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "friend"}}}},
			}},
		},
	}
	if _, err := client.NetworkingV1().NetworkPolicies(ns).Create(ctx, deny, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // kube-router syncs on the policy's event
	if phase, log := run("friend", ns, "http://api/", map[string]string{"role": "friend"}); phase != corev1.PodSucceeded {
		t.Errorf("the admitted client failed: %s, log %q", phase, log)
	}
	// kube-router rejects what no policy admits (an ICMP port unreachable, as on k3s): the client sees its
	// connection refused, or a timeout where the packet is dropped instead.
	phase, log := run("stranger", ns, "http://api/", map[string]string{"role": "stranger"})
	if phase != corev1.PodFailed || !strings.Contains(log, "connection refused") && !strings.Contains(log, "imeout") {
		t.Errorf("a client the policy does not admit: %s, log %.300q; want it refused", phase, log)
	}
}
