package standin

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/agops/agops/internal/check/reach"
)

// ComposeReach is what Compose allowed: the Compose networks of each workload, by workload ID ("namespace/name").
// Members of a shared network reach each other on every port; nothing else reaches anything. A workload that is
// not in the map (one agops added, like the gateway) has no Compose verdict.
type ComposeReach map[string][]string

// state is what Compose allowed from one workload to another.
func (c ComposeReach) state(from, to string) State {
	a, okA := c[from]
	b, okB := c[to]
	if !okA || !okB {
		return Unknown
	}
	if slices.ContainsFunc(a, func(n string) bool { return slices.Contains(b, n) }) {
		return Open
	}
	return Closed
}

// Comparison sets, for every pair of workloads and every port of the destination, what Compose allowed, what
// `agops check` predicted and what the stand-ins measured. Its JSON form is the struct with the field tags below.
type Comparison struct {
	Rows []Row `json:"rows"` // sorted by from, to, port number and protocol
	// Disagreements name every pair where the measurement (open or closed) is not the prediction, Flaky every
	// pair measured flaky, ComposeDifferences every pair where Kubernetes (measured, else predicted) is not what
	// Compose allowed. One line each, in the order of Rows.
	Disagreements      []string `json:"disagreements"`
	Flaky              []string `json:"flaky"`
	ComposeDifferences []string `json:"composeDifferences"`
	// Unmeasured counts the rows no stand-in dialed.
	Unmeasured int `json:"unmeasured"`
}

// Row is one pair and port.
type Row struct {
	From      string `json:"from"`
	To        string `json:"to"`
	Port      string `json:"port"` // "8000/TCP"
	Compose   State  `json:"compose"`
	Predicted State  `json:"predicted"`
	Measured  State  `json:"measured"`
	// Errors are the measured failures' errors ("timeout", "refused").
	Errors             []string `json:"errors,omitempty"`
	Disagrees          bool     `json:"disagrees"`
	DiffersFromCompose bool     `json:"differsFromCompose"`
}

// Kubernetes is what the cluster does for the row: the measurement when it is open or closed, else the
// prediction.
func (r Row) Kubernetes() State {
	if r.Measured == Open || r.Measured == Closed {
		return r.Measured
	}
	return r.Predicted
}

func (r Row) pair() string { return r.From + " -> " + r.To + " " + r.Port }

// Compare lists every pair (from, to, port): every workload of the predicted matrix to every declared port of
// every workload (ServiceLB's pods, kube-dns and the outside world left out), and every pair measured besides.
// Workloads on their node's network are left out as sources: what they reach depends on where their pods run (a
// node reaches the pods on it whatever the policies say), so neither verdict would be the cluster's.
func Compare(predicted reach.Matrix, measured Measured, compose ComposeReach) Comparison {
	got := map[[3]string]MeasuredPair{}
	for _, p := range measured.Pairs {
		got[[3]string{p.From, p.To, p.Port}] = p
	}
	edges := map[[2]string][]string{}
	for _, e := range predicted.Edges {
		edges[[2]string{e.From, e.To}] = e.Ports
	}
	rows := map[[3]string]bool{}
	var keys [][3]string
	add := func(k [3]string) {
		if !rows[k] {
			rows[k] = true
			keys = append(keys, k)
		}
	}
	hostNet := map[string]bool{}
	for _, src := range predicted.Nodes {
		hostNet[src.ID] = src.HostNetwork
		for _, dst := range predicted.Nodes {
			if workloadNode(src) && workloadNode(dst) && !src.HostNetwork {
				for _, p := range dst.Ports {
					add([3]string{src.ID, dst.ID, p.String()})
				}
			}
		}
	}
	for _, p := range measured.Pairs {
		if !hostNet[p.From] {
			add([3]string{p.From, p.To, p.Port})
		}
	}
	slices.SortFunc(keys, func(a, b [3]string) int { return comparePairs(a[0], a[1], a[2], b[0], b[1], b[2]) })
	c := Comparison{Rows: []Row{}, Disagreements: []string{}, Flaky: []string{}, ComposeDifferences: []string{}}
	for _, k := range keys {
		m, ok := got[k]
		r := Row{From: k[0], To: k[1], Port: k[2], Compose: compose.state(k[0], k[1]), Predicted: Closed, Measured: m.State, Errors: m.Errors}
		if cellAllows(edges[[2]string{k[0], k[1]}], k[2]) {
			r.Predicted = Open
		}
		c.add(r, m, ok)
	}
	return c
}

// add appends a row and names what it shows.
func (c *Comparison) add(r Row, m MeasuredPair, measured bool) {
	switch {
	case !measured:
		c.Unmeasured++
	case r.Measured == Flaky:
		c.Flaky = append(c.Flaky, fmt.Sprintf("%s: predicted %s, measured %s", r.pair(), r.Predicted, m))
	case r.Measured != r.Predicted:
		r.Disagrees = true
		c.Disagreements = append(c.Disagreements, fmt.Sprintf("%s: predicted %s, measured %s", r.pair(), r.Predicted, m))
	}
	if k := r.Kubernetes(); r.Compose != Unknown && k != r.Compose {
		r.DiffersFromCompose = true
		how := "predicted"
		if r.Kubernetes() == r.Measured {
			how = "measured"
		}
		c.ComposeDifferences = append(c.ComposeDifferences, fmt.Sprintf("%s: Compose %s, Kubernetes %s (%s)", r.pair(), r.Compose, k, how))
	}
	c.Rows = append(c.Rows, r)
}

// workloadNode tells whether a node of the matrix is a workload stand-ins can run in.
func workloadNode(n reach.Node) bool { return n.Kind != "" && n.Kind != "ServiceLB" }

// cellAllows reads a cell of the matrix (reach.Edge.Ports): whether it admits port ("8000/TCP"). A cell lists
// declared ports ("8000/TCP"), ranges ("8000-8100/TCP"), every port of a protocol ("any/UDP") or of all ("any").
func cellAllows(cell []string, port string) bool {
	n, proto := splitPort(port)
	for _, s := range cell {
		rng, p, hasProto := strings.Cut(s, "/")
		if hasProto && p != proto {
			continue
		}
		if rng == "any" {
			return true
		}
		lo, hi, isRange := strings.Cut(rng, "-")
		if !isRange {
			hi = lo
		}
		l, err1 := strconv.Atoi(lo)
		h, err2 := strconv.Atoi(hi)
		if err1 == nil && err2 == nil && l <= n && n <= h {
			return true
		}
	}
	return false
}

// Text writes the comparison as a table of every row, then the disagreements, the flaky pairs and the
// differences from Compose.
func (c Comparison) Text(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FROM\tTO\tPORT\tCOMPOSE\tPREDICTED\tMEASURED\tNOTE")
	for _, r := range c.Rows {
		var note []string
		if r.Disagrees {
			note = append(note, "DISAGREES")
		}
		if r.Measured == Flaky {
			note = append(note, "flaky")
		}
		if r.DiffersFromCompose {
			note = append(note, "not as in Compose")
		}
		measured := dash(string(r.Measured))
		if len(r.Errors) > 0 {
			measured += " (" + strings.Join(r.Errors, ", ") + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.From, r.To, r.Port, dash(string(r.Compose)), dash(string(r.Predicted)),
			measured, dash(strings.Join(note, ", ")))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%d pairs, %d not measured\n", len(c.Rows), c.Unmeasured)
	section(&b, "DISAGREEMENTS (predicted by agops check, measured by the stand-ins)", c.Disagreements)
	section(&b, "FLAKY (connected in some dials, not in others)", c.Flaky)
	section(&b, "KUBERNETES IS NOT AS COMPOSE WAS", c.ComposeDifferences)
	_, err := io.WriteString(w, b.String())
	return err
}

func section(b *strings.Builder, title string, lines []string) {
	fmt.Fprintf(b, "\n%s: %d\n", title, len(lines))
	for _, l := range lines {
		b.WriteString("- " + l + "\n")
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// JSON is the comparison as indented JSON with a final newline; see Comparison for the shape.
func (c Comparison) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
