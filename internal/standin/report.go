package standin

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// LogPrefix starts every report line a stand-in writes to its log; the report's JSON follows it.
const LogPrefix = "agops-standin "

// maxLine bounds one log line ParseLog reads.
const maxLine = 1 << 20

// Report is what one stand-in container saw in one round of dials. Its JSON form is the struct with the field tags
// below.
type Report struct {
	Pod       string `json:"pod"`
	Namespace string `json:"namespace"`
	// Workload is the workload ID the stand-in belongs to ("namespace/name", as the reachability matrix names it);
	// Container is its container.
	Workload  string `json:"workload,omitempty"`
	Container string `json:"container,omitempty"`
	// Round counts from 1.
	Round int       `json:"round"`
	Time  time.Time `json:"time"`
	// Listening lists the ports the stand-in listens on ("8080/TCP").
	Listening []string `json:"listening"`
	// Results are the dials of the addresses of the configuration (Source "config:...") and of the peers
	// (Source "probe"), in that order.
	Results []Result `json:"results"`
	// Self are the dials of addresses of the configuration that name the container itself (localhost,
	// 127.0.0.1, 0.0.0.0).
	Self []Result `json:"self,omitempty"`
}

// Result is one dial.
type Result struct {
	// Target is the address as configured ("postgres:5432"), never with credentials.
	Target string `json:"target"`
	// Source says where the target comes from: "config:NAME" (an environment variable), "config:args" (the
	// original command or arguments) or "probe" (a peer's port, from --probe).
	Source string `json:"source"`
	// Workload is the destination workload of a probe target ("namespace/name").
	Workload string `json:"workload,omitempty"`
	// Port is the destination's port: for a probe target the workload's container port (which a Service may map
	// from another port), else the port dialed.
	Port     int32  `json:"port"`
	Protocol string `json:"protocol"`
	OK       bool   `json:"ok"`
	// Error classifies a failed dial: "timeout" (no answer: usually a NetworkPolicy dropping packets), "refused"
	// (nothing listens, or a policy that rejects), "unreachable", "reset", "dns: ...", or the dialer's message.
	Error string `json:"error,omitempty"`
	// Self says the connection came back to the dialing pod itself (through its own workload's Service): it
	// proves nothing about the policies between replicas, and Measure leaves it out.
	Self bool `json:"self,omitempty"`
	// Ms is how long the dial took, in milliseconds.
	Ms int64 `json:"ms"`
}

// key identifies the container a report comes from.
func (r Report) key() string { return r.Namespace + "/" + r.Pod + "/" + r.Container }

// Line is the report as the stand-in writes it: LogPrefix, the JSON, a newline.
func (r Report) Line() ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding report: %w", err)
	}
	return append(append([]byte(LogPrefix), b...), '\n'), nil
}

// ParseLog reads stand-in reports from log text, as `kubectl logs` prints it (with or without --timestamps and
// --prefix) or the API returns it, possibly several containers' logs one after the other. Lines that hold no
// report (LogPrefix followed by '{') are skipped. It keeps the last report of each container (highest round; on a
// tie the later line) and returns them sorted by namespace, pod and container. A malformed report line is an
// error naming its line; the well-formed reports are returned with it.
func ParseLog(r io.Reader) ([]Report, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxLine)
	last := map[string]Report{}
	var errs []error
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		i := bytes.Index(line, []byte(LogPrefix+"{"))
		if i < 0 {
			continue
		}
		rep, err := parseReport(line[i+len(LogPrefix):])
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", n, err))
			continue
		}
		if have, ok := last[rep.key()]; !ok || rep.Round >= have.Round {
			last[rep.key()] = rep
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("reading log: %w", err))
	}
	out := make([]Report, 0, len(last))
	for _, rep := range last {
		out = append(out, rep)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out, errors.Join(errs...)
}

// parseReport decodes and validates one report's JSON.
func parseReport(b []byte) (Report, error) {
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return Report{}, fmt.Errorf("stand-in report: %w", err)
	}
	if err := rep.validate(); err != nil {
		return Report{}, fmt.Errorf("stand-in report of pod %q: %w", rep.Pod, err)
	}
	return rep, nil
}

func (r Report) validate() error {
	var errs []error
	if strings.TrimSpace(r.Pod) == "" {
		errs = append(errs, errors.New("no pod"))
	}
	if r.Round < 1 {
		errs = append(errs, fmt.Errorf("round %d: rounds count from 1", r.Round))
	}
	for i, res := range r.Results {
		if err := res.validate(); err != nil {
			errs = append(errs, fmt.Errorf("results[%d]: %w", i, err))
		}
	}
	for i, res := range r.Self {
		if err := res.validate(); err != nil {
			errs = append(errs, fmt.Errorf("self[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

func (r Result) validate() error {
	switch {
	case r.Target == "":
		return errors.New("no target")
	case r.Source == "":
		return fmt.Errorf("target %q: no source", r.Target)
	case r.Port < 1 || r.Port > 65535:
		return fmt.Errorf("target %q: port %d is not between 1 and 65535", r.Target, r.Port)
	case r.Protocol != tcp && r.Protocol != udp:
		return fmt.Errorf("target %q: protocol %q is neither TCP nor UDP", r.Target, r.Protocol)
	case r.Ms < 0:
		return fmt.Errorf("target %q: negative duration %d ms", r.Target, r.Ms)
	case !r.OK && r.Error == "":
		return fmt.Errorf("target %q: failed without an error", r.Target)
	}
	return nil
}
