package rehearse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

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
	stableRounds = 3
	// stableRoundsMissing is how many agreeing readings it takes while some pair is not measured at all.
	stableRoundsMissing = 10
	measureWithin       = 2 * time.Minute
)

// MeasureStandIns measures the reachability matrix of objs, which run stand-ins (PrepareStandIns) and are already
// applied to c with every workload ready, and compares it with s: what a rehearsal with stand-ins does before the
// kill. o.Logger and o.Progress are used.
func MeasureStandIns(ctx context.Context, c Cluster, objs []*unstructured.Unstructured, s *StandIns, o Options) (*Reachability, error) {
	r := &rehearsal{c: c, o: defaults(o, c), start: time.Now(), workloads: workloadsOf(objs), jobs: jobsOf(objs)}
	return r.measureWithJobs(ctx, s)
}

// measureWithJobs measures with the measuring pods running (startMeasuringPods), and deletes them afterwards.
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
		// A pair nobody measured yet may be one whose other end has only just become ready (a measuring pod):
		// such a reading settles only after longer.
		missing := standin.Compare(s.Predicted, measured, s.Compose).Unmeasured
		if (same >= stableRounds && missing == 0) || same >= stableRoundsMissing || time.Now().After(deadline) {
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

// reportTail is how many of a container's last log lines are read for its stand-in's last report: a stand-in writes
// one line a round, and its logger may write a few more. Reading whole logs every round grew with the rehearsal.
const reportTail = 20

// standInReports reads the ends of the logs of every running container of the workloads' pods.
func (r *rehearsal) standInReports(ctx context.Context) ([]standin.Report, error) {
	seen := map[string]bool{}
	var all []standin.Report
	for _, u := range append(slices.Clone(r.workloads), r.jobs...) { // a namespace may hold Jobs only
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
				tail := int64(reportTail)
				log, err := r.c.Client().CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: c.Name, TailLines: &tail}).DoRaw(ctx)
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
// stand-ins keep dialing, and one more when it declares ports, so that its pairs with itself have two ends. The Job
// controller does not adopt them (a Job selects its pods by its own uid), and they are deleted once the matrix is
// read.
//
// A workload of one replica cannot measure whether its replicas reach each other: its one pod dialing its own
// Service comes back to itself, which every enforcer lets through. So each Deployment and StatefulSet of one
// replica whose containers are all stand-ins gets a measuring pod too, a second replica for the time of the
// measurement: the same template, with its claims replaced by empty directories, no host ports and no extended
// resources (a second GPU may not exist), owned by a ConfigMap (measuringOwner) so that no ReplicaSet adopts it.
const measuringSuffix = "-measure"

// measuringOwner names the ConfigMap that owns the measuring pods of workloads in a namespace.
const measuringOwner = "agops-measuring"

// startMeasuringPods creates the measuring pods of the project's Jobs, CronJobs and single-replica workloads and
// waits until they are ready. A workload's measuring pod that does not start is deleted again, and its pairs with itself
// stay unmeasured; a Job's is an error. It returns what it created, for stopMeasuringPods, even when it fails part
// way.
func (r *rehearsal) startMeasuringPods(ctx context.Context) (measuringPods, error) {
	var created measuringPods
	var plan []measuring
	var jobs, replicas int
	for _, u := range append(slices.Clone(r.jobs), r.workloads...) {
		job := u.GetKind() == "Job" || u.GetKind() == "CronJob"
		if !job && !secondReplica(u) {
			continue
		}
		pod, err := measuringPod(u)
		if err != nil {
			return created, err
		}
		if !job {
			owner, err := r.measuringOwner(ctx, &created, pod.Namespace)
			if err != nil {
				return created, err
			}
			asReplica(pod, owner)
		}
		plan = append(plan, measuring{pod: pod, job: job})
		if job && listens(pod) {
			// Its own pods have finished: a second measuring pod is the other end of its pairs with itself.
			second := pod.DeepCopy()
			second.Name += "-2"
			plan = append(plan, measuring{pod: second, job: true})
		}
	}
	if err := r.raiseQuotas(ctx, &created, plan); err != nil {
		return created, err
	}
	for _, m := range plan {
		out, err := r.c.Client().CoreV1().Pods(m.pod.Namespace).Create(ctx, m.pod, metav1.CreateOptions{})
		if err != nil {
			return created, fmt.Errorf("creating measuring pod %s/%s: %w", m.pod.Namespace, m.pod.Name, err)
		}
		m.pod = out
		created.pods = append(created.pods, m)
		if m.job {
			jobs++
		} else {
			replicas++
		}
	}
	if len(created.pods) == 0 {
		return created, nil
	}
	r.event(0, fmt.Sprintf("started %d measuring pods: %d for Jobs (their own stand-ins dial once, at start-up), %d as a second replica of workloads of one", len(created.pods), jobs, replicas))
	deadline := time.Now().Add(measuringStart)
	for i, p := range created.pods {
		for {
			got, err := r.c.Client().CoreV1().Pods(p.pod.Namespace).Get(ctx, p.pod.Name, metav1.GetOptions{})
			if err != nil {
				return created, err
			}
			// Ready, not only running: it is one end of its workload's pairs once its Services lead to it.
			if got.Status.Phase == corev1.PodRunning && podReady(*got) {
				break
			}
			if got.Status.Phase == corev1.PodFailed || got.Status.Phase == corev1.PodSucceeded || time.Now().After(deadline) {
				why := fmt.Sprintf("measuring pod %s/%s did not start (phase %s)", p.pod.Namespace, p.pod.Name, got.Status.Phase)
				if p.job {
					return created, errors.New(why)
				}
				r.event(0, why+": its workload's pairs with itself stay unmeasured")
				if err := r.deletePod(ctx, p.pod); err != nil {
					return created, err
				}
				created.pods[i].gone = true
				break
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

// listens tells whether a container of p declares a port.
func listens(p *corev1.Pod) bool {
	return slices.ContainsFunc(p.Spec.Containers, func(c corev1.Container) bool { return len(c.Ports) > 0 })
}

// measuringPods is what startMeasuringPods created, and the ResourceQuotas it raised, as they were.
type measuringPods struct {
	pods   []measuring
	owners []*corev1.ConfigMap
	quotas []*corev1.ResourceQuota
}

// quotaRaised lists the quota entries a measuring pod counts against: in what of the pod ("pod", "requests",
// "limits") and under which resource name.
var quotaRaised = map[corev1.ResourceName]struct {
	in   string
	name corev1.ResourceName
}{
	corev1.ResourcePods: {"pod", corev1.ResourcePods}, "count/pods": {"pod", corev1.ResourcePods},
	corev1.ResourceCPU: {"requests", corev1.ResourceCPU}, corev1.ResourceRequestsCPU: {"requests", corev1.ResourceCPU},
	corev1.ResourceMemory: {"requests", corev1.ResourceMemory}, corev1.ResourceRequestsMemory: {"requests", corev1.ResourceMemory},
	corev1.ResourceEphemeralStorage:         {"requests", corev1.ResourceEphemeralStorage},
	corev1.ResourceRequestsEphemeralStorage: {"requests", corev1.ResourceEphemeralStorage},
	corev1.ResourceLimitsCPU:                {"limits", corev1.ResourceCPU},
	corev1.ResourceLimitsMemory:             {"limits", corev1.ResourceMemory},
	corev1.ResourceLimitsEphemeralStorage:   {"limits", corev1.ResourceEphemeralStorage},
}

// raiseQuotas raises, for the time of the measurement, the ResourceQuotas of the namespaces the measuring pods of
// plan go to by what those pods count against them (a project's quota leaves little room beyond its own pods),
// and waits until the quota controller has taken the new limits. The quotas as they were go to created, for
// stopMeasuringPods to put back.
func (r *rehearsal) raiseQuotas(ctx context.Context, created *measuringPods, plan []measuring) error {
	need := map[string]map[string]corev1.ResourceList{} // namespace, then "pod", "requests", "limits"
	for _, m := range plan {
		u := need[m.pod.Namespace]
		if u == nil {
			u = map[string]corev1.ResourceList{"pod": {}, "requests": {}, "limits": {}}
			need[m.pod.Namespace] = u
		}
		add(u["pod"], corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1")})
		for _, c := range append(slices.Clone(m.pod.Spec.InitContainers), m.pod.Spec.Containers...) {
			add(u["requests"], c.Resources.Requests)
			add(u["limits"], c.Resources.Limits)
		}
	}
	for _, ns := range slices.Sorted(maps.Keys(need)) {
		u := need[ns]
		quotas, err := r.c.Client().CoreV1().ResourceQuotas(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("listing the ResourceQuotas of %s: %w", ns, err)
		}
		for i := range quotas.Items {
			q := &quotas.Items[i]
			raise := func(hard corev1.ResourceList) (corev1.ResourceList, bool) {
				out, changed := hard.DeepCopy(), false
				for name, have := range out {
					if by, ok := quotaRaised[name]; ok {
						if more := u[by.in][by.name]; !more.IsZero() {
							have.Add(more)
							out[name], changed = have, true
						}
					}
				}
				return out, changed
			}
			if _, changed := raise(q.Spec.Hard); !changed {
				continue
			}
			// The quota controller writes the quota's status all the while: an update may conflict, and is
			// made again on the quota as it is then.
			var out *corev1.ResourceQuota
			err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
				got, err := r.c.Client().CoreV1().ResourceQuotas(ns).Get(ctx, q.Name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				q = got.DeepCopy()
				got.Spec.Hard, _ = raise(got.Spec.Hard)
				out, err = r.c.Client().CoreV1().ResourceQuotas(ns).Update(ctx, got, metav1.UpdateOptions{})
				return err
			})
			if err != nil {
				return fmt.Errorf("raising ResourceQuota %s/%s for the measuring pods: %w", ns, q.Name, err)
			}
			created.quotas = append(created.quotas, q)
			if err := r.waitQuota(ctx, out); err != nil {
				return err
			}
			r.event(0, fmt.Sprintf("raised ResourceQuota %s/%s by what the measuring pods need, until they are gone", ns, q.Name))
		}
	}
	return nil
}

func add(sum, l corev1.ResourceList) {
	for name, q := range l {
		have := sum[name]
		have.Add(q)
		sum[name] = have
	}
}

// waitQuota waits until the quota controller has copied q's limits to its status, which admission reads.
func (r *rehearsal) waitQuota(ctx context.Context, q *corev1.ResourceQuota) error {
	deadline := time.Now().Add(measuringStart)
	for {
		got, err := r.c.Client().CoreV1().ResourceQuotas(q.Namespace).Get(ctx, q.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		synced := true
		for name, hard := range q.Spec.Hard {
			if have, ok := got.Status.Hard[name]; !ok || have.Cmp(hard) != 0 {
				synced = false
			}
		}
		if synced {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ResourceQuota %s/%s: the quota controller did not take its raised limits", q.Namespace, q.Name)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// restoreQuotas puts the quotas back as they were.
func (r *rehearsal) restoreQuotas(ctx context.Context, quotas []*corev1.ResourceQuota) error {
	var errs []error
	for _, q := range quotas {
		err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
			got, err := r.c.Client().CoreV1().ResourceQuotas(q.Namespace).Get(ctx, q.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			got.Spec.Hard = q.Spec.Hard
			_, err = r.c.Client().CoreV1().ResourceQuotas(q.Namespace).Update(ctx, got, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("putting ResourceQuota %s/%s back: %w", q.Namespace, q.Name, err))
		}
	}
	return errors.Join(errs...)
}

type measuring struct {
	pod  *corev1.Pod
	job  bool // a Job's or CronJob's, not a workload's second replica
	gone bool // deleted already
}

// measuringOwner returns the ConfigMap owning the measuring pods of namespace ns, creating it the first time.
func (r *rehearsal) measuringOwner(ctx context.Context, created *measuringPods, ns string) (*corev1.ConfigMap, error) {
	for _, o := range created.owners {
		if o.Namespace == ns {
			return o, nil
		}
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: measuringOwner, Namespace: ns,
		Labels: map[string]string{"app.kubernetes.io/managed-by": "agops"}},
		Data: map[string]string{"why": "owns the measuring pods of an agops rehearsal, so that no controller adopts them"}}
	out, err := r.c.Client().CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating ConfigMap %s/%s for the measuring pods: %w", ns, measuringOwner, err)
	}
	created.owners = append(created.owners, out)
	return out, nil
}

// measuringStart bounds the wait for the measuring pods to run.
const measuringStart = 2 * time.Minute

// stopMeasuringPods deletes the measuring pods at once, and their owners.
func (r *rehearsal) stopMeasuringPods(ctx context.Context, m measuringPods) error {
	var errs []error
	for _, p := range m.pods {
		if !p.gone {
			errs = append(errs, r.deletePod(ctx, p.pod))
		}
	}
	for _, o := range m.owners {
		err := r.c.Client().CoreV1().ConfigMaps(o.Namespace).Delete(ctx, o.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, r.restoreQuotas(ctx, m.quotas))
	return errors.Join(errs...)
}

func (r *rehearsal) deletePod(ctx context.Context, p *corev1.Pod) error {
	err := r.c.Client().CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, *metav1.NewDeleteOptions(0))
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// secondReplica tells whether u is a Deployment or StatefulSet of one replica whose regular containers all run
// stand-ins, on the pod network: one that gets a measuring pod as a second replica.
func secondReplica(u *unstructured.Unstructured) bool {
	if k := u.GetKind(); k != "Deployment" && k != "StatefulSet" {
		return false
	}
	if n, found, _ := unstructured.NestedInt64(u.Object, "spec", "replicas"); found && n != 1 {
		return false
	}
	if host, _, _ := unstructured.NestedBool(u.Object, "spec", "template", "spec", "hostNetwork"); host {
		return false
	}
	cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
	for _, c := range cs {
		args, _, _ := unstructured.NestedStringSlice(c.(map[string]any), "args")
		if len(args) == 0 || args[0] != standin.Verb {
			return false
		}
	}
	return len(cs) > 0
}

// asReplica makes a workload's measuring pod a second replica that can run beside the first: owned by owner (a
// controller reference, so that no ReplicaSet adopts it), its volume claims (the template's and a StatefulSet's
// claim templates) replaced by empty directories, and without host ports or extended resources.
func asReplica(p *corev1.Pod, owner *corev1.ConfigMap) {
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID, Controller: ptr.To(true)}}
	have := map[string]bool{}
	for i := range p.Spec.Volumes {
		v := &p.Spec.Volumes[i]
		have[v.Name] = true
		if v.PersistentVolumeClaim != nil || v.Ephemeral != nil {
			v.VolumeSource = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
		}
	}
	for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range cs {
			c := &cs[i]
			for _, m := range c.VolumeMounts {
				if !have[m.Name] {
					// A StatefulSet's claim template.
					have[m.Name] = true
					p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: m.Name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
				}
			}
			for j := range c.Ports {
				c.Ports[j].HostPort, c.Ports[j].HostIP = 0, ""
			}
			c.Resources.Requests = baseResources(c.Resources.Requests)
			c.Resources.Limits = baseResources(c.Resources.Limits)
		}
	}
}

// baseResources is l without extended resources.
func baseResources(l corev1.ResourceList) corev1.ResourceList {
	if l == nil {
		return nil
	}
	out := corev1.ResourceList{}
	for name, q := range l {
		switch name {
		case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
			out[name] = q
		}
	}
	return out
}

// measuringPod is the measuring pod of a workload whose containers run stand-ins: its pod template as a bare pod
// whose regular containers dial in rounds (a Job's dial once otherwise); its init containers are left as they are.
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
