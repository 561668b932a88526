package standin

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// State is what is known of a connection.
type State string

// States of a connection. Unknown is a pair nothing measured (or, for Compose, a workload that is not a Compose
// service).
const (
	Open    State = "open"
	Closed  State = "closed"
	Flaky   State = "flaky" // measured: it connected in some dials and failed in others
	Unknown State = ""
)

// Measured is the reachability matrix the stand-ins saw.
type Measured struct {
	Pairs []MeasuredPair `json:"pairs"` // sorted by from, to, port number and protocol
}

// MeasuredPair is what every dial from one workload's stand-ins to one port of another workload found.
type MeasuredPair struct {
	From  string `json:"from"` // workload ID, "namespace/name"
	To    string `json:"to"`
	Port  string `json:"port"` // the destination's container port, "8000/TCP"
	State State  `json:"state"`
	// OK and Failed count the dials; Errors are the distinct errors of the failed ones, sorted.
	OK     int      `json:"ok"`
	Failed int      `json:"failed"`
	Errors []string `json:"errors,omitempty"`
	// Pods counts the source's stand-ins (pod and container) that dialed.
	Pods int `json:"pods"`
}

// Measure aggregates reports into the measured matrix. It takes, of every stand-in (pod and container), its
// reports of the last rounds (at least 1) and, of those, the dials of probe targets: a port is open when every
// dial from every pod of the source connected, closed when every one failed, flaky otherwise. Reports without a
// workload, and dials of the configuration's addresses (which name no workload), are left out.
func Measure(reports []Report, rounds int) Measured {
	rounds = max(rounds, 1)
	last := map[string]int{}
	for _, r := range reports {
		last[r.key()] = max(last[r.key()], r.Round)
	}
	pairs := map[[3]string]*MeasuredPair{}
	pods := map[[3]string]map[string]bool{}
	for _, r := range reports {
		if r.Workload == "" || r.Round <= last[r.key()]-rounds {
			continue
		}
		for _, res := range r.Results {
			if res.Workload == "" || res.Self {
				continue
			}
			k := [3]string{r.Workload, res.Workload, strconv.Itoa(int(res.Port)) + "/" + res.Protocol}
			p := pairs[k]
			if p == nil {
				p = &MeasuredPair{From: k[0], To: k[1], Port: k[2]}
				pairs[k], pods[k] = p, map[string]bool{}
			}
			pods[k][r.key()] = true
			if res.OK {
				p.OK++
			} else if p.Failed++; !slices.Contains(p.Errors, res.Error) {
				p.Errors = append(p.Errors, res.Error)
			}
		}
	}
	m := Measured{Pairs: []MeasuredPair{}}
	for k, p := range pairs {
		p.Pods = len(pods[k])
		slices.Sort(p.Errors)
		switch {
		case p.Failed == 0:
			p.State = Open
		case p.OK == 0:
			p.State = Closed
		default:
			p.State = Flaky
		}
		m.Pairs = append(m.Pairs, *p)
	}
	slices.SortFunc(m.Pairs, func(a, b MeasuredPair) int { return comparePairs(a.From, a.To, a.Port, b.From, b.To, b.Port) })
	return m
}

// comparePairs orders pairs by source, destination, port number and protocol.
func comparePairs(fromA, toA, portA, fromB, toB, portB string) int {
	if c := cmp.Compare(fromA, fromB); c != 0 {
		return c
	}
	if c := cmp.Compare(toA, toB); c != 0 {
		return c
	}
	na, pa := splitPort(portA)
	nb, pb := splitPort(portB)
	if c := cmp.Compare(na, nb); c != 0 {
		return c
	}
	return cmp.Compare(pa, pb)
}

// splitPort reads "8000/TCP".
func splitPort(s string) (int, string) {
	num, proto, _ := strings.Cut(s, "/")
	n, _ := strconv.Atoi(num)
	return n, proto
}

func (p MeasuredPair) String() string {
	s := fmt.Sprintf("%s (%d of %d dials connected", p.State, p.OK, p.OK+p.Failed)
	if len(p.Errors) > 0 {
		s += "; " + strings.Join(p.Errors, ", ")
	}
	return s + ")"
}
