package rehearse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/agops/agops/internal/check/reach"
	"github.com/agops/agops/internal/kube"
	"github.com/agops/agops/internal/model"
	"github.com/agops/agops/internal/standin"
)

// With stand-ins, every container of the project runs agops's stand-in instead of its image (internal/standin): it
// listens on the container's ports and keeps dialing every other workload's ports. Once every workload is ready, the
// rehearsal reads the stand-ins' reports from their logs and sets the measured matrix beside `agops check`'s
// prediction and beside what Compose allowed.

// Reachability is the measured matrix of a rehearsal with stand-ins.
type Reachability struct {
	standin.Comparison
	// Pairs counts the rows; Agree those where the measurement is the prediction.
	Pairs int `json:"pairs"`
	Agree int `json:"agree"`
	// Notes say what the stand-ins changed (images, exec probes, resources).
	Notes []standin.Note `json:"notes"`
}

// StandIns is a project's stand-ins and what the matrices need.
type StandIns struct {
	// Predicted is agops check's matrix of the original manifests; Compose, what Compose allowed.
	Predicted reach.Matrix
	Compose   standin.ComposeReach
	Notes     []standin.Note
}

// TestbedNetwork is the test bed's network as the prediction sees it: k3s's address ranges, no ServiceLB, and
// kube-router enforcing the policies, as on k3s.
var TestbedNetwork = reach.Options{PodCIDR: "10.42.0.0/16", ServiceCIDR: "10.43.0.0/16", NoServiceLB: true, Enforcer: reach.EnforcerKubeRouter}

// PrepareStandIns replaces objs' containers by stand-ins running helperImage, and predicts the matrix from the
// original objects for a cluster whose network network describes.
func PrepareStandIns(objs []*unstructured.Unstructured, m *model.Project, helperImage string, network reach.Options) ([]*unstructured.Unstructured, *StandIns, error) {
	cluster, err := reach.New(objs, network)
	if err != nil {
		return nil, nil, fmt.Errorf("predicting the matrix: %w", err)
	}
	out, notes, err := standin.Apply(objs, standin.Options{HelperImage: helperImage})
	if err != nil {
		return nil, nil, err
	}
	return out, &StandIns{Predicted: cluster.Matrix(), Compose: composeReach(m), Notes: notes}, nil
}

// composeReach is each Compose service's networks, by workload ID.
func composeReach(m *model.Project) standin.ComposeReach {
	if m == nil {
		return nil
	}
	out := standin.ComposeReach{}
	for _, w := range m.Workloads {
		if w.Service != "" {
			out[w.Namespace+"/"+w.Name] = append([]string{}, w.Networks...)
		}
	}
	return out
}

// The measurement starts once every workload is ready, but an enforcer may still be catching up with the pods that
// just started (kube-router resyncs on every pod event): it is taken when stableRounds successive readings, a dial
// round apart, agree on every pair and resolved every name, or after measureWithin at most (then flaky pairs and
// DNS errors say what was still moving).
const (
	stableRounds  = 3
	measureWithin = 2 * time.Minute
)

// MeasureStandIns measures the reachability matrix of objs, which run stand-ins (PrepareStandIns) and are already
// applied to c with every workload ready, and compares it with s: what a rehearsal with stand-ins does before the
// kill. o.Logger and o.Progress are used.
func MeasureStandIns(ctx context.Context, c Cluster, objs []*unstructured.Unstructured, s *StandIns, o Options) (*Reachability, error) {
	r := &rehearsal{c: c, o: defaults(o, c), start: time.Now(), workloads: workloadsOf(objs), jobs: jobsOf(objs)}
	return r.measureWithJobs(ctx, s)
}

// measureWithJobs measures with the Jobs' measuring pods running, and deletes them afterwards.
func (r *rehearsal) measureWithJobs(ctx context.Context, s *StandIns) (*Reachability, error) {
	pods, err := r.startMeasuringPods(ctx)
	var out *Reachability
	if err == nil {
		out, err = r.measure(ctx, s)
	}
	if stopErr := r.stopMeasuringPods(context.WithoutCancel(ctx), pods); stopErr != nil && err == nil {
		err = fmt.Errorf("deleting the measuring pods: %w", stopErr)
	}
	return out, err
}

// measure reads the stand-ins' reports until the matrix is stable, and compares it.
func (r *rehearsal) measure(ctx context.Context, s *StandIns) (*Reachability, error) {
	r.event(0, "stand-ins dial every peer port; measuring until the matrix is stable")
	deadline := time.Now().Add(measureWithin)
	var last string
	var measured standin.Measured
	same := 0
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(standin.DefaultEvery):
		}
		reports, err := r.standInReports(ctx)
		if err != nil {
			return nil, err
		}
		measured = standin.Measure(reports, 1)
		key := states(measured)
		switch {
		case unresolved(measured):
			// A name that does not resolve says nothing about the policies (every tier may ask the cluster DNS):
			// DNS, or the enforcer's rules for a new pod, is not there yet.
			last, same = "", 0
		case key == last:
			same++
		default:
			last, same = key, 1
		}
		if same >= stableRounds || time.Now().After(deadline) {
			break
		}
	}
	cmp := standin.Compare(s.Predicted, measured, s.Compose)
	out := &Reachability{Comparison: cmp, Notes: s.Notes, Pairs: len(cmp.Rows)}
	for _, row := range cmp.Rows {
		if !row.Disagrees && (row.Measured == standin.Open || row.Measured == standin.Closed) {
			out.Agree++
		}
	}
	r.event(0, fmt.Sprintf("measured %d pairs: %d agree with agops check, %d disagree, %d flaky, %d unmeasured",
		out.Pairs, out.Agree, len(cmp.Disagreements), len(cmp.Flaky), cmp.Unmeasured))
	return out, nil
}

// unresolved reports whether some dial of the reading failed to resolve its name.
func unresolved(m standin.Measured) bool {
	for _, p := range m.Pairs {
		for _, e := range p.Errors {
			if strings.HasPrefix(e, "dns:") {
				return true
			}
		}
	}
	return false
}

// states is the measured matrix's pairs and states, to tell whether two readings agree.
func states(m standin.Measured) string {
	var b strings.Builder
	for _, p := range m.Pairs {
		fmt.Fprintf(&b, "%s %s %s %s\n", p.From, p.To, p.Port, p.State)
	}
	return b.String()
}

// standInReports reads the logs of every running container of the workloads' pods.
func (r *rehearsal) standInReports(ctx context.Context) ([]standin.Report, error) {
	seen := map[string]bool{}
	var all []standin.Report
	for _, u := range r.workloads {
		ns := u.GetNamespace()
		if seen[ns] {
			continue
		}
		seen[ns] = true
		pods, err := r.c.Client().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing pods of %s: %w", ns, err)
		}
		for _, p := range pods.Items {
			if p.Status.Phase != corev1.PodRunning {
				continue
			}
			for _, c := range p.Spec.Containers {
				log, err := r.c.Client().CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: c.Name}).DoRaw(ctx)
				if err != nil {
					return nil, fmt.Errorf("reading the log of %s/%s %s: %w", ns, p.Name, c.Name, err)
				}
				reports, err := standin.ParseLog(bytes.NewReader(log))
				if err != nil {
					r.o.Logger.Warn("stand-in log has bad lines", "pod", p.Name, "container", c.Name, "err", err)
				}
				all = append(all, reports...)
			}
		}
	}
	return all, nil
}

// A Job's stand-in dials once, when the Job runs, which is usually before its peers are up and before the enforcer
// has caught up with its pod: that round measures start-up, not the policies. So, for the measurement, each Job and
// CronJob gets a measuring pod: its pod template (same labels, so the same policies select it) as a bare Pod whose
// stand-ins keep dialing. The Job controller does not adopt it (a Job selects its pods by its own uid), and it is
// deleted once the matrix is read.
const measuringSuffix = "-measure"

// startMeasuringPods creates the measuring pods of the project's Jobs and CronJobs and waits until they run. It
// returns the pods it created, for stopMeasuringPods, even when it fails part way.
func (r *rehearsal) startMeasuringPods(ctx context.Context) ([]*corev1.Pod, error) {
	var created []*corev1.Pod
	for _, u := range r.jobs {
		pod, err := measuringPod(u)
		if err != nil {
			return created, err
		}
		out, err := r.c.Client().CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			return created, fmt.Errorf("creating the measuring pod of %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
		created = append(created, out)
	}
	if len(created) == 0 {
		return nil, nil
	}
	r.event(0, fmt.Sprintf("started %d measuring pods for Jobs (their own stand-ins dial once, at start-up)", len(created)))
	deadline := time.Now().Add(measuringStart)
	for _, p := range created {
		for {
			got, err := r.c.Client().CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
			if err != nil {
				return created, err
			}
			if got.Status.Phase == corev1.PodRunning {
				break
			}
			if got.Status.Phase == corev1.PodFailed || got.Status.Phase == corev1.PodSucceeded || time.Now().After(deadline) {
				return created, fmt.Errorf("measuring pod %s/%s did not start (phase %s)", p.Namespace, p.Name, got.Status.Phase)
			}
			select {
			case <-ctx.Done():
				return created, ctx.Err()
			case <-time.After(time.Second):
			}
		}
	}
	return created, nil
}

// measuringStart bounds the wait for the measuring pods to run.
const measuringStart = 2 * time.Minute

// stopMeasuringPods deletes the measuring pods at once.
func (r *rehearsal) stopMeasuringPods(ctx context.Context, pods []*corev1.Pod) error {
	var errs []error
	for _, p := range pods {
		err := r.c.Client().CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, *metav1.NewDeleteOptions(0))
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// measuringPod is the measuring pod of a Job or CronJob whose containers run stand-ins: its regular containers
// dial in rounds instead of once; its init containers are left as they are.
func measuringPod(u *unstructured.Unstructured) (*corev1.Pod, error) {
	path, _ := kube.PodSpecPath(u.GetKind())
	tmplPath := path[:len(path)-1] // the pod template holding the spec
	raw, found, err := unstructured.NestedMap(u.Object, tmplPath...)
	if err != nil || !found {
		return nil, fmt.Errorf("%s %s/%s has no pod template", u.GetKind(), u.GetNamespace(), u.GetName())
	}
	var tmpl corev1.PodTemplateSpec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &tmpl); err != nil {
		return nil, fmt.Errorf("%s %s/%s: reading its pod template: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	pod := &corev1.Pod{ObjectMeta: tmpl.ObjectMeta, Spec: tmpl.Spec}
	pod.Name, pod.Namespace = u.GetName()+measuringSuffix, u.GetNamespace()
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	for i := range pod.Spec.Containers {
		pod.Spec.Containers[i].Args = standin.InRounds(pod.Spec.Containers[i].Args)
	}
	return pod, nil
}
