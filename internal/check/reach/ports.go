package reach

import (
	"fmt"
	"sort"
)

// protocols are the protocols a NetworkPolicy can name, in the order the matrix lists them.
var protocols = [...]string{"TCP", "UDP", "SCTP"}

func protocolIndex(p string) int {
	for i, q := range protocols {
		if q == p {
			return i
		}
	}
	return -1
}

// span is the port range lo..hi.
type span struct{ lo, hi int32 }

// portSet is a set of ports per protocol (indexed as protocols), each a sorted list of disjoint, non-adjacent
// spans.
type portSet [len(protocols)][]span

func allPorts() portSet {
	var s portSet
	for i := range s {
		s[i] = []span{{1, 65535}}
	}
	return s
}

func (s *portSet) add(protocol string, lo, hi int32) {
	i := protocolIndex(protocol)
	if i < 0 {
		return
	}
	s[i] = normalize(append(s[i], span{lo, hi}))
}

func (s *portSet) union(t portSet) {
	for i := range s {
		if len(t[i]) > 0 {
			s[i] = normalize(append(s[i], t[i]...))
		}
	}
}

func normalize(spans []span) []span {
	sort.Slice(spans, func(i, j int) bool { return spans[i].lo < spans[j].lo })
	out := spans[:0]
	for _, sp := range spans {
		if n := len(out); n > 0 && sp.lo <= out[n-1].hi+1 {
			out[n-1].hi = max(out[n-1].hi, sp.hi)
			continue
		}
		out = append(out, sp)
	}
	return out
}

func (s portSet) intersect(t portSet) portSet {
	var out portSet
	for i := range s {
		a, b := s[i], t[i]
		for len(a) > 0 && len(b) > 0 {
			lo, hi := max(a[0].lo, b[0].lo), min(a[0].hi, b[0].hi)
			if lo <= hi {
				out[i] = append(out[i], span{lo, hi})
			}
			if a[0].hi < b[0].hi {
				a = a[1:]
			} else {
				b = b[1:]
			}
		}
	}
	return out
}

func (s portSet) contains(port int32, protocol string) bool {
	i := protocolIndex(protocol)
	if i < 0 {
		return false
	}
	for _, sp := range s[i] {
		if sp.lo <= port && port <= sp.hi {
			return true
		}
	}
	return false
}

func (s portSet) empty() bool {
	for _, spans := range s {
		if len(spans) > 0 {
			return false
		}
	}
	return true
}

func full(spans []span) bool { return len(spans) == 1 && spans[0] == span{1, 65535} }

// strings renders the set: "any" for every port of every protocol, else per protocol "any/UDP", "53/UDP" or
// "8000-8100/TCP".
func (s portSet) strings() []string {
	if full(s[0]) && full(s[1]) && full(s[2]) {
		return []string{"any"}
	}
	var out []string
	for i, spans := range s {
		switch {
		case full(spans):
			out = append(out, "any/"+protocols[i])
		default:
			for _, sp := range spans {
				if sp.lo == sp.hi {
					out = append(out, fmt.Sprintf("%d/%s", sp.lo, protocols[i]))
				} else {
					out = append(out, fmt.Sprintf("%d-%d/%s", sp.lo, sp.hi, protocols[i]))
				}
			}
		}
	}
	return out
}

// portSet is the set of ports the rule admits on dst: its named ports resolve to dst's ports of that name.
func (r *rule) portSet(dst Peer) portSet {
	if r.ports == nil {
		return allPorts()
	}
	var s portSet
	for _, p := range r.ports {
		switch {
		case p.name != "":
			for _, q := range dst.Ports {
				if q.Name == p.name && q.Protocol == p.protocol {
					s.add(q.Protocol, q.Port, q.Port)
				}
			}
		case p.lo == 0:
			s.add(p.protocol, 1, 65535)
		default:
			s.add(p.protocol, p.lo, p.hi)
		}
	}
	return s
}
