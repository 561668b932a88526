//go:build tools

// Package testbed pins the binaries of agops's test control plane: the
// Kubernetes control plane, etcd and kwok. internal/testbed builds them.
package testbed

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
