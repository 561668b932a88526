package kube

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// WorkloadState is the rollout state of one workload.
type WorkloadState struct {
	Ref     Ref
	Ready   int64
	Desired int64
	Done    bool
	Failed  bool
	Message string
}

func (s WorkloadState) String() string {
	switch {
	case s.Failed:
		return fmt.Sprintf("%s failed: %s", s.Ref, s.Message)
	case s.Ref.Kind == "Job" && s.Done:
		return fmt.Sprintf("%s complete", s.Ref)
	case s.Ref.Kind == "Job":
		return fmt.Sprintf("%s running", s.Ref)
	case s.Done:
		return fmt.Sprintf("%s ready %d/%d", s.Ref, s.Ready, s.Desired)
	}
	return fmt.Sprintf("%s waiting %d/%d ready", s.Ref, s.Ready, s.Desired)
}

// PollInterval is how often Wait looks at the workloads.
var PollInterval = time.Second

// Wait polls the workloads among objs until every one is ready (Jobs: complete), one fails, or ctx ends. onChange,
// if set, receives all states whenever one of them changes.
func (a *Applier) Wait(ctx context.Context, objs []*unstructured.Unstructured, onChange func([]WorkloadState)) error {
	var workloads []*unstructured.Unstructured
	for _, u := range objs {
		switch u.GetKind() {
		case "Deployment", "StatefulSet", "DaemonSet", "Job":
			workloads = append(workloads, u)
		}
	}
	Sort(workloads)
	var last []WorkloadState
	for {
		states := make([]WorkloadState, len(workloads))
		done := true
		var failed []error
		for i, u := range workloads {
			states[i] = a.state(ctx, u)
			done = done && states[i].Done
			if states[i].Failed {
				failed = append(failed, errors.New(states[i].String()))
			}
		}
		if onChange != nil && changed(last, states) {
			onChange(states)
		}
		last = states
		switch {
		case len(failed) > 0:
			return errors.Join(failed...)
		case done:
			return nil
		}
		select {
		case <-ctx.Done():
			var pending []string
			for _, s := range states {
				if !s.Done {
					pending = append(pending, s.String())
				}
			}
			return fmt.Errorf("waiting for workloads: %w; not ready: %v", ctx.Err(), pending)
		case <-time.After(PollInterval):
		}
	}
}

func changed(a, b []WorkloadState) bool {
	if len(a) != len(b) {
		return true
	}
	for i := range a {
		if a[i] != b[i] {
			return true
		}
	}
	return false
}

// state reads one workload's rollout state from the API server.
func (a *Applier) state(ctx context.Context, u *unstructured.Unstructured) WorkloadState {
	s := WorkloadState{Ref: refOf(u)}
	ri, _, err := a.resource(u)
	if err != nil {
		s.Message = err.Error()
		return s
	}
	live, err := ri.Get(ctx, u.GetName(), metav1.GetOptions{})
	if err != nil {
		s.Message = err.Error()
		return s
	}
	return Rollout(live)
}

// Rollout evaluates the state of a live workload object.
func Rollout(live *unstructured.Unstructured) WorkloadState {
	s := WorkloadState{Ref: refOf(live)}
	num := func(path ...string) int64 {
		v, _, _ := unstructured.NestedInt64(live.Object, path...)
		return v
	}
	gen, observed := live.GetGeneration(), num("status", "observedGeneration")
	switch live.GetKind() {
	case "Deployment":
		s.Desired, s.Ready = replicas(live), num("status", "availableReplicas")
		s.Done = observed >= gen && num("status", "updatedReplicas") >= s.Desired && s.Ready >= s.Desired && num("status", "replicas") == s.Desired
	case "StatefulSet":
		s.Desired, s.Ready = replicas(live), num("status", "readyReplicas")
		cur, _, _ := unstructured.NestedString(live.Object, "status", "currentRevision")
		upd, _, _ := unstructured.NestedString(live.Object, "status", "updateRevision")
		s.Done = observed >= gen && s.Ready >= s.Desired && (upd == "" || cur == upd || num("status", "updatedReplicas") >= s.Desired)
	case "DaemonSet":
		s.Desired, s.Ready = num("status", "desiredNumberScheduled"), num("status", "numberReady")
		s.Done = observed >= gen && s.Ready >= s.Desired && num("status", "updatedNumberScheduled") >= s.Desired
	case "Job":
		s.Desired, s.Ready = 1, num("status", "succeeded")
		conds, _, _ := unstructured.NestedSlice(live.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["status"] != "True" {
				continue
			}
			switch m["type"] {
			case "Complete":
				s.Done = true
			case "Failed":
				s.Failed = true
				s.Message = fmt.Sprint(m["reason"], ": ", m["message"])
			}
		}
	}
	return s
}

func replicas(u *unstructured.Unstructured) int64 {
	v, found, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
	if !found {
		return 1
	}
	return v
}
