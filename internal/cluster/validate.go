package cluster

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Validate checks a Spec and reports every problem at once, as a *ValidationError.
func (s Spec) Validate() error {
	p := problems{list: s.problems(len(s.Nodes))}
	return p.err()
}

// problems runs every check; count is how many nodes were asked for (some may not have parsed).
func (s Spec) problems(count int) []string {
	var p problems
	checkDistro(&p, s.Distro)
	checkCount(&p, count, s.Single)
	s.checkNames(&p)
	s.checkAddrs(&p)
	s.checkVIP(&p)
	s.checkAccelerators(&p)
	checkMirror(&p, s.RegistryMirror)
	if s.Interface != "" && !validInterface.MatchString(s.Interface) {
		p.add("--interface %q: not a network interface name", s.Interface)
	}
	return p.list
}

var validInterface = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,14}$`)

func checkDistro(p *problems, d Distro) {
	switch d {
	case K3s, Talos:
	case "":
		p.add("--distro is required: k3s or talos")
	default:
		p.add("--distro %q: want k3s or talos", d)
	}
}

// checkCount allows three servers, or one with --single: etcd needs a majority of its members, so an even count
// tolerates no more failures than the odd count below it.
func checkCount(p *problems, n int, single bool) {
	switch {
	case single && n != 1:
		p.add("--single needs exactly one --node, got %d", n)
	case single || n == 3:
	case n == 0:
		p.add("no --node given: want three (NAME=IP each), or one with --single")
	case n == 1:
		p.add("one node is not highly available: give three --node, or pass --single to accept a single node")
	case n%2 == 0:
		p.add("%d servers cannot keep etcd's quorum any better than %d: etcd needs a majority (%d of %d) to write, "+
			"so an even count only adds a machine that can fail; use 3 servers", n, n-1, n/2+1, n)
	default:
		p.add("%d servers: agops cluster init writes three servers (a quorum of 2 survives one failure); use 3", n)
	}
}

func (s Spec) checkNames(p *problems) {
	seen := map[string]bool{}
	for _, n := range s.Nodes {
		if errs := validation.IsDNS1123Label(n.Name); len(errs) > 0 {
			p.add("--node %s: name %q is not a DNS label (lowercase letters, digits and '-', at most 63)", n.Name, n.Name)
		}
		if seen[n.Name] {
			p.add("node name %q is given twice", n.Name)
		}
		seen[n.Name] = true
	}
}

func (s Spec) checkAddrs(p *problems) {
	owner := map[netip.Addr]string{}
	subnet := s.subnet()
	for _, n := range s.Nodes {
		if prev, ok := owner[n.Addr]; ok && prev != n.Name {
			p.add("address %s is given to both %s and %s", n.Addr, prev, n.Name)
		}
		owner[n.Addr] = n.Name
		if !usable(n.Addr) {
			p.add("node %s: %s is not a unicast address a machine can have", n.Name, n.Addr)
		} else if subnet.IsValid() && !subnet.Contains(n.Addr) {
			p.add("node %s (%s) is outside %s: the VIP moves by ARP within one layer-2 subnet; pass --cidr if the subnet is wider", n.Name, n.Addr, subnet)
		}
	}
}

func usable(a netip.Addr) bool {
	return a.IsValid() && !a.IsUnspecified() && !a.IsLoopback() && !a.IsMulticast() && !a.IsLinkLocalUnicast()
}

func (s Spec) checkVIP(p *problems) {
	if !s.VIP.IsValid() {
		return
	}
	for _, n := range s.Nodes {
		if n.Addr == s.VIP {
			p.add("--vip %s is the address of node %s: the VIP must be a free address that moves between nodes", s.VIP, n.Name)
		}
	}
	subnet := s.subnet()
	switch {
	case !usable(s.VIP):
		p.add("--vip %s is not a unicast address a machine can have", s.VIP)
	case subnet.IsValid() && !subnet.Contains(s.VIP):
		p.add("--vip %s is outside %s, the nodes' subnet (pass --cidr if the subnet is wider)", s.VIP, subnet)
	case subnet.IsValid() && s.VIP.Is4() && subnet.Bits() < 31 && (s.VIP == subnet.Addr() || s.VIP == lastAddr(subnet)):
		p.add("--vip %s is the network or broadcast address of %s", s.VIP, subnet)
	}
}

// lastAddr is the highest address of an IPv4 prefix (its broadcast address).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	host := 32 - p.Bits()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= uint32(1)<<host - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func (s Spec) checkAccelerators(p *problems) {
	declared := map[string]bool{}
	var names []string
	for _, n := range s.Nodes {
		if !declared[n.Name] {
			names = append(names, n.Name)
		}
		declared[n.Name] = true
	}
	var accel []string
	for name := range s.Accelerators {
		accel = append(accel, name)
	}
	sort.Strings(accel)
	for _, name := range accel {
		switch k := s.Accelerators[name]; {
		case k != NVIDIA && k != AMD && k != NPU:
			p.add("--accelerator %s=%s: unknown kind %q (want nvidia, amd or npu)", name, k, k)
		case !declared[name]:
			p.add("--accelerator %s=%s: no node %q (declared: %s)", name, k, name, strings.Join(names, ", "))
		}
	}
	if s.NPUResource != "" {
		if err := checkNPUResource(s.NPUResource); err != nil {
			p.add("--npu-resource %q: %v", s.NPUResource, err)
		}
	}
}

var deviceName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// checkNPUResource wants vendor.example/name, as the generic device plugin declares it (--domain and a device name).
func checkNPUResource(r string) error {
	domain, name, ok := strings.Cut(r, "/")
	if !ok || len(validation.IsDNS1123Subdomain(domain)) > 0 || !strings.Contains(domain, ".") || !deviceName.MatchString(name) {
		return fmt.Errorf("want an extended resource DOMAIN/NAME such as vendor.example/npu")
	}
	return nil
}

// checkMirror wants REG[/prefix]: a host with an optional port and path, optionally after http:// or https://.
func checkMirror(p *problems, m string) {
	if m == "" {
		return
	}
	_, host, path := splitMirror(m)
	if host == "" || strings.ContainsAny(m, " \t?#@") || strings.Contains(path, "//") || strings.HasSuffix(m, "/") {
		p.add("--registry-mirror %q: want REG[/prefix], such as registry.lab:5000 or registry.lab/mirror", m)
		return
	}
	h := host
	if i := strings.LastIndex(host, ":"); i > 0 && !strings.HasSuffix(host, "]") {
		h = host[:i]
	}
	h = strings.Trim(h, "[]")
	if _, err := netip.ParseAddr(h); err != nil && len(validation.IsDNS1123Subdomain(strings.ToLower(h))) > 0 {
		p.add("--registry-mirror %q: %q is not a host name or address", m, h)
	}
}

// splitMirror splits [scheme://]host[/path] into scheme (default https), host and path (no leading slash).
func splitMirror(m string) (scheme, host, path string) {
	scheme = "https"
	for _, s := range []string{"https", "http"} {
		if rest, ok := strings.CutPrefix(m, s+"://"); ok {
			scheme, m = s, rest
			break
		}
	}
	host, path, _ = strings.Cut(m, "/")
	return scheme, host, path
}
