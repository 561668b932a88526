//go:build tools

// Package nodes pins the binaries of agops's real test nodes: the kubelet and
// kube-proxy of the same Kubernetes release as the test control plane
// (tools/testbed). internal/testbed builds them.
package nodes

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
