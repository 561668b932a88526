package reach

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// Defaults of Options: k3s's cluster CIDRs and an address from TEST-NET-3 (RFC 5737) for the outside world.
const (
	DefaultPodCIDR     = "10.42.0.0/16"
	DefaultServiceCIDR = "10.43.0.0/16"
	DefaultExternalIP  = "203.0.113.10"
)

// nsNameLabel is the label the API server puts on every namespace.
const nsNameLabel = "kubernetes.io/metadata.name"

// Options describes the cluster the manifests are meant for; empty fields take the defaults above.
type Options struct {
	PodCIDR     string // pods' addresses: an ipBlock that holds some of them admits pods
	ServiceCIDR string // Services' cluster IPs, which the outside world's address must not be in
	ExternalIP  string // the address that stands for the outside world when ipBlocks are evaluated
	// NoServiceLB says the cluster does not run k3s's ServiceLB (k3s --disable servicelb, or not k3s): LoadBalancer
	// Services then add no ServiceLB peers.
	NoServiceLB bool
	// Enforcer is whose reading of the policies the model follows: EnforcerAPI (the default) or EnforcerKubeRouter.
	Enforcer string
}

// Enforcers: the API's semantics, and kube-router's network-policy controller, which k3s embeds. See the package
// documentation for where they differ.
const (
	EnforcerAPI        = "api"
	EnforcerKubeRouter = "kube-router"
)

// Port is a container port a workload declares.
type Port struct {
	Port     int32  `json:"port"`
	Protocol string `json:"protocol"`       // TCP, UDP or SCTP
	Name     string `json:"name,omitempty"` // the port's name, which named ports in policies refer to
}

func (p Port) String() string { return fmt.Sprintf("%d/%s", p.Port, p.Protocol) }

// Peer is one end of a connection: a workload, kube-dns, or the outside world.
type Peer struct {
	Namespace string // empty for the outside world
	// Name is the workload's name, "Kind/name" when two kinds share a name in a namespace; "kube-dns" for the
	// cluster DNS and "external" for the outside world.
	Name     string
	Kind     string            // the workload's kind, "ServiceLB" for ServiceLB's pods; empty for kube-dns and the outside world
	Labels   map[string]string // the pods' labels
	Ports    []Port            // the declared container ports, sorted by number and protocol
	External bool              // the outside world
	// HostNetwork says the pods use their node's network: their connections come from the node's address, which
	// every enforcer lets reach the pods on the same node whatever the policies say.
	HostNetwork bool
}

// String is the peer's identity in the matrix: "namespace/name", or "external".
func (p Peer) String() string {
	if p.External {
		return "external"
	}
	return p.Namespace + "/" + p.Name
}

// hasPort reports whether the peer declares a port with this number, protocol and name.
func (p Peer) hasPort(port int32, protocol, name string) bool {
	for _, q := range p.Ports {
		if q.Port == port && q.Protocol == protocol && q.Name == name {
			return true
		}
	}
	return false
}

// Cluster is the network model of a set of manifests. It is read-only after New and safe for concurrent use.
type Cluster struct {
	podCIDR, serviceCIDR netip.Prefix
	external             netip.Addr
	noServiceLB          bool
	kubeRouter           bool
	namespaces           map[string]labels.Set
	peers                []Peer
	policies             []*policy
	warnings             []string
}

// kubeDNS is the cluster DNS as CoreDNS declares it.
func kubeDNS() Peer {
	return Peer{
		Namespace: "kube-system", Name: "kube-dns",
		Labels: map[string]string{"k8s-app": "kube-dns"},
		Ports:  []Port{{Port: 53, Protocol: "TCP", Name: "dns-tcp"}, {Port: 53, Protocol: "UDP", Name: "dns"}},
	}
}

// New builds the model from rendered objects. Objects other than namespaces, workloads and NetworkPolicies are
// ignored. Invalid objects (those the API server would reject, as far as the model reads them) are all reported,
// one error each, naming the object.
func New(objs []*unstructured.Unstructured, o Options) (*Cluster, error) {
	c := &Cluster{namespaces: map[string]labels.Set{}, noServiceLB: o.NoServiceLB}
	if err := c.setOptions(o); err != nil {
		return nil, err
	}
	var errs []error
	seen := map[string]bool{}
	for _, u := range objs {
		if u == nil {
			continue
		}
		if err := c.add(u, seen); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c.finish()
	return c, nil
}

func (c *Cluster) setOptions(o Options) error {
	var err error
	if c.podCIDR, err = netip.ParsePrefix(or(o.PodCIDR, DefaultPodCIDR)); err != nil {
		return fmt.Errorf("pod CIDR: %w", err)
	}
	if c.serviceCIDR, err = netip.ParsePrefix(or(o.ServiceCIDR, DefaultServiceCIDR)); err != nil {
		return fmt.Errorf("service CIDR: %w", err)
	}
	if c.external, err = netip.ParseAddr(or(o.ExternalIP, DefaultExternalIP)); err != nil {
		return fmt.Errorf("external address: %w", err)
	}
	c.podCIDR, c.serviceCIDR = c.podCIDR.Masked(), c.serviceCIDR.Masked()
	switch o.Enforcer {
	case "", EnforcerAPI:
	case EnforcerKubeRouter:
		c.kubeRouter = true
	default:
		return fmt.Errorf("unknown enforcer %q (want %s or %s)", o.Enforcer, EnforcerAPI, EnforcerKubeRouter)
	}
	for _, p := range []netip.Prefix{c.podCIDR, c.serviceCIDR} {
		if p.Contains(c.external) {
			return fmt.Errorf("external address %s lies inside the cluster CIDR %s", c.external, p)
		}
	}
	return nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// add files one object under what it is, by API group and kind.
func (c *Cluster) add(u *unstructured.Unstructured, seen map[string]bool) error {
	gvk := u.GroupVersionKind()
	what := gvk.Kind + " " + objName(u)
	kind := gvk.Group + "/" + gvk.Kind
	if _, ok := templatePath[kind]; !ok && kind != "/Namespace" && kind != "/Service" && kind != "networking.k8s.io/NetworkPolicy" {
		return nil
	}
	if seen[kind+" "+objName(u)] {
		return fmt.Errorf("%s: defined twice", what)
	}
	seen[kind+" "+objName(u)] = true
	var err error
	switch kind {
	case "/Namespace":
		err = c.addNamespace(u)
	case "networking.k8s.io/NetworkPolicy":
		err = c.addPolicy(u)
	case "/Service":
		err = c.addService(u)
	default:
		err = c.addWorkload(u, gvk.Kind)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// objName is namespace/name as written, "default" standing in for no namespace; cluster-scoped kinds have no
// namespace of their own.
func objName(u *unstructured.Unstructured) string {
	if u.GetKind() == "Namespace" {
		return u.GetName()
	}
	return namespaceOf(u.GetNamespace()) + "/" + u.GetName()
}

func namespaceOf(ns string) string {
	if ns == "" {
		return corev1.NamespaceDefault
	}
	return ns
}

// convert decodes the map at path (the whole object when path is empty) into out.
func convert(u *unstructured.Unstructured, out any, path ...string) error {
	m := u.Object
	if len(path) > 0 {
		v, found, err := unstructured.NestedFieldNoCopy(u.Object, path...)
		if err != nil || !found {
			return fmt.Errorf("no %s", dotted(path))
		}
		var ok bool
		if m, ok = v.(map[string]any); !ok {
			return fmt.Errorf("%s is not an object", dotted(path))
		}
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, out); err != nil {
		if len(path) > 0 {
			return fmt.Errorf("%s: %w", dotted(path), err)
		}
		return err
	}
	return nil
}

func dotted(path []string) string {
	s := path[0]
	for _, p := range path[1:] {
		s += "." + p
	}
	return s
}

func (c *Cluster) addNamespace(u *unstructured.Unstructured) error {
	var ns corev1.Namespace
	if err := convert(u, &ns); err != nil {
		return err
	}
	if ns.Name == "" {
		return errors.New("no metadata.name")
	}
	set := labels.Set{}
	for k, v := range ns.Labels {
		set[k] = v
	}
	set[nsNameLabel] = ns.Name
	c.namespaces[ns.Name] = set
	return nil
}

// templatePath says where each workload kind (by group/kind) keeps its pod template; nil for a bare Pod.
var templatePath = map[string][]string{
	"apps/Deployment":  {"spec", "template"},
	"apps/StatefulSet": {"spec", "template"},
	"apps/DaemonSet":   {"spec", "template"},
	"apps/ReplicaSet":  {"spec", "template"},
	"batch/Job":        {"spec", "template"},
	"batch/CronJob":    {"spec", "jobTemplate", "spec", "template"},
	"/Pod":             nil,
}

func (c *Cluster) addWorkload(u *unstructured.Unstructured, kind string) error {
	var meta metav1.ObjectMeta
	if err := convert(u, &meta, "metadata"); err != nil {
		return err
	}
	if meta.Name == "" {
		return errors.New("no metadata.name")
	}
	var tmpl corev1.PodTemplateSpec
	if path := templatePath[u.GroupVersionKind().Group+"/"+kind]; path != nil {
		if err := convert(u, &tmpl, path...); err != nil {
			return err
		}
	} else if err := convert(u, &tmpl); err != nil {
		return err
	}
	ports, err := declaredPorts(tmpl.Spec.Containers)
	if err != nil {
		return err
	}
	p := Peer{Namespace: namespaceOf(meta.Namespace), Name: meta.Name, Kind: kind, Labels: tmpl.Labels, Ports: ports,
		HostNetwork: tmpl.Spec.HostNetwork}
	if tmpl.Spec.HostNetwork {
		c.warnings = append(c.warnings, fmt.Sprintf("%s %s uses the host's network: most network plugins do not "+
			"apply NetworkPolicies to it, the matrix treats it as an ordinary pod", kind, p))
	}
	c.peers = append(c.peers, p)
	return nil
}

// declaredPorts lists the regular containers' ports, deduplicated and sorted.
func declaredPorts(containers []corev1.Container) ([]Port, error) {
	var out []Port
	seen := map[Port]bool{}
	for _, ctr := range containers {
		for i, cp := range ctr.Ports {
			p := Port{Port: cp.ContainerPort, Protocol: string(cp.Protocol), Name: cp.Name}
			if p.Protocol == "" {
				p.Protocol = string(corev1.ProtocolTCP)
			}
			if p.Port < 1 || p.Port > 65535 || !validProtocol(p.Protocol) {
				return nil, fmt.Errorf("container %q ports[%d]: invalid port %d/%s", ctr.Name, i, p.Port, p.Protocol)
			}
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	sortPorts(out)
	return out, nil
}

func sortPorts(ps []Port) {
	sort.Slice(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.Port != b.Port {
			return a.Port < b.Port
		}
		if a.Protocol != b.Protocol {
			return a.Protocol < b.Protocol
		}
		return a.Name < b.Name
	})
}

func validProtocol(p string) bool { return p == "TCP" || p == "UDP" || p == "SCTP" }

// finish adds kube-dns and the namespaces only referenced, names workloads unambiguously and sorts.
func (c *Cluster) finish() {
	c.peers = append(c.peers, kubeDNS())
	c.nameServiceLBs()
	count := map[string]int{}
	for _, p := range c.peers {
		count[p.String()]++
	}
	for i, p := range c.peers {
		if count[p.String()] > 1 && p.Kind != "" {
			c.peers[i].Name = p.Kind + "/" + p.Name
		}
	}
	for _, p := range c.peers {
		c.ensureNamespace(p.Namespace)
	}
	for _, p := range c.policies {
		c.ensureNamespace(p.namespace)
	}
	sort.SliceStable(c.peers, func(i, j int) bool {
		if c.peers[i].Namespace != c.peers[j].Namespace {
			return c.peers[i].Namespace < c.peers[j].Namespace
		}
		return c.peers[i].Name < c.peers[j].Name
	})
	c.peers = append(c.peers, Peer{Name: "external", External: true})
	sort.SliceStable(c.policies, func(i, j int) bool { return c.policies[i].id() < c.policies[j].id() })
	sort.Strings(c.warnings)
}

func (c *Cluster) ensureNamespace(ns string) {
	if _, ok := c.namespaces[ns]; !ok {
		c.namespaces[ns] = labels.Set{nsNameLabel: ns}
	}
}

// namespaceLabels are the labels of a namespace; one the input never mentions has only its name label.
func (c *Cluster) namespaceLabels(ns string) labels.Set {
	if set, ok := c.namespaces[ns]; ok {
		return set
	}
	return labels.Set{nsNameLabel: ns}
}

// Peers lists the workloads and kube-dns, sorted by namespace and name, then the outside world. The peers share
// their label maps and port lists with the cluster: treat them as read-only.
func (c *Cluster) Peers() []Peer {
	return append([]Peer(nil), c.peers...)
}

// Warnings lists what the model may get wrong for this input (see the package documentation).
func (c *Cluster) Warnings() []string {
	return append([]string(nil), c.warnings...)
}
