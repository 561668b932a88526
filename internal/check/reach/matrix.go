package reach

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Matrix is who may open connections to whom. Its JSON form (Matrix.JSON) is this struct with the field tags
// below; every list is present (possibly empty) and sorted as Text prints it.
type Matrix struct {
	Enforcer    string   `json:"enforcer"` // whose reading of the policies: EnforcerAPI or EnforcerKubeRouter
	External    string   `json:"external"` // the address that stood for the outside world
	PodCIDR     string   `json:"podCIDR"`
	ServiceCIDR string   `json:"serviceCIDR"`
	Nodes       []Node   `json:"nodes"`    // every peer, as Cluster.Peers orders them
	Edges       []Edge   `json:"edges"`    // the allowed connections; a pair that is not listed is denied
	Warnings    []string `json:"warnings"` // see Cluster.Warnings
}

// Node is a peer of the matrix.
type Node struct {
	ID       string   `json:"id"`             // Peer.String: "namespace/name" or "external"
	Kind     string   `json:"kind,omitempty"` // the workload's kind or ServiceLB; empty for kube-dns and the outside world
	Ports    []Port   `json:"ports"`          // declared container ports
	Isolated []string `json:"isolated"`       // "ingress" and/or "egress": the directions some policy restricts
	// HostNetwork marks a workload on its node's network (see Peer.HostNetwork): its cells hold for its
	// connections to pods on other nodes; those on its own node are always open.
	HostNetwork bool `json:"hostNetwork,omitempty"`
}

// Edge is an allowed connection. Ports are the destination's declared ports the source may open ("8000/TCP");
// for a destination that declares none (and for the outside world) they are the ports the policies leave open:
// "any" (every port of every protocol), "any/UDP", "53/UDP" or "8000-8100/TCP".
type Edge struct {
	From  string   `json:"from"`
	To    string   `json:"to"`
	Ports []string `json:"ports"`
}

// Matrix evaluates every source (the workloads and the outside world; kube-dns only answers) against every
// destination (the workloads, kube-dns, and the outside world for workloads). A workload is also paired with
// itself: its replicas talking to each other.
func (c *Cluster) Matrix() Matrix {
	m := Matrix{
		Enforcer: c.enforcer(), External: c.external.String(), PodCIDR: c.podCIDR.String(), ServiceCIDR: c.serviceCIDR.String(),
		Nodes: []Node{}, Edges: []Edge{}, Warnings: append([]string{}, c.warnings...),
	}
	sel := make([][2][]*policy, len(c.peers))
	for i, p := range c.peers {
		sel[i] = [2][]*policy{ingress: c.selecting(ingress, p), egress: c.selecting(egress, p)}
		m.Nodes = append(m.Nodes, node(p, sel[i]))
	}
	for i, src := range c.peers {
		if isKubeDNS(src) {
			continue
		}
		for j, dst := range c.peers {
			if src.External && dst.External {
				continue
			}
			open := c.open(egress, sel[i][egress], src, dst, dst)
			if open.empty() {
				continue
			}
			open = open.intersect(c.open(ingress, sel[j][ingress], dst, src, dst))
			if ports := cell(open, dst); len(ports) > 0 {
				m.Edges = append(m.Edges, Edge{From: src.String(), To: dst.String(), Ports: ports})
			}
		}
	}
	return m
}

func (c *Cluster) enforcer() string {
	if c.kubeRouter {
		return EnforcerKubeRouter
	}
	return EnforcerAPI
}

func isKubeDNS(p Peer) bool { return p.Kind == "" && !p.External }

func node(p Peer, sel [2][]*policy) Node {
	n := Node{ID: p.String(), Kind: p.Kind, Ports: append([]Port{}, p.Ports...), Isolated: []string{}, HostNetwork: p.HostNetwork}
	for _, d := range []direction{ingress, egress} {
		if len(sel[d]) > 0 {
			n.Isolated = append(n.Isolated, d.String())
		}
	}
	return n
}

// open is the set of ports one side lets through: pols are the policies of direction d that select its pod,
// other is the connection's other end and dst its destination.
func (c *Cluster) open(d direction, pols []*policy, pod, other, dst Peer) portSet {
	if len(pols) == 0 {
		return allPorts()
	}
	var s portSet
	for _, p := range pols {
		for _, r := range p.rules[d] {
			if c.admitsPeer(p, r, other) {
				s.union(r.portSet(dst))
			}
		}
		if !c.crossesOver(p, other) {
			continue
		}
		for _, r := range p.rules[d.opposite()] {
			if c.admitsPeer(p, r, pod) {
				s.union(r.portSet(dst))
			}
		}
	}
	return s
}

// cell renders the open ports: the destination's declared ones if it declares any, else the set itself.
func cell(open portSet, dst Peer) []string {
	if len(dst.Ports) == 0 {
		return open.strings()
	}
	var out []string
	for _, p := range dst.Ports {
		s := p.String()
		if open.contains(p.Port, p.Protocol) && (len(out) == 0 || out[len(out)-1] != s) {
			out = append(out, s)
		}
	}
	return out
}

// Text writes the matrix as three tables: the peers, the allowed connections (one line each, grouped by
// source), and the warnings.
func (m Matrix) Text(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "policies read as %s; outside world: %s; pod CIDR %s; service CIDR %s\n\n", enforcerName(m.Enforcer), m.External, m.PodCIDR, m.ServiceCIDR)
	fmt.Fprintln(tw, "PEER\tKIND\tPORTS\tISOLATED")
	for _, n := range m.Nodes {
		var ports []string
		for _, p := range n.Ports {
			ports = append(ports, strings.TrimSpace(p.String()+" "+p.Name))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.ID, dash(n.Kind), dash(strings.Join(ports, ", ")),
			dash(strings.Join(n.Isolated, ", ")))
	}
	fmt.Fprintln(tw, "\nALLOWED (any pair not listed is denied)")
	fmt.Fprintln(tw, "FROM\tTO\tPORTS")
	for _, e := range m.Edges {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.From, e.To, strings.Join(e.Ports, ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(m.Warnings) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("\nWARNINGS\n")
	for _, s := range m.Warnings {
		b.WriteString("- " + s + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func enforcerName(e string) string {
	if e == EnforcerKubeRouter {
		return "kube-router (k3s) reads them"
	}
	return "the Kubernetes API defines them"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// JSON is the matrix as indented JSON with a final newline; see Matrix for the shape.
func (m Matrix) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
