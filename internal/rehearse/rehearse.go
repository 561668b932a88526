// Package rehearse proves a migration before the move: it applies the migrated manifests to a real control plane
// with three simulated nodes, waits for every workload, kills one node's host process on purpose, and measures, per
// service, ready replicas before, during and after the failure and how long recovery took, with a verdict that says
// which services have downtime when a host dies and why.
package rehearse

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	"github.com/agops/agops/internal/kube"
	"github.com/agops/agops/internal/kubeclient"
)

// Cluster is what a rehearsal needs of a cluster: a real API server and nodes whose host can be killed.
type Cluster interface {
	RESTConfig() *rest.Config
	Client() kubeclient.Interface
	KillNode(name string) error
	Nodes() []string
}

// Options tune a rehearsal.
type Options struct {
	// Kill is the node whose host dies.
	Kill string
	// KillHostOf, when set, kills instead the node that runs the named workload's first ready pod.
	KillHostOf string
	// Ready bounds the wait for the workloads before the kill; Recover bounds the observation after it.
	Ready, Recover time.Duration
	// Interval is how often the workloads are sampled.
	Interval time.Duration
	Logger   *slog.Logger
	// Progress receives timeline events as they happen (optional).
	Progress func(Event)
	// Traffic measures a client's connections during the kill (nodes that run containers only); HelperImage is
	// the image its client pod runs (`agops traffic`).
	Traffic     bool
	HelperImage string
	// StandIns, when set, says objs run stand-ins (PrepareStandIns): the rehearsal measures the reachability matrix
	// once every workload is ready, before the kill.
	StandIns *StandIns
	// PlaceholderSecrets creates the Secrets the manifests reference and nobody created, with random values
	// (nodes that run containers cannot start pods without them).
	PlaceholderSecrets bool
}

// Event is one line of the timeline.
type Event struct {
	At   time.Duration `json:"at"` // since the kill (negative before it)
	What string        `json:"what"`
}

// Service is the outcome for one workload.
type Service struct {
	Workload   kube.Ref      `json:"workload"`
	Desired    int64         `json:"desired"`
	Before     int64         `json:"before"`   // ready replicas before the kill
	During     int64         `json:"during"`   // fewest ready replicas after the kill
	After      int64         `json:"after"`    // ready replicas at the end
	OnKilled   int           `json:"onKilled"` // pods that ran on the killed node
	Nodes      []string      `json:"nodes"`
	Recovered  time.Duration `json:"recovered"` // when it was back at full strength (0: never went down)
	Downtime   bool          `json:"downtime"`  // ready replicas reached 0 after the kill
	Verdict    string        `json:"verdict"`
	Unschedule string        `json:"unschedulable,omitempty"` // why pods stay Pending, from the scheduler
}

// Report is the result of a rehearsal. Durations are in nanoseconds in its JSON form.
type Report struct {
	Nodes    string    `json:"nodes"` // "real" or "simulated"
	Killed   string    `json:"killed"`
	Timeline []Event   `json:"timeline"`
	Services []Service `json:"services"`
	Traffic  *Traffic  `json:"traffic,omitempty"`
	// Reachability is the measured matrix beside agops check's and Compose's (stand-ins only).
	Reachability *Reachability `json:"reachability,omitempty"`
}

// Run applies objs, waits, kills a node and observes. The caller owns the cluster.
func Run(ctx context.Context, c Cluster, objs []*unstructured.Unstructured, o Options) (Report, error) {
	o = defaults(o, c)
	r := &rehearsal{c: c, o: o, start: time.Now()}
	a, err := kube.NewApplier(c.RESTConfig(), kube.WithLogger(o.Logger))
	if err != nil {
		return Report{}, err
	}
	if _, err := a.Apply(ctx, objs, kube.ApplyOptions{}); err != nil {
		return Report{}, fmt.Errorf("applying to the test bed: %w", err)
	}
	r.event(0, fmt.Sprintf("applied %d objects", len(objs)))
	if o.PlaceholderSecrets {
		n, err := CreatePlaceholderSecrets(ctx, c.Client(), objs)
		if err != nil {
			return Report{}, err
		}
		if n > 0 {
			r.event(0, fmt.Sprintf("created %d Secrets the manifests reference with placeholder values", n))
		}
	}
	r.workloads, r.jobs = workloadsOf(objs), jobsOf(objs)
	before, err := r.settle(ctx)
	if err != nil {
		return Report{}, err
	}
	if o.KillHostOf != "" {
		node, err := hostOf(before, o.KillHostOf)
		if err != nil {
			return Report{}, err
		}
		r.o.Kill = node
	}
	var reachability *Reachability
	if o.StandIns != nil {
		if reachability, err = r.measureWithJobs(ctx, o.StandIns); err != nil {
			return Report{}, fmt.Errorf("measuring reachability: %w", err)
		}
	}
	var run *trafficRun
	if o.Traffic {
		if run, err = r.startTraffic(ctx, before, objs); err != nil {
			return Report{}, err
		}
	}
	if err := c.KillNode(r.o.Kill); err != nil {
		return Report{}, fmt.Errorf("killing %s: %w", r.o.Kill, err)
	}
	r.killed = time.Now()
	r.event(0, "killed the host of "+r.o.Kill)
	rep, err := r.observe(ctx, before)
	rep.Reachability = reachability
	if err != nil || run == nil {
		return rep, err
	}
	if rep.Traffic, err = r.finishTraffic(ctx, run); err != nil {
		return Report{}, fmt.Errorf("measuring traffic: %w", err)
	}
	return rep, nil
}

func refOf(u *unstructured.Unstructured) kube.Ref {
	return kube.Ref{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
}

func fromUnstructured(u *unstructured.Unstructured, out any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out)
}

func resourceQuantity(s string) resource.Quantity { return resource.MustParse(s) }

func defaults(o Options, c Cluster) Options {
	if o.Kill == "" && len(c.Nodes()) > 1 {
		o.Kill = c.Nodes()[1]
	}
	if o.Ready == 0 {
		o.Ready = 3 * time.Minute
	}
	if o.Recover == 0 {
		o.Recover = 3 * time.Minute
	}
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

type rehearsal struct {
	c         Cluster
	o         Options
	start     time.Time
	killed    time.Time
	workloads []*unstructured.Unstructured
	jobs      []*unstructured.Unstructured // Jobs and CronJobs, which workloads leaves out
	timeline  []Event
}

func (r *rehearsal) since() time.Duration {
	if r.killed.IsZero() {
		return 0
	}
	return time.Since(r.killed).Round(time.Second)
}

func (r *rehearsal) event(at time.Duration, what string) {
	e := Event{At: at, What: what}
	r.timeline = append(r.timeline, e)
	if r.o.Progress != nil {
		r.o.Progress(e)
	}
}

func workloadsOf(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range objs {
		switch u.GetKind() {
		case "Deployment", "StatefulSet", "DaemonSet":
			out = append(out, u)
		}
	}
	kube.Sort(out)
	return out
}

func jobsOf(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range objs {
		if u.GetKind() == "Job" || u.GetKind() == "CronJob" {
			out = append(out, u)
		}
	}
	kube.Sort(out)
	return out
}

// snapshot is the state of every workload at one moment.
type snapshot map[kube.Ref]workloadState

type workloadState struct {
	ready, desired int64
	nodes          []string // nodes of its ready pods
	pending        string   // the scheduler's reason for a Pending pod
}

// sample reads the ready pods of every workload and where they run.
func (r *rehearsal) sample(ctx context.Context) (snapshot, error) {
	snap := snapshot{}
	for _, u := range r.workloads {
		ref := kube.Ref{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
		st, err := r.podsOf(ctx, u)
		if err != nil {
			return nil, err
		}
		snap[ref] = st
	}
	return snap, nil
}

func (r *rehearsal) podsOf(ctx context.Context, u *unstructured.Unstructured) (workloadState, error) {
	sel, _, _ := unstructured.NestedStringMap(u.Object, "spec", "selector", "matchLabels")
	pods, err := r.c.Client().CoreV1().Pods(u.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: sel})})
	if err != nil {
		return workloadState{}, fmt.Errorf("listing pods of %s: %w", u.GetName(), err)
	}
	st := workloadState{desired: desired(u)}
	for _, p := range pods.Items {
		// After the kill, a pod on the dead host serves nothing, whatever the API still says about it.
		onDeadHost := !r.killed.IsZero() && p.Spec.NodeName == r.o.Kill
		if p.DeletionTimestamp == nil && podReady(p) && !onDeadHost {
			st.ready++
			st.nodes = append(st.nodes, p.Spec.NodeName)
		}
		if p.Status.Phase == corev1.PodPending {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Message != "" {
					st.pending = c.Message
				}
			}
		}
	}
	sort.Strings(st.nodes)
	return st, nil
}

func desired(u *unstructured.Unstructured) int64 {
	if u.GetKind() == "DaemonSet" {
		return -1 // one per node: judged by the nodes alive
	}
	v, found, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
	if !found {
		return 1
	}
	return v
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// hostOf finds the node of a workload's first ready pod.
func hostOf(snap snapshot, workload string) (string, error) {
	for ref, st := range snap {
		if ref.Name == workload {
			if len(st.nodes) == 0 {
				return "", fmt.Errorf("%s has no ready pod to find its host by", workload)
			}
			return st.nodes[0], nil
		}
	}
	return "", fmt.Errorf("no workload named %s", workload)
}

// settle waits until every workload is ready, or is held back by the scheduler for a reason waiting does not fix,
// or o.Ready has passed; it returns the state then.
func (r *rehearsal) settle(ctx context.Context) (snapshot, error) {
	deadline := time.Now().Add(r.o.Ready)
	for {
		snap, err := r.sample(ctx)
		if err != nil {
			return nil, err
		}
		var waiting, blocked []string
		for ref, st := range snap {
			switch {
			case st.desired >= 0 && st.ready < st.desired && st.pending != "":
				blocked = append(blocked, fmt.Sprintf("%s %s: %s", ref.Kind, ref.Name, st.pending))
			case st.desired >= 0 && st.ready < st.desired:
				waiting = append(waiting, ref.Kind+" "+ref.Name)
			}
		}
		switch {
		case len(waiting) == 0 && len(blocked) == 0:
			r.event(0, "every workload ready")
			return snap, nil
		case len(waiting) == 0 && time.Since(r.start) > 20*time.Second: // transient reasons (unbound claims) pass
			sort.Strings(blocked)
			r.event(0, fmt.Sprintf("every workload ready but %d the scheduler cannot place: %s", len(blocked), strings.Join(blocked, "; ")))
			return snap, nil
		case time.Now().After(deadline):
			sort.Strings(waiting)
			r.event(0, "not ready before the kill: "+strings.Join(append(waiting, blocked...), "; "))
			return snap, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(r.o.Interval):
		}
	}
}
