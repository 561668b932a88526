package testbed

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

const (
	// nodeAnnotation tells which kwok process manages a node: its value is
	// the node's name.
	nodeAnnotation = "kwok.x-k8s.io/node"
	// GPUResource is the extended resource that NodeSpec.GPUs advertises.
	GPUResource corev1.ResourceName = "nvidia.com/gpu"
)

func validateNodes(nodes []NodeSpec) error {
	if len(nodes) == 0 {
		return fmt.Errorf("a testbed cluster needs at least one node")
	}
	seen := map[string]bool{}
	for _, n := range nodes {
		if errs := validation.IsDNS1123Subdomain(n.Name); len(errs) > 0 {
			return fmt.Errorf("node name %q: %v", n.Name, errs)
		}
		if seen[n.Name] {
			return fmt.Errorf("node name %q appears twice", n.Name)
		}
		if n.GPUs < 0 {
			return fmt.Errorf("node %q: negative GPU count %d", n.Name, n.GPUs)
		}
		for name, count := range n.Extended {
			if errs := validation.IsQualifiedName(name); len(errs) > 0 || !strings.Contains(name, "/") || count < 0 {
				return fmt.Errorf("node %q: extended resource %s=%d: want vendor/name=COUNT", n.Name, name, count)
			}
		}
		seen[n.Name] = true
	}
	return nil
}

// nodeObject is the Node a kwok process takes over: 32 CPUs, 256Gi of
// memory, 110 pods, spec.GPUs nvidia.com/gpu and the extended resources, labels and taints of spec.
func nodeObject(spec NodeSpec) *corev1.Node {
	res := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	if spec.GPUs > 0 {
		res[GPUResource] = resource.MustParse(strconv.Itoa(spec.GPUs))
	}
	for name, n := range spec.Extended {
		res[corev1.ResourceName(name)] = *resource.NewQuantity(int64(n), resource.DecimalSI)
	}
	labels := map[string]string{
		corev1.LabelHostname:   spec.Name,
		corev1.LabelOSStable:   "linux",
		corev1.LabelArchStable: "amd64",
		"type":                 "kwok",
	}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        spec.Name,
			Annotations: map[string]string{nodeAnnotation: spec.Name},
			Labels:      labels,
		},
		Spec:   corev1.NodeSpec{Taints: append([]corev1.Taint(nil), spec.Taints...)},
		Status: corev1.NodeStatus{Capacity: res, Allocatable: res.DeepCopy()},
	}
}

// createNodes creates the Node objects and makes sure their status carries
// the capacity (the API server may drop status on create).
func (c *Cluster) createNodes(ctx context.Context) error {
	nodes := c.client.CoreV1().Nodes()
	for i, spec := range c.nodes {
		want := nodeObject(spec)
		if c.realNodes {
			want = realNodeObject(spec, i)
		}
		got, err := nodes.Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			got, err = nodes.Get(ctx, spec.Name, metav1.GetOptions{})
		}
		if err != nil {
			return fmt.Errorf("creating node %s: %w", spec.Name, err)
		}
		if len(got.Status.Allocatable) == 0 && !c.realNodes { // a kubelet reports a real node's capacity
			got.Status.Capacity, got.Status.Allocatable = want.Status.Capacity, want.Status.Allocatable
			if _, err := nodes.UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("setting capacity of node %s: %w", spec.Name, err)
			}
		}
	}
	return nil
}

// nodesReady reports whether every node is Ready and carries only the taints its spec gives it (none of those the
// node lifecycle controller puts on nodes that are not ready).
func (c *Cluster) nodesReady(ctx context.Context) (bool, error) {
	list, err := c.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, nil // the API server may still be settling
	}
	nodes := map[string]*corev1.Node{}
	for i := range list.Items {
		nodes[list.Items[i].Name] = &list.Items[i]
	}
	for _, spec := range c.nodes {
		n := nodes[spec.Name]
		if n == nil || !NodeReady(n) || len(n.Spec.Taints) != len(spec.Taints) {
			return false, nil // missing, not ready, or still carrying a not-ready taint besides its own
		}
	}
	return true, nil
}

// NodeReady reports whether n's Ready condition is True.
func NodeReady(n *corev1.Node) bool {
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}
