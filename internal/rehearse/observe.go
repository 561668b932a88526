package rehearse

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agops/agops/internal/kube"
)

// track follows one workload after the kill.
type track struct {
	ref        kube.Ref
	before     workloadState
	min, last  int64
	downAt     time.Duration // when it first fell below full strength (-1: never)
	upAt       time.Duration // when it was back at full strength after falling (-1: not yet)
	pending    string
	killedNode string
}

// observe samples the workloads after the kill until every one is back at full strength or time runs out.
func (r *rehearsal) observe(ctx context.Context, before snapshot) (Report, error) {
	tracks := map[kube.Ref]*track{}
	for ref, st := range before {
		tracks[ref] = &track{ref: ref, before: st, min: st.ready, last: st.ready, downAt: -1, upAt: -1, killedNode: r.o.Kill}
	}
	deadline := time.Now().Add(r.o.Recover)
	nodeDown := false
	var nodeDownAt time.Duration
	for time.Now().Before(deadline) {
		if !nodeDown && r.nodeNotReady(ctx) {
			nodeDown, nodeDownAt = true, r.since()
			r.event(r.since(), r.o.Kill+" is NotReady")
		}
		snap, err := r.sample(ctx)
		if err != nil {
			return Report{}, err
		}
		allFull, settled := true, true
		for ref, st := range snap {
			t := tracks[ref]
			r.follow(t, st)
			allFull = allFull && r.full(t, st)
			settled = settled && (r.full(t, st) || stuck(t))
		}
		if allFull && nodeDown {
			r.event(r.since(), "every workload back at full strength")
			break
		}
		// Pods leave a NotReady node after their toleration (30 s in the ha overlay); once that has passed, what is
		// still down for a reason that time does not fix is reported as it is.
		if nodeDown && settled && r.since() > nodeDownAt+settleAfter {
			r.event(r.since(), "every other workload back at full strength; the rest cannot recover on their own")
			break
		}
		select {
		case <-ctx.Done():
			return Report{}, ctx.Err()
		case <-time.After(r.o.Interval):
		}
	}
	return r.report(tracks), nil
}

// target is the ready count a workload needs to be at full strength.
func (r *rehearsal) target(t *track) int64 {
	if t.before.desired < 0 { // DaemonSet: one per node that is still alive
		return int64(len(r.c.Nodes()) - 1)
	}
	return t.before.desired
}

func (r *rehearsal) full(t *track, st workloadState) bool { return st.ready >= r.target(t) }

func (r *rehearsal) follow(t *track, st workloadState) {
	now := r.since()
	if st.ready < t.min {
		t.min = st.ready
	}
	if st.ready != t.last {
		r.event(now, fmt.Sprintf("%s %s: %d ready", t.ref.Kind, t.ref.Name, st.ready))
	}
	t.last = st.ready
	t.pending = st.pending
	switch {
	case !r.full(t, st) && t.downAt < 0:
		t.downAt = now
	case r.full(t, st) && t.downAt >= 0 && t.upAt < 0:
		t.upAt = now
	}
}

func (r *rehearsal) nodeNotReady(ctx context.Context) bool {
	n, err := r.c.Client().CoreV1().Nodes().Get(ctx, r.o.Kill, metav1.GetOptions{})
	if err != nil {
		return false
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status != corev1.ConditionTrue
		}
	}
	return false
}

func (r *rehearsal) report(tracks map[kube.Ref]*track) Report {
	rep := Report{Killed: r.o.Kill, Timeline: r.timeline}
	for _, u := range r.workloads {
		ref := kube.Ref{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
		t := tracks[ref]
		s := Service{Workload: ref, Desired: r.target(t), Before: t.before.ready, During: t.min, After: t.last, Nodes: t.before.nodes, Unschedule: t.pending}
		for _, n := range t.before.nodes {
			if n == r.o.Kill {
				s.OnKilled++
			}
		}
		if t.upAt >= 0 {
			s.Recovered = t.upAt
		}
		s.Downtime = s.Desired > 0 && s.During == 0
		s.Verdict = verdict(s, ref.Kind)
		rep.Services = append(rep.Services, s)
	}
	return rep
}

// verdict says in one line what a host failure does to the service, and why.
func verdict(s Service, kind string) string {
	switch {
	case s.Desired == 0:
		return "scaled to zero"
	case s.Before < s.Desired && s.Unschedule != "":
		return "never fully ready: " + s.Unschedule
	case s.Before < s.Desired:
		return "never fully ready before the kill"
	case s.OnKilled == 0 && s.During >= s.Desired:
		return "unaffected: no replica on the killed node"
	case !s.Downtime && s.After >= s.Desired:
		return fmt.Sprintf("no downtime: replicas on other nodes kept serving; back to %d/%d after %s", s.After, s.Desired, s.Recovered)
	case s.Downtime && s.After >= s.Desired:
		return fmt.Sprintf("DOWNTIME: %s; restarted elsewhere after %s", why(s), s.Recovered)
	case kind == "StatefulSet":
		return fmt.Sprintf("DOWN: %s; a StatefulSet pod on a dead node is not replaced until the node returns or the pod is force-deleted (its ReadWriteOnce volume stays with it)", why(s))
	case s.Unschedule != "":
		return fmt.Sprintf("DOWN: %s; cannot be rescheduled: %s", why(s), s.Unschedule)
	case kind == "DaemonSet":
		return "one per node: the copy on the killed node is gone with it"
	}
	return fmt.Sprintf("DOWN: %s; not back within the observation", why(s))
}

func why(s Service) string {
	switch {
	case s.Desired == 1:
		return "single replica on the killed node"
	case s.OnKilled == len(s.Nodes):
		return "all replicas were on the killed node (missing spread)"
	}
	return fmt.Sprintf("%d of %d replicas were on the killed node", s.OnKilled, len(s.Nodes))
}

// settleAfter is how long after the node turns NotReady a rehearsal keeps watching workloads that cannot recover.
const settleAfter = 60 * time.Second

// stuck tells whether a workload cannot get back to full strength by waiting: a StatefulSet whose pod was on the
// dead node, or pods the scheduler cannot place.
func stuck(t *track) bool {
	onDead := false
	for _, n := range t.before.nodes {
		onDead = onDead || n == t.killedNode
	}
	return (t.ref.Kind == "StatefulSet" && onDead) || t.pending != ""
}
