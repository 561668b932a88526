package cluster

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agops/agops/internal/kubeclient"
)

// CheckSpec says what a running cluster should look like.
type CheckSpec struct {
	ExpectNodes  int             // Ready nodes wanted (default 3)
	Accelerators map[string]Kind // node → kind: the node must carry the label and advertise the resource
	NPUResource  string          // the NPU resource (default DefaultNPUResource)
	// RegistryMirror, when set, requires every running container's image to come from it or be pinned by digest.
	RegistryMirror string
}

// Status of one check.
type Status string

// Statuses: only Fail makes the report fail.
const (
	OK   Status = "ok"
	Fail Status = "FAIL"
	Info Status = "info"
)

// Result is one check's outcome.
type Result struct {
	Status Status
	Name   string
	Detail string
}

// Report is every check's result, in order.
type Report []Result

// Failed counts the failed checks.
func (r Report) Failed() int {
	n := 0
	for _, x := range r {
		if x.Status == Fail {
			n++
		}
	}
	return n
}

// Write prints one line per check: "ok   name: detail", "FAIL name: detail", "info name: detail".
func (r Report) Write(w io.Writer) error {
	for _, x := range r {
		if _, err := fmt.Fprintf(w, "%-4s %s: %s\n", x.Status, x.Name, x.Detail); err != nil {
			return err
		}
	}
	return nil
}

// Check verifies a running cluster through its API: Ready nodes, control-plane health (readyz, etcd included),
// each expected accelerator's label and allocatable resource, RuntimeClasses, and where images come from. It
// returns an error only when the API cannot be asked at all; failed checks are in the Report.
func Check(ctx context.Context, client kubeclient.Interface, cs CheckSpec) (Report, error) {
	if cs.ExpectNodes == 0 {
		cs.ExpectNodes = 3
	}
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	r := Report{checkNodes(nodes.Items, cs.ExpectNodes), checkReadyz(ctx, client)}
	r = append(r, checkAccelerators(nodes.Items, cs)...)
	r = append(r, checkRuntimeClasses(ctx, client, cs))
	return append(r, checkImages(ctx, client, cs.RegistryMirror)...), nil
}

func checkNodes(nodes []corev1.Node, want int) Result {
	var ready, notReady []string
	for _, n := range nodes {
		if cond := readyCondition(n); cond != nil && cond.Status == corev1.ConditionTrue {
			ready = append(ready, n.Name)
		} else {
			notReady = append(notReady, n.Name+" "+notReadyWhy(cond))
		}
	}
	sort.Strings(ready)
	sort.Strings(notReady)
	detail := fmt.Sprintf("%d of %d Ready, want %d", len(ready), len(nodes), want)
	if len(ready) > 0 {
		detail += " (" + strings.Join(ready, ", ") + ")"
	}
	if len(notReady) > 0 {
		detail += "; not Ready: " + strings.Join(notReady, "; ")
	}
	if len(ready) != want || len(notReady) > 0 {
		return Result{Fail, "nodes", detail}
	}
	return Result{OK, "nodes", detail}
}

func readyCondition(n corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

func notReadyWhy(c *corev1.NodeCondition) string {
	if c == nil {
		return "(no Ready condition: the kubelet never reported)"
	}
	why := fmt.Sprintf("(Ready=%s", c.Status)
	if c.Reason != "" {
		why += ", " + c.Reason
	}
	if c.Message != "" {
		why += ": " + c.Message
	}
	return why + ")"
}

// checkReadyz asks /readyz?verbose: every check must pass, and etcd must be among them.
func checkReadyz(ctx context.Context, client kubeclient.Interface) Result {
	body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").Param("verbose", "").DoRaw(ctx)
	var failed []string
	passed, etcd := 0, false
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "[+]"):
			passed++
			etcd = etcd || strings.HasPrefix(line, "[+]etcd ")
		case strings.HasPrefix(line, "[-]"):
			failed = append(failed, strings.TrimPrefix(line, "[-]"))
		}
	}
	switch {
	case len(failed) > 0:
		return Result{Fail, "control plane", "readyz: " + strings.Join(failed, "; ")}
	case err != nil:
		return Result{Fail, "control plane", "readyz: " + err.Error()}
	case !etcd:
		return Result{Fail, "control plane", fmt.Sprintf("readyz: %d checks passed, but none is etcd", passed)}
	}
	return Result{OK, "control plane", fmt.Sprintf("readyz: %d checks passed, etcd included", passed)}
}

func checkAccelerators(nodes []corev1.Node, cs CheckSpec) []Result {
	byName := map[string]corev1.Node{}
	for _, n := range nodes {
		byName[n.Name] = n
	}
	spec := Spec{NPUResource: cs.NPUResource}
	var names []string
	for name := range cs.Accelerators {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []Result
	for _, name := range names {
		k := cs.Accelerators[name]
		out = append(out, checkAccelerator(byName, name, k, corev1.ResourceName(spec.Resource(k))))
	}
	return out
}

func checkAccelerator(nodes map[string]corev1.Node, name string, k Kind, res corev1.ResourceName) Result {
	check := "accelerator " + name
	n, ok := nodes[name]
	if !ok {
		return Result{Fail, check, fmt.Sprintf("no node %s in the cluster", name)}
	}
	var problems []string
	if got := n.Labels[AcceleratorLabel]; got != string(k) {
		problems = append(problems, fmt.Sprintf("label %s=%q, want %q", AcceleratorLabel, got, k))
	}
	q, ok := n.Status.Allocatable[res]
	if !ok || q.IsZero() {
		problems = append(problems, fmt.Sprintf("no %s allocatable (is the device plugin running on it?)", res))
	}
	if len(problems) > 0 {
		return Result{Fail, check, strings.Join(problems, "; ")}
	}
	return Result{OK, check, fmt.Sprintf("%s %s allocatable, label %s=%s", q.String(), res, AcceleratorLabel, k)}
}
