// Package reach evaluates the NetworkPolicies of a set of rendered manifests offline and answers who may talk to
// whom: it owns the model of the cluster's network (New), single verdicts with their reasons (Cluster.Allowed) and
// the reachability matrix (Cluster.Matrix) with its text and JSON forms.
//
// # The model
//
// Endpoints ("peers") are
//   - one per workload: Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob (its job template) and bare Pod,
//     with the labels of its pod template and the ports its regular containers declare (init containers are left
//     out; a port's protocol defaults to TCP). A workload without a namespace lives in "default".
//   - kube-system/kube-dns, always present: labels k8s-app=kube-dns, ports 53/UDP (dns) and 53/TCP (dns-tcp),
//     as CoreDNS declares them.
//   - for each LoadBalancer Service without a loadBalancerClass, the pods of k3s's ServiceLB that forward its
//     outside traffic ("kube-system/svclb-<Service>", kind ServiceLB), unless Options.NoServiceLB: labels
//     svccontroller.k3s.cattle.io/svcname=<Service> and svccontroller.k3s.cattle.io/svcnamespace=<namespace>, the
//     Service's ports. A ServiceLB pod masquerades, so the Service's pods see connections from its address: what
//     reaches a published port from outside is external -> svclb -> workload.
//   - the outside world ("external"): one representative public address, 203.0.113.10 (TEST-NET-3) unless
//     Options.ExternalIP says otherwise. It must lie outside the pod and service CIDRs.
//
// Namespaces are the Namespace objects of the input with their labels plus every namespace a workload or a
// policy lives in; each carries kubernetes.io/metadata.name=<name>, as the API server sets it.
//
// # NetworkPolicy semantics (networking.k8s.io/v1)
//
// A policy selects the pods of its own namespace that match spec.podSelector (empty: all of them). An empty
// spec.policyTypes is defaulted as the API server does: Ingress, plus Egress when spec.egress has rules. A pod is
// isolated for a direction only when some policy of that type selects it. Traffic from src to dst on a port is
// allowed iff src is not egress-isolated or some egress rule of a policy selecting src admits dst on that port,
// AND dst is not ingress-isolated or some ingress rule of a policy selecting dst admits src on that port. The
// outside world is never isolated: policies can only restrict pods.
//
// In a rule an empty from/to admits every peer and an empty ports list every port. A peer is a podSelector (pods of
// the policy's namespace), a namespaceSelector (every pod of the matching namespaces), both (the matching pods of
// the matching namespaces), or an ipBlock (cidr minus except). A port is a number, a number range (endPort) or a
// name, with protocol TCP unless given; a named port, in ingress and egress rules alike, refers to the destination
// pod's container port of that name and protocol, so it never matches traffic to the outside world. Label
// selectors have Kubernetes' own semantics (metav1.LabelSelectorAsSelector): NotIn matches a missing key.
//
// # Choices
//
// An ipBlock matches the outside world when it holds the external address, and matches every pod (workloads,
// ServiceLB, kube-dns) when it holds some address of the pod CIDR (Options.PodCIDR, k3s's 10.42.0.0/16 by
// default) that its excepts do not remove. What an ipBlock means for pod addresses is left to the network plugin
// (the documentation asks for cluster-external ranges); kube-router, k3s's default, and Calico match pod addresses,
// Cilium does not. The matrix follows the plugins that do, since they are the ones an ipBlock can open a path on:
// 0.0.0.0/0 admits every pod of the cluster, 0.0.0.0/0 except the pod CIDR none. Pods' addresses are not known in
// advance, so a block that holds only part of the pod CIDR admits every pod in the matrix, with a warning.
// hostNetwork workloads, which policies do not govern, are treated as ordinary pods, with a warning, and marked
// (Node.HostNetwork): their connections come from their node's address, which reaches the pods on the same node
// whatever the policies say.
//
// # kube-router
//
// With Options.Enforcer set to EnforcerKubeRouter the model reads the policies as kube-router (k3s's enforcer)
// does: it evaluates every policy that selects a pod in one chain for the pod's traffic in both directions, so a
// policy that isolates both directions and selects both ends of a connection also admits it by its egress rules on
// the destination's side and by its ingress rules on the source's side. Crossings lists what that reading opens
// beyond the API's.
//
// The matrix reports, for a destination that declares ports, the declared ports the source may open; for a
// destination without declared ports (and for the outside world) the ports the policies leave open, "any" when
// nothing restricts them. Services are not modelled beyond the ServiceLB pods of LoadBalancer Services: policies see
// pod ports, and traffic through a Service is judged on the pod port it is forwarded to.
package reach
