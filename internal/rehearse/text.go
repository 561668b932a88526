package rehearse

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// Text renders the timeline and the per-service table.
func (r Report) Text() string {
	if r.Killed == "" {
		return r.readinessText()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Timeline (t = 0 when the host of %s was killed):\n", r.Killed)
	for _, e := range r.Timeline {
		fmt.Fprintf(&b, "  %s  %s\n", stamp(e.At), e.What)
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKLOAD\tREPLICAS\tBEFORE\tDURING\tAFTER\tON "+strings.ToUpper(r.Killed)+"\tRECOVERY\tVERDICT")
	for _, s := range r.Services {
		rec := "-"
		if s.Recovered > 0 {
			rec = s.Recovered.String()
		}
		fmt.Fprintf(tw, "%s/%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", strings.ToLower(s.Workload.Kind), s.Workload.Name,
			s.Desired, s.Before, s.During, s.After, s.OnKilled, rec, s.Verdict)
	}
	tw.Flush()
	if m := r.Reachability; m != nil {
		fmt.Fprintf(&b, "\nReachability measured by stand-ins: %d pairs, %d agree with agops check, %d disagree, %d flaky, %d unmeasured.\n",
			m.Pairs, m.Agree, len(m.Disagreements), len(m.Flaky), m.Unmeasured)
		_ = m.Comparison.Text(&b)
	}
	if t := r.Traffic; t != nil {
		fmt.Fprintf(&b, "\nTraffic: a client on %s opened a connection to %s (%s) every 100ms: %d of %d failed; "+
			"longest outage %s (from %s after the kill)", t.Node, t.Workload, t.Target, t.Failed, t.Requests,
			t.LongestOutage, t.OutageAt)
		if t.Failed > 0 {
			fmt.Fprintf(&b, "; last failure %s after the kill", t.LastFailure)
		}
		b.WriteString(".\n")
	}
	down := r.Down()
	switch {
	case len(down) == 0:
		fmt.Fprintf(&b, "\nVerdict: every service survives losing %s.\n", r.Killed)
	default:
		fmt.Fprintf(&b, "\nVerdict: %d of %d services have downtime when %s dies: %s.\n", len(down), len(r.Services), r.Killed, strings.Join(down, ", "))
	}
	return b.String()
}

// readinessText renders a rehearsal that killed nothing (on the user's cluster): the timeline, readiness and the
// matrix.
func (r Report) readinessText() string {
	var b strings.Builder
	b.WriteString("Timeline:\n")
	for _, e := range r.Timeline {
		fmt.Fprintf(&b, "  %s\n", e.What)
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKLOAD\tREPLICAS\tREADY\tNODES\tVERDICT")
	ready := 0
	for _, s := range r.Services {
		if s.Before >= s.Desired {
			ready++
		}
		fmt.Fprintf(tw, "%s/%s\t%d\t%d\t%s\t%s\n", strings.ToLower(s.Workload.Kind), s.Workload.Name, s.Desired, s.Before,
			strings.Join(s.Nodes, ","), s.Verdict)
	}
	tw.Flush()
	if m := r.Reachability; m != nil {
		fmt.Fprintf(&b, "\nReachability measured by stand-ins: %d pairs, %d agree with agops check, %d disagree, %d flaky, %d unmeasured.\n",
			m.Pairs, m.Agree, len(m.Disagreements), len(m.Flaky), m.Unmeasured)
		_ = m.Comparison.Text(&b)
	}
	fmt.Fprintf(&b, "\nVerdict: %d of %d workloads ready; nothing was killed.\n", ready, len(r.Services))
	return b.String()
}

// Down lists the workloads that lost every ready replica or did not come back.
func (r Report) Down() []string {
	var out []string
	for _, s := range r.Services {
		if s.Desired > 0 && (s.Downtime || s.After < s.Desired) {
			out = append(out, s.Workload.Name)
		}
	}
	return out
}

func stamp(d time.Duration) string {
	return fmt.Sprintf("%+5.0fs", d.Seconds())
}
