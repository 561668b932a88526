package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Delete deletes objs in the reverse of apply order (namespaces last, which takes whatever else they hold with
// them), skipping those already gone, and waits up to within for them to be gone. Every failure is reported; none
// stops the others from being deleted.
func (a *Applier) Delete(ctx context.Context, objs []*unstructured.Unstructured, within time.Duration) error {
	objs = slices.Clone(objs)
	Sort(objs)
	slices.Reverse(objs)
	policy := metav1.DeletePropagationBackground
	var errs []error
	for _, u := range objs {
		ri, _, err := a.resource(u)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = ri.Delete(ctx, u.GetName(), metav1.DeleteOptions{PropagationPolicy: &policy})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting %s: %w", refOf(u), err))
		}
	}
	deadline := time.Now().Add(within)
	for _, u := range objs {
		ri, _, err := a.resource(u)
		if err != nil {
			continue
		}
		for {
			_, err := ri.Get(ctx, u.GetName(), metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				break
			}
			if time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("%s is still there after %s", refOf(u), within))
				break
			}
			select {
			case <-ctx.Done():
				return errors.Join(append(errs, ctx.Err())...)
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	return errors.Join(errs...)
}
