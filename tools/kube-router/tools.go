//go:build tools

// Package kuberouter pins kube-router, whose network-policy controller (the
// one k3s embeds) enforces NetworkPolicies on agops's real-node test bed.
// internal/testbed builds github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
// from this module. It is a test-only component: security flaws are reported
// against v2.1.0, so it is never part of what agops ships.
//
// Build with the version stamped (it prints an empty version otherwise):
//
//	-ldflags "-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=v2.1.0
//	  -X github.com/cloudnativelabs/kube-router/v2/pkg/version.BuildDate=2024-03-02T21:45:54Z"
//
// Only the network-policy controller, as root in the node's network namespace:
//
//	NODE_NAME=<node> kube-router --kubeconfig=<file> --hostname-override=<node> \
//	  --run-firewall=true --run-router=false --run-service-proxy=false \
//	  --service-cluster-ip-range=<the apiserver's range> --health-port=20244 --metrics-port=0
//
// It needs iptables, iptables-save, iptables-restore and ipset on PATH, and a
// Node whose status.addresses has an InternalIP (pods are "local" when their
// status.hostIP equals it).
package kuberouter

import (
	_ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
)
