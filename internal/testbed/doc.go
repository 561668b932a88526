// Package testbed owns a real Kubernetes control plane for tests and for
// `agops rehearse`: etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler run as child processes on loopback ports, and one kwok
// process per fake node makes nodes Ready and pods Running without a kubelet
// or a container runtime. A binder stands in for k3s's local-path
// provisioner so claims bind.
//
// Install builds the binaries from the tools module (tools/testbed, embedded
// here as tools.txtar) once per version into a cache; Start runs a cluster;
// StartForTest ties one to a test. See README.md for ports, cache and limits.
package testbed
