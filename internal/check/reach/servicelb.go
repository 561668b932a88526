package reach

import (
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// What k3s's ServiceLB puts on the pods that serve a LoadBalancer Service (k3s pkg/cloudprovider/servicelb.go):
// one DaemonSet per Service in kube-system, its pods labelled with the Service's name and namespace, one container
// per Service port declaring that port (named lb-<protocol>-<port>, also bound on the node as a hostPort).
const (
	serviceLBNamespace = "kube-system"
	serviceLBKind      = "ServiceLB"
	serviceLBNameLabel = "svccontroller.k3s.cattle.io/svcname"
	serviceLBNSLabel   = "svccontroller.k3s.cattle.io/svcnamespace"
)

// addService adds the ServiceLB pods of a LoadBalancer Service: they are what forwards outside traffic to its
// pods, from their own addresses (externalTrafficPolicy Cluster: they masquerade). Services of other types, those
// with a loadBalancerClass (ServiceLB leaves them to their controller) and every Service under Options.NoServiceLB
// add nothing.
func (c *Cluster) addService(u *unstructured.Unstructured) error {
	var svc corev1.Service
	if err := convert(u, &svc); err != nil {
		return err
	}
	if svc.Name == "" {
		return errors.New("no metadata.name")
	}
	if c.noServiceLB || svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Spec.LoadBalancerClass != nil {
		return nil
	}
	p := Peer{
		Namespace: serviceLBNamespace, Name: "svclb-" + svc.Name, Kind: serviceLBKind,
		Labels: map[string]string{serviceLBNameLabel: svc.Name, serviceLBNSLabel: namespaceOf(svc.Namespace)},
	}
	seen := map[Port]bool{}
	for i, sp := range svc.Spec.Ports {
		port := Port{Port: sp.Port, Protocol: string(sp.Protocol)}
		if port.Protocol == "" {
			port.Protocol = string(corev1.ProtocolTCP)
		}
		if port.Port < 1 || port.Port > 65535 || !validProtocol(port.Protocol) {
			return fmt.Errorf("spec.ports[%d]: invalid port %d/%s", i, port.Port, port.Protocol)
		}
		port.Name = fmt.Sprintf("lb-%s-%d", strings.ToLower(port.Protocol), port.Port)
		if !seen[port] {
			seen[port] = true
			p.Ports = append(p.Ports, port)
		}
	}
	sortPorts(p.Ports)
	c.peers = append(c.peers, p)
	return nil
}

// nameServiceLBs names ServiceLB peers svclb-<Service>, adding the Service's namespace to those whose name two
// namespaces share.
func (c *Cluster) nameServiceLBs() {
	count := map[string]int{}
	for _, p := range c.peers {
		if p.Kind == serviceLBKind {
			count[p.Name]++
		}
	}
	for i, p := range c.peers {
		if p.Kind == serviceLBKind && count[p.Name] > 1 {
			c.peers[i].Name = p.Name + "." + p.Labels[serviceLBNSLabel]
		}
	}
}
