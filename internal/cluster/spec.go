package cluster

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// Distro is the Kubernetes distribution a cluster runs.
type Distro string

// The distributions cluster init writes for.
const (
	K3s   Distro = "k3s"
	Talos Distro = "talos"
)

// Kind is the accelerator a node carries.
type Kind string

// The accelerator kinds.
const (
	NVIDIA Kind = "nvidia"
	AMD    Kind = "amd"
	NPU    Kind = "npu"
)

// Well-known names shared by the generated configs and by Check.
const (
	// AcceleratorLabel marks accelerator nodes; its value is the Kind. Device plugins select on it.
	AcceleratorLabel = "agops.dev/accelerator"
	// DefaultNPUResource is the NPU resource when none is named; agops migrate requests the same placeholder.
	DefaultNPUResource = "agops.dev/npu"
	// TaintValue is the value of the NoSchedule taint on accelerator nodes (key: the accelerator's resource).
	TaintValue = "present"
)

// Node is one machine of the cluster: every node is a control-plane server (etcd member) that also runs workloads.
type Node struct {
	Name string
	Addr netip.Addr
}

// Spec is what cluster init needs to know. Build one with Parse, or fill it and call Validate.
type Spec struct {
	Distro Distro
	Nodes  []Node // in join order: the first one initialises the cluster
	VIP    netip.Addr
	// CIDR is the nodes' layer-2 subnet; the zero value means the /24 (IPv4) or /64 (IPv6) around the first node.
	CIDR   netip.Prefix
	Single bool // allow one node, without HA
	Airgap bool // no route to public registries
	// RegistryMirror is REG[/prefix], optionally with an http:// or https:// scheme: every registry is pulled through it.
	RegistryMirror string
	// Accelerators maps a node's name to its accelerator.
	Accelerators map[string]Kind
	// NPUResource is the extended resource NPU nodes advertise (vendor.example/name).
	NPUResource string
	// Interface is the network interface that carries the VIP; empty: kube-vip picks the one with the default
	// route, Talos the physical one.
	Interface string
	// Registries are registries to mirror besides the usual public ones (a project's own, from its images).
	Registries []string
	// Digests pin the images of the cluster-side manifests (Images) to the digests an air-gap bundle holds:
	// reference → sha256:<hex>. Empty: the manifests name images by tag.
	Digests map[string]string
}

// Flags are cluster init's command-line values before parsing.
type Flags struct {
	Distro         string
	Nodes          []string // NAME=IP
	VIP            string
	CIDR           string
	Single         bool
	Airgap         bool
	RegistryMirror string
	Accelerators   []string // NAME=nvidia|amd|npu
	NPUResource    string
	Interface      string
}

// Parse turns flags into a validated Spec. It reports every problem at once, as a *ValidationError.
func Parse(f Flags) (Spec, error) {
	var p problems
	s := Spec{
		Distro: Distro(f.Distro), Single: f.Single, Airgap: f.Airgap, RegistryMirror: f.RegistryMirror,
		NPUResource: f.NPUResource, Interface: f.Interface, Accelerators: map[string]Kind{},
	}
	for _, raw := range f.Nodes {
		n, err := ParseNode(raw)
		if err != nil {
			p.add("%v", err)
			continue
		}
		s.Nodes = append(s.Nodes, n)
	}
	s.VIP = parseAddrFlag(&p, "--vip", f.VIP)
	if f.CIDR != "" {
		pfx, err := netip.ParsePrefix(f.CIDR)
		if err != nil {
			p.add("--cidr %q: not a CIDR such as 192.168.1.0/24", f.CIDR)
		}
		s.CIDR = pfx.Masked()
	}
	for _, raw := range f.Accelerators {
		name, kind, err := ParseAccelerator(raw)
		if err != nil {
			p.add("%v", err)
			continue
		}
		if prev, ok := s.Accelerators[name]; ok && prev != kind {
			p.add("--accelerator %s: node %s is already %s", raw, name, prev)
		}
		s.Accelerators[name] = kind
	}
	p.list = append(p.list, s.problems(len(f.Nodes))...)
	return s, p.err()
}

func parseAddrFlag(p *problems, flag, v string) netip.Addr {
	if v == "" {
		p.add("%s is required", flag)
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" {
		p.add("%s %q: not an IP address", flag, v)
		return netip.Addr{}
	}
	return a.Unmap()
}

// ParseNode parses NAME=IP.
func ParseNode(s string) (Node, error) {
	name, ip, ok := strings.Cut(s, "=")
	if !ok || name == "" || ip == "" {
		return Node{}, fmt.Errorf("--node %q: want NAME=IP, such as gpu-1=192.168.1.11", s)
	}
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Zone() != "" {
		return Node{}, fmt.Errorf("--node %q: %q is not an IP address", s, ip)
	}
	return Node{Name: name, Addr: a.Unmap()}, nil
}

// ParseAccelerator parses NAME=nvidia|amd|npu.
func ParseAccelerator(s string) (string, Kind, error) {
	name, kind, ok := strings.Cut(s, "=")
	if !ok || name == "" || kind == "" {
		return "", "", fmt.Errorf("--accelerator %q: want NODE=nvidia|amd|npu", s)
	}
	switch k := Kind(kind); k {
	case NVIDIA, AMD, NPU:
		return name, k, nil
	}
	return "", "", fmt.Errorf("--accelerator %s: unknown kind %q (want nvidia, amd or npu)", s, kind)
}

// Resource is the extended resource a node of kind k advertises.
func (s Spec) Resource(k Kind) string {
	switch k {
	case NVIDIA:
		return "nvidia.com/gpu"
	case AMD:
		return "amd.com/gpu"
	}
	if s.NPUResource != "" {
		return s.NPUResource
	}
	return DefaultNPUResource
}

// Kinds lists the accelerator kinds present, sorted.
func (s Spec) Kinds() []Kind {
	seen := map[Kind]bool{}
	for _, k := range s.Accelerators {
		seen[k] = true
	}
	var out []Kind
	for k := range seen {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// subnet is the nodes' layer-2 subnet: CIDR, or the /24 (/64) around the first node.
func (s Spec) subnet() netip.Prefix {
	if s.CIDR.IsValid() {
		return s.CIDR
	}
	if len(s.Nodes) == 0 {
		return netip.Prefix{}
	}
	bits := 24
	if s.Nodes[0].Addr.Is6() {
		bits = 64
	}
	p, _ := s.Nodes[0].Addr.Prefix(bits)
	return p
}

// problems collects validation problems, one line each.
type problems struct{ list []string }

func (p *problems) add(format string, args ...any) {
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &ValidationError{Problems: p.list}
}

// ValidationError lists every problem found in a Spec or its flags; nothing was written.
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string { return strings.Join(e.Problems, "\n") }
