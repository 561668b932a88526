package rehearse

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/agops/agops/internal/render/k8s"
	"github.com/agops/agops/internal/traffic"
)

// On nodes that run containers, a rehearsal also measures what a client sees: a pod on a surviving node opens a
// TCP connection to one replicated service through its Service every 100 ms, from before the kill until after it,
// and the report gives the failed connections and the longest outage. The client runs the helper image
// (`agops traffic`); a NetworkPolicy of the rehearsal's own admits it to that service and nothing else.

const (
	trafficName  = "agops-rehearse-traffic"
	trafficLabel = "agops.dev/rehearse"
	// trafficLead is how long the client runs before the kill, trafficTail at most after it: long enough for the node
	// to go NotReady (its grace period) and its pods to leave the endpoints, and then to show the service serving.
	trafficLead = 10 * time.Second
	trafficTail = 90 * time.Second
)

// Traffic is what the client saw.
type Traffic struct {
	Workload string `json:"workload"` // namespace/name of the service called
	Target   string `json:"target"`   // the Service's address and port
	Node     string `json:"node"`     // where the client ran
	Requests int    `json:"requests"`
	Failed   int    `json:"failed"`
	// LongestOutage is the longest time every connection failed; OutageAt is when it began, since the kill.
	LongestOutage time.Duration `json:"longestOutage"`
	OutageAt      time.Duration `json:"outageAt"`
	// LastFailure is the last failed connection, since the kill (0 if none failed).
	LastFailure time.Duration `json:"lastFailure"`
}

// trafficRun is a client pod and its policy while they run.
type trafficRun struct {
	ns, workload, target, node string
	started                    time.Time
}

// target picks the service to call: a Deployment or StatefulSet with at least two ready replicas, one of them on
// the node to be killed, and a Service with a TCP port in front of it. It returns nil if there is none.
func (r *rehearsal) trafficTarget(before snapshot, objs []*unstructured.Unstructured) (*unstructured.Unstructured, *corev1.Service, *corev1.ServicePort) {
	for _, u := range r.workloads {
		st := before[refOf(u)]
		if u.GetKind() == "DaemonSet" || st.ready < 2 || !slices.Contains(st.nodes, r.o.Kill) {
			continue
		}
		labels, _, _ := unstructured.NestedStringMap(u.Object, "spec", "template", "metadata", "labels")
		for _, o := range objs {
			if o.GetKind() != "Service" || o.GetNamespace() != u.GetNamespace() {
				continue
			}
			var svc corev1.Service
			if err := fromUnstructured(o, &svc); err != nil || svc.Spec.Type == corev1.ServiceTypeExternalName ||
				svc.Spec.ClusterIP == corev1.ClusterIPNone || len(svc.Spec.Selector) == 0 {
				continue
			}
			if !selects(svc.Spec.Selector, labels) {
				continue
			}
			for i := range svc.Spec.Ports {
				if p := &svc.Spec.Ports[i]; p.Protocol == "" || p.Protocol == corev1.ProtocolTCP {
					return u, &svc, p
				}
			}
		}
	}
	return nil, nil, nil
}

func selects(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// startTraffic creates the client pod on a node that survives, and the policy that admits it.
func (r *rehearsal) startTraffic(ctx context.Context, before snapshot, objs []*unstructured.Unstructured) (*trafficRun, error) {
	u, svc, port := r.trafficTarget(before, objs)
	if u == nil {
		r.event(0, "no replicated service runs on "+r.o.Kill+": no traffic measured")
		return nil, nil
	}
	cs := r.c.Client()
	live, err := cs.CoreV1().Services(svc.Namespace).Get(ctx, svc.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading Service %s: %w", svc.Name, err)
	}
	node := ""
	for _, n := range r.c.Nodes() {
		if n != r.o.Kill {
			node = n
			break
		}
	}
	podLabels, _, _ := unstructured.NestedStringMap(u.Object, "spec", "template", "metadata", "labels")
	target := live.Spec.ClusterIP + ":" + strconv.Itoa(int(port.Port))
	run := &trafficRun{ns: u.GetNamespace(), workload: u.GetNamespace() + "/" + u.GetName(), target: target, node: node}
	for _, p := range trafficPolicies(podLabels, port.TargetPort, port.Port) {
		if _, err := cs.NetworkingV1().NetworkPolicies(run.ns).Create(ctx, p, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating the traffic client's policy: %w", err)
		}
	}
	pod := trafficPod(r.o.HelperImage, target, node, r.trafficLength())
	if _, err := cs.CoreV1().Pods(run.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating the traffic client: %w", err)
	}
	// The client must be calling before the host dies.
	deadline := time.Now().Add(time.Minute)
	for {
		p, err := cs.CoreV1().Pods(run.ns).Get(ctx, trafficName, metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the traffic client did not start within a minute")
		}
		time.Sleep(200 * time.Millisecond)
	}
	run.started = time.Now()
	r.event(0, fmt.Sprintf("a client on %s connects to %s (%s) every 100ms", node, run.workload, target))
	time.Sleep(trafficLead)
	return run, nil
}

// finishTraffic stops the client, reads its summary and removes the client and its policy.
func (r *rehearsal) finishTraffic(ctx context.Context, run *trafficRun) (*Traffic, error) {
	cs := r.c.Client()
	defer func() {
		_ = cs.CoreV1().Pods(run.ns).Delete(context.WithoutCancel(ctx), trafficName, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
		for _, suffix := range []string{"-in", "-out"} {
			_ = cs.NetworkingV1().NetworkPolicies(run.ns).Delete(context.WithoutCancel(ctx), trafficName+suffix, metav1.DeleteOptions{})
		}
	}()
	// It ends by itself; wait for its summary.
	deadline := run.started.Add(r.trafficLength() + time.Minute)
	for {
		p, err := cs.CoreV1().Pods(run.ns).Get(ctx, trafficName, metav1.GetOptions{})
		if err == nil && (p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed) {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the traffic client did not finish")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	log, err := cs.CoreV1().Pods(run.ns).GetLogs(trafficName, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the traffic client's log: %w", err)
	}
	res, err := traffic.Parse(strings.NewReader(string(log)))
	if err != nil {
		return nil, err
	}
	kill := r.killed.Sub(res.Start)
	t := &Traffic{Workload: run.workload, Target: run.target, Node: run.node, Requests: res.Requests, Failed: res.Failed,
		LongestOutage: res.LongestOutage.Round(time.Millisecond), OutageAt: (res.OutageFrom - kill).Round(time.Millisecond)}
	for _, s := range res.Samples {
		if !s.OK {
			t.LastFailure = (s.At - kill).Round(time.Millisecond)
		}
	}
	return t, nil
}

// trafficPolicies admit the client to the service's pods on the port: one lets the service's pods take its
// connections, the other lets the client (and only it) open them (the namespace's default-deny covers egress too).
// They are agops's own (the project's admission guard admits only policies agops writes).
func trafficPolicies(podLabels map[string]string, targetPort intstr.IntOrString, port int32) []*networkingv1.NetworkPolicy {
	client := metav1.LabelSelector{MatchLabels: map[string]string{trafficLabel: "traffic"}}
	target := metav1.LabelSelector{MatchLabels: podLabels}
	if targetPort.IntValue() == 0 && targetPort.Type == intstr.Int {
		targetPort = intstr.FromInt32(port)
	}
	tcp := corev1.ProtocolTCP
	ports := []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &targetPort}}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Labels: map[string]string{trafficLabel: "traffic", k8s.LabelManagedBy: "agops"}}
	}
	return []*networkingv1.NetworkPolicy{
		{
			ObjectMeta: meta(trafficName + "-in"),
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: target,
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &client}}, Ports: ports}},
			},
		},
		{
			ObjectMeta: meta(trafficName + "-out"),
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: client,
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
				Egress:      []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &target}}, Ports: ports}},
			},
		},
	}
}

// trafficPod runs `agops traffic` on node, within the restricted Pod Security level.
func trafficPod(image, target, node string, length time.Duration) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: trafficName, Labels: map[string]string{trafficLabel: "traffic"}},
		Spec: corev1.PodSpec{
			NodeName:                     node,
			RestartPolicy:                corev1.RestartPolicyNever,
			AutomountServiceAccountToken: ptr.To(false),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name: "traffic", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
				Args: []string{"traffic", "--target", target, "--every", "100ms", "--for", length.String()},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resourceQuantity("10m"), corev1.ResourceMemory: resourceQuantity("16Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resourceQuantity("200m"), corev1.ResourceMemory: resourceQuantity("64Mi")},
				},
			}},
		},
	}
}

// trafficLength is how long the client runs.
func (r *rehearsal) trafficLength() time.Duration { return trafficLead + min(r.o.Recover, trafficTail) }
