package reach

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestMatrixAgreesWithAllowed checks every cell of random matrices against Allowed: a declared port is listed iff
// Allowed says yes, and for a destination without declared ports the listed set holds exactly the ports Allowed
// admits.
func TestMatrixAgreesWithAllowed(t *testing.T) {
	t.Parallel()
	var cells, listed int
	for seed := range uint64(150) {
		s := newGen(1000 + seed).scenario()
		enforcer := []string{EnforcerAPI, EnforcerKubeRouter}[seed%2]
		c := s.clusterFor(t, enforcer)
		edges := map[string][]string{}
		for _, e := range c.Matrix().Edges {
			if e.From == "kube-system/kube-dns" || (e.From == "external" && e.To == "external") {
				t.Fatalf("seed %d: unexpected edge %v", seed, e)
			}
			edges[e.From+" "+e.To] = e.Ports
		}
		for _, src := range c.Peers() {
			if isKubeDNS(src) {
				continue
			}
			for _, dst := range c.Peers() {
				if src.External && dst.External {
					continue
				}
				ports := edges[src.String()+" "+dst.String()]
				for _, probe := range probes(dst) {
					want, why := c.Allowed(src, dst, probe.Port, probe.Protocol)
					got := contains(t, ports, probe, len(dst.Ports) > 0)
					cells++
					if got {
						listed++
					}
					if got != want {
						t.Fatalf("seed %d (%s): %s -> %s lists %v; Allowed on %s says %v (%s)", seed, enforcer, src, dst, ports, probe, want, why)
					}
				}
			}
		}
	}
	if listed == 0 || listed == cells {
		t.Errorf("%d of %d probes listed: the scenarios are too one-sided", listed, cells)
	}
}

// probes are the ports to try on dst: its declared ports, or a spread of numbers and protocols.
func probes(dst Peer) []Port {
	if len(dst.Ports) > 0 {
		return dst.Ports
	}
	var out []Port
	for _, n := range append(trafficPort, 1, 65535) {
		for _, p := range protocols {
			out = append(out, Port{Port: n, Protocol: p})
		}
	}
	return out
}

// contains reads a cell: declared ports are listed as they are; otherwise the cell is a set of ranges.
func contains(t *testing.T, cell []string, p Port, declared bool) bool {
	if declared {
		return slices.Contains(cell, p.String())
	}
	for _, s := range cell {
		if s == "any" || s == "any/"+p.Protocol {
			return true
		}
		if strings.HasPrefix(s, "any/") {
			continue
		}
		rng, proto, _ := strings.Cut(s, "/")
		lo, hi, isRange := strings.Cut(rng, "-")
		if !isRange {
			hi = lo
		}
		l, err1 := strconv.Atoi(lo)
		h, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil {
			t.Fatalf("unreadable port %q in %v", s, cell)
		}
		if proto == p.Protocol && int32(l) <= p.Port && p.Port <= int32(h) {
			return true
		}
	}
	return false
}

func TestPortSetStrings(t *testing.T) {
	t.Parallel()
	var s portSet
	s.add("TCP", 8000, 8100)
	s.add("TCP", 8101, 8200) // adjacent: merged
	s.add("TCP", 80, 80)
	s.add("TCP", 8050, 8060) // inside: absorbed
	s.add("UDP", 1, 65535)
	s.add("ICMP", 1, 1) // not a policy protocol: ignored
	if got, want := fmt.Sprint(s.strings()), "[80/TCP 8000-8200/TCP any/UDP]"; got != want {
		t.Errorf("strings %s, want %s", got, want)
	}
	var u portSet
	u.add("TCP", 8150, 9000)
	u.add("UDP", 53, 53)
	u.add("SCTP", 1, 10)
	if got, want := fmt.Sprint(s.intersect(u).strings()), "[8150-8200/TCP 53/UDP]"; got != want {
		t.Errorf("intersection %s, want %s", got, want)
	}
	if got := fmt.Sprint(allPorts().strings()); got != "[any]" {
		t.Errorf("all ports: %s", got)
	}
	if !(portSet{}).empty() || s.empty() {
		t.Error("empty is wrong")
	}
}

// TestCrossings checks, on random scenarios, that kube-router's reading only ever adds connections to the API's,
// that Crossings lists exactly the added ones with a policy to blame, and that splitting every policy into one per
// direction leaves nothing to add.
func TestCrossings(t *testing.T) {
	t.Parallel()
	var crossings int
	for seed := range uint64(150) {
		s := newGen(2000 + seed).scenario()
		objs := s.objects(t)
		got, err := Crossings(objs, Options{ExternalIP: s.external})
		if err != nil {
			t.Fatal(err)
		}
		api, kr := s.clusterFor(t, EnforcerAPI).Matrix(), s.clusterFor(t, EnforcerKubeRouter).Matrix()
		apiEdges := map[string][]string{}
		for _, e := range api.Edges {
			apiEdges[e.From+" "+e.To] = e.Ports
		}
		added := 0
		krEdges := map[string]bool{}
		for _, e := range kr.Edges {
			krEdges[e.From+" "+e.To] = true
			for _, p := range e.Ports {
				if !slices.Contains(apiEdges[e.From+" "+e.To], p) {
					added++
				}
			}
		}
		for k := range apiEdges {
			if !krEdges[k] {
				t.Fatalf("seed %d: %s is open to the API's semantics but not to kube-router's", seed, k)
			}
		}
		n := 0
		for _, c := range got {
			n += len(c.Edge.Ports)
			if len(c.Policies) == 0 {
				t.Errorf("seed %d: crossing %v blames no policy", seed, c.Edge)
			}
		}
		if n != added {
			t.Fatalf("seed %d: Crossings lists %d ports, the matrices differ by %d", seed, n, added)
		}
		crossings += n
		var split []*unstructured.Unstructured
		for _, o := range objs {
			split = append(split, splitPolicy(t, o)...)
		}
		if rest, err := Crossings(split, Options{ExternalIP: s.external}); err != nil || len(rest) > 0 {
			t.Fatalf("seed %d: one policy per direction still crosses over: %v %v", seed, rest, err)
		}
	}
	if crossings == 0 {
		t.Error("no scenario crossed over: the test proves nothing")
	}
}

// splitPolicy returns a NetworkPolicy that isolates both directions as two, one per direction; other objects as
// they are.
func splitPolicy(t *testing.T, u *unstructured.Unstructured) []*unstructured.Unstructured {
	if u.GetKind() != "NetworkPolicy" {
		return []*unstructured.Unstructured{u}
	}
	types, _, _ := unstructured.NestedStringSlice(u.Object, "spec", "policyTypes")
	if len(types) == 0 { // as the API server defaults them
		types = []string{"Ingress"}
		if eg, _, _ := unstructured.NestedSlice(u.Object, "spec", "egress"); len(eg) > 0 {
			types = append(types, "Egress")
		}
	}
	if !slices.Contains(types, "Ingress") || !slices.Contains(types, "Egress") {
		return []*unstructured.Unstructured{u}
	}
	in, eg := u.DeepCopy(), u.DeepCopy()
	in.SetName(u.GetName() + "-ingress")
	eg.SetName(u.GetName() + "-egress")
	unstructured.RemoveNestedField(in.Object, "spec", "egress")
	unstructured.RemoveNestedField(eg.Object, "spec", "ingress")
	if err := unstructured.SetNestedStringSlice(in.Object, []string{"Ingress"}, "spec", "policyTypes"); err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedStringSlice(eg.Object, []string{"Egress"}, "spec", "policyTypes"); err != nil {
		t.Fatal(err)
	}
	return []*unstructured.Unstructured{in, eg}
}
