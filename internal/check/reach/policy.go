package reach

import (
	"errors"
	"fmt"
	"net/netip"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// direction is the side of a connection a policy type governs: ingress for the destination, egress for the source.
type direction int

const (
	ingress direction = iota
	egress
)

func (d direction) opposite() direction { return 1 - d }

func (d direction) String() string {
	if d == ingress {
		return "ingress"
	}
	return "egress"
}

// policy is a NetworkPolicy compiled for evaluation, with its policy types already defaulted.
type policy struct {
	namespace, name string
	pods            labels.Selector
	types           [2]bool    // indexed by direction
	rules           [2][]*rule // indexed by direction
}

func (p *policy) id() string { return p.namespace + "/" + p.name }

// rule is one ingress or egress rule: peers nil admits every peer, ports nil every port.
type rule struct {
	peers []peerSel
	ports []portSel
}

// peerSel is one NetworkPolicyPeer. For a selector peer, pods nil means every pod and namespaces nil the
// policy's own namespace. For an ipBlock only what it admits of the model's addresses is kept: the outside world's
// address, and pod addresses (see the package documentation).
type peerSel struct {
	pods, namespaces labels.Selector
	ipBlock          bool
	external         bool // the ipBlock contains the external address and none of its excepts does
	podAddrs         bool // the ipBlock, less its excepts, holds some address of the pod CIDR
}

// portSel is one NetworkPolicyPort: a named port, a range lo..hi (lo == hi for one port), or every port of the
// protocol when lo is 0.
type portSel struct {
	protocol string
	name     string
	lo, hi   int32
}

// addPolicy compiles a NetworkPolicy, reporting every invalid field it finds.
func (c *Cluster) addPolicy(u *unstructured.Unstructured) error {
	var np networkingv1.NetworkPolicy
	if err := convert(u, &np); err != nil {
		return err
	}
	if np.Name == "" {
		return errors.New("no metadata.name")
	}
	pc := policyCompiler{c: c, p: &policy{namespace: namespaceOf(np.Namespace), name: np.Name}}
	pc.p.pods = pc.selector("spec.podSelector", &np.Spec.PodSelector)
	pc.types(np.Spec)
	for i, r := range np.Spec.Ingress {
		pc.rule(ingress, fmt.Sprintf("spec.ingress[%d]", i), "from", r.From, r.Ports)
	}
	for i, r := range np.Spec.Egress {
		pc.rule(egress, fmt.Sprintf("spec.egress[%d]", i), "to", r.To, r.Ports)
	}
	if len(pc.errs) > 0 {
		return errors.Join(pc.errs...)
	}
	c.policies = append(c.policies, pc.p)
	return nil
}

// policyCompiler collects a policy's errors so that all of them are reported at once.
type policyCompiler struct {
	c    *Cluster
	p    *policy
	errs []error
}

func (pc *policyCompiler) fail(field, format string, args ...any) {
	pc.errs = append(pc.errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
}

// types applies the API server's defaulting: no policyTypes means Ingress, plus Egress when there are egress rules.
func (pc *policyCompiler) types(spec networkingv1.NetworkPolicySpec) {
	if len(spec.PolicyTypes) == 0 {
		pc.p.types[ingress] = true
		pc.p.types[egress] = len(spec.Egress) > 0
		return
	}
	for i, t := range spec.PolicyTypes {
		switch t {
		case networkingv1.PolicyTypeIngress:
			pc.p.types[ingress] = true
		case networkingv1.PolicyTypeEgress:
			pc.p.types[egress] = true
		default:
			pc.fail(fmt.Sprintf("spec.policyTypes[%d]", i), "unknown type %q", t)
		}
	}
}

func (pc *policyCompiler) selector(field string, s *metav1.LabelSelector) labels.Selector {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		pc.fail(field, "%v", err)
		return labels.Nothing()
	}
	return sel
}

func (pc *policyCompiler) rule(d direction, field, peersKey string, peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) {
	r := &rule{}
	for i, peer := range peers {
		r.peers = append(r.peers, pc.peer(fmt.Sprintf("%s.%s[%d]", field, peersKey, i), peer))
	}
	for i, port := range ports {
		r.ports = append(r.ports, pc.port(fmt.Sprintf("%s.ports[%d]", field, i), port))
	}
	pc.p.rules[d] = append(pc.p.rules[d], r)
}

func (pc *policyCompiler) peer(field string, peer networkingv1.NetworkPolicyPeer) peerSel {
	var s peerSel
	if peer.IPBlock != nil {
		if peer.PodSelector != nil || peer.NamespaceSelector != nil {
			pc.fail(field, "ipBlock may not be combined with podSelector or namespaceSelector")
		}
		s.ipBlock = true
		s.external, s.podAddrs = pc.ipBlock(field+".ipBlock", peer.IPBlock)
		return s
	}
	if peer.PodSelector == nil && peer.NamespaceSelector == nil {
		pc.fail(field, "needs a podSelector, a namespaceSelector or an ipBlock")
	}
	if peer.PodSelector != nil {
		s.pods = pc.selector(field+".podSelector", peer.PodSelector)
	}
	if peer.NamespaceSelector != nil {
		s.namespaces = pc.selector(field+".namespaceSelector", peer.NamespaceSelector)
	}
	return s
}

// ipBlock validates the block and reports whether it admits the external address and whether it admits pod
// addresses.
func (pc *policyCompiler) ipBlock(field string, b *networkingv1.IPBlock) (external, pods bool) {
	cidr, err := netip.ParsePrefix(b.CIDR)
	if err != nil {
		pc.fail(field+".cidr", "%v", err)
		return false, false
	}
	cidr = cidr.Masked()
	var excepts []netip.Prefix
	for i, e := range b.Except {
		ex, err := netip.ParsePrefix(e)
		if err != nil {
			pc.fail(fmt.Sprintf("%s.except[%d]", field, i), "%v", err)
			continue
		}
		if ex.Bits() <= cidr.Bits() || !cidr.Contains(ex.Addr()) {
			pc.fail(fmt.Sprintf("%s.except[%d]", field, i), "%s is not a strict subset of %s", e, b.CIDR)
		}
		excepts = append(excepts, ex.Masked())
	}
	external = cidr.Contains(pc.c.external) && !coveredBy(netip.PrefixFrom(pc.c.external, pc.c.external.BitLen()), excepts)
	return external, pc.podAddresses(field, b.CIDR, cidr, excepts)
}

// podAddresses reports whether the block, less its excepts, holds some pod address, and warns when it holds only
// part of the pod CIDR: the matrix then lets it admit every pod, while a network plugin admits the pods whose
// addresses fall in it.
func (pc *policyCompiler) podAddresses(field, text string, cidr netip.Prefix, excepts []netip.Prefix) bool {
	pod := pc.c.podCIDR
	if !cidr.Overlaps(pod) || coveredBy(pod, excepts) {
		return false
	}
	partial := cidr.Bits() > pod.Bits()
	for _, ex := range excepts {
		partial = partial || ex.Overlaps(pod)
	}
	if partial {
		pc.c.warnings = append(pc.c.warnings, fmt.Sprintf("NetworkPolicy %s: %s %s covers part of the pod CIDR %s: "+
			"the matrix lets it admit every pod, a network plugin admits the pods whose addresses fall in it",
			pc.p.id(), field, text, pod))
	}
	return true
}

// coveredBy reports whether one of the prefixes contains all of p.
func coveredBy(p netip.Prefix, prefixes []netip.Prefix) bool {
	for _, q := range prefixes {
		if q.Bits() <= p.Bits() && q.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

func (pc *policyCompiler) port(field string, np networkingv1.NetworkPolicyPort) portSel {
	s := portSel{protocol: "TCP"}
	if np.Protocol != nil {
		s.protocol = string(*np.Protocol)
	}
	if !validProtocol(s.protocol) {
		pc.fail(field+".protocol", "unsupported protocol %q", s.protocol)
	}
	switch {
	case np.Port == nil:
		if np.EndPort != nil {
			pc.fail(field+".endPort", "needs a port")
		}
	case np.Port.Type == intstr.String:
		s.name = np.Port.StrVal
		if errs := validation.IsValidPortName(s.name); len(errs) > 0 {
			pc.fail(field+".port", "%q: %s", s.name, errs[0])
		}
		if np.EndPort != nil {
			pc.fail(field+".endPort", "may not be combined with a named port")
		}
	default:
		s.lo, s.hi = np.Port.IntVal, np.Port.IntVal
		if np.EndPort != nil {
			s.hi = *np.EndPort
		}
		if s.lo < 1 || s.lo > 65535 || s.hi < s.lo || s.hi > 65535 {
			pc.fail(field, "invalid port range %d-%d", s.lo, s.hi)
		}
	}
	return s
}
