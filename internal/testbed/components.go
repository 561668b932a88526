package testbed

import (
	"fmt"
	"strconv"
)

// The command lines of the control plane. Every listener is on 127.0.0.1.

func etcdArgs(p paths, pt ports) []string {
	client, peer := "http://"+loopback(pt.etcdClient), "http://"+loopback(pt.etcdPeer)
	return []string{
		"--name=testbed",
		"--data-dir=" + p.etcdData,
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=testbed=" + peer,
		"--unsafe-no-fsync", // a throwaway cluster: speed over durability
		"--log-level=warn",
	}
}

// apiServerArgs: on loopback for simulated nodes; on the test network's bridge (address) for real nodes, whose
// kubelets and pods must reach it, and which then keep the kubernetes Service's endpoints themselves.
func apiServerArgs(p paths, pt ports, address string) []string {
	reconciler := "--endpoint-reconciler-type=none" // loopback is not a valid endpoint address
	services := "10.96.0.0/16"
	if address != "127.0.0.1" {
		reconciler, services = "--endpoint-reconciler-type=lease", serviceCIDR
	}
	return []string{
		"--etcd-servers=http://" + loopback(pt.etcdClient),
		"--bind-address=" + address,
		"--advertise-address=" + address,
		"--secure-port=" + strconv.Itoa(pt.apiServer),
		reconciler,
		"--kubelet-preferred-address-types=InternalIP",
		"--authorization-mode=Node,RBAC",
		"--token-auth-file=" + p.tokens,
		"--service-account-key-file=" + p.saKey,
		"--service-account-signing-key-file=" + p.saKey,
		"--service-account-issuer=" + serviceAccountIssuer,
		"--cert-dir=" + p.certDir,
		"--enable-admission-plugins=NodeRestriction,PodSecurity",
		"--service-cluster-ip-range=" + services,
		"--allow-privileged=true",
	}
}

// componentArgs are the flags kube-controller-manager and kube-scheduler share.
func componentArgs(p paths, port int) []string {
	return []string{
		"--kubeconfig=" + p.kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port), // other processes may hold the defaults
		"--leader-elect=false",
	}
}

func controllerManagerArgs(p paths, pt ports) []string {
	return append(componentArgs(p, pt.controllerManager),
		"--controllers=*,-nodeipam",
		"--root-ca-file="+p.rootCA(),
		"--service-account-private-key-file="+p.saKey,
		"--use-service-account-credentials",
		// A node whose kwok is gone is NotReady within about 20s.
		"--node-monitor-grace-period=20s",
		"--node-monitor-period=2s",
	)
}

func schedulerArgs(p paths, pt ports) []string {
	return componentArgs(p, pt.scheduler)
}

// kwokArgs run one kwok that manages exactly one node, the i-th.
func kwokArgs(p paths, pt ports, i int, node string) []string {
	return []string{
		"--kubeconfig=" + p.kubeconfig,
		"--config=" + p.kwokConfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + nodeAnnotation + "=" + node,
		"--server-address=" + loopback(pt.kwok[i]),
		"--node-ip=127.0.0.1",
		"--node-port=" + strconv.Itoa(pt.kwok[i]),
		// Renew the node's lease every 10s (a quarter of it). Without a
		// KwokConfiguration in --config, kwok keeps no lease at all, and the
		// node flaps NotReady every grace period.
		"--node-lease-duration-seconds=40",
		fmt.Sprintf("--cidr=10.244.%d.1/24", i%256),
	}
}
