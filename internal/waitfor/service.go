package waitfor

import (
	"context"
	"fmt"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/agops/agops/internal/kubeclient"
)

// Service returns nil once an EndpointSlice of the Service name in namespace lists at least one ready endpoint.
// It reads EndpointSlices only (the Service object itself is never fetched), so a Service that does not exist
// yet simply has no slices and the wait goes on. The wait ends with an error naming the Service when ctx ends.
func Service(ctx context.Context, client kubeclient.Interface, namespace, name string, opts ...Option) error {
	if err := validate("service", namespace, name, validation.IsDNS1035Label); err != nil {
		return err
	}
	o := makeOptions(opts)
	what := fmt.Sprintf("service %q to have a ready endpoint", name)
	slices := client.DiscoveryV1().EndpointSlices(namespace)
	selector := metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name}
	return poll(ctx, o, what, func(ctx context.Context) result {
		list, err := slices.List(ctx, selector)
		if err != nil {
			return result{err: fmt.Errorf("listing endpointslices of service %q: %w", name, err)}
		}
		return serviceResult(list.Items)
	})
}

// serviceResult reports done when any endpoint of slices is ready, and otherwise how many endpoints it saw.
func serviceResult(slices []discoveryv1.EndpointSlice) result {
	if len(slices) == 0 {
		return result{state: "no endpointslice yet"}
	}
	total := 0
	for _, s := range slices {
		for _, e := range s.Endpoints {
			if ready(e.Conditions) {
				return result{done: true}
			}
			total++
		}
	}
	return result{state: fmt.Sprintf("%d endpoint(s), none ready", total)}
}

// ready follows the EndpointConditions API doc: a nil ready condition is to be read as true.
func ready(c discoveryv1.EndpointConditions) bool {
	return c.Ready == nil || *c.Ready
}
