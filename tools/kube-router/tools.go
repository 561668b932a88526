//go:build tools

// Package kuberouter pins kube-router, whose network-policy controller (the
// one k3s embeds) enforces NetworkPolicies on agops's real-node test bed.
// internal/testbed builds ./cmd/kube-router-netpol from this module: that
// controller alone, without kube-router's BGP router and IPVS proxy, so that
// it compiles from little more than the Kubernetes client packages the control
// plane shares. It is a test-only component: security flaws are reported
// against v2.1.0, so it is never part of what agops ships.
//
// Only the network-policy controller, as root in the node's network namespace:
//
//	NODE_NAME=<node> kube-router-netpol --kubeconfig=<file> --hostname-override=<node> \
//	  --service-cluster-ip-range=<the apiserver's range> --health-port=20244 --metrics-port=0
//
// It needs iptables, iptables-save, iptables-restore and ipset on PATH, and a
// Node whose status.addresses has an InternalIP (pods are "local" when their
// status.hostIP equals it).
package kuberouter

import (
	_ "github.com/cloudnativelabs/kube-router/v2/pkg/controllers/netpol"
)
