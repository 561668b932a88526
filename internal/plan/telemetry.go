package plan

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/agops/agops/internal/model"
)

// CheckTelemetryOptions refuses an OTLPEndpoint that is not an http(s) URL with a host.
func CheckTelemetryOptions(o Options) error {
	if o.OTLPEndpoint == "" {
		return nil
	}
	u, err := url.Parse(o.OTLPEndpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return fmt.Errorf("--otel-endpoint %q: want the collector's OTLP/HTTP URL, such as http://otel-collector.observability:4318", o.OTLPEndpoint)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("--otel-endpoint %q: port must be 1-65535", o.OTLPEndpoint)
		}
	}
	return nil
}

// otlpPort is the TCP port of the collector's URL (checked by CheckTelemetryOptions).
func otlpPort(endpoint string) int32 {
	u, _ := url.Parse(endpoint)
	if n, err := strconv.Atoi(u.Port()); err == nil {
		return int32(n)
	}
	if u.Scheme == "https" {
		return 443
	}
	return 80
}

// ruleTelemetry points the agops gateways and the agops workers at the OpenTelemetry collector the user named
// (--otel-endpoint): they export a trace of every governed call and every agent run (docs/telemetry.md), through
// the standard OTEL_* variables, and their egress admits the collector's port. Without a collector nothing changes:
// export is off by default.
func (pl *planner) ruleTelemetry() {
	if pl.opts.OTLPEndpoint == "" {
		return
	}
	port := otlpPort(pl.opts.OTLPEndpoint)
	var targets []string
	for _, ns := range sortedKeys(pl.gateways) {
		targets = append(targets, pl.gateways[ns])
	}
	for _, n := range pl.primaryServices() {
		if pl.isAgopsWorker(n) {
			targets = append(targets, n)
		}
	}
	for _, n := range targets {
		w, c := pl.work[n], pl.primary[n]
		if w == nil || c == nil {
			continue
		}
		for _, v := range []model.EnvVar{
			{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Value: pl.opts.OTLPEndpoint},
			{Name: "OTEL_SERVICE_NAME", Value: w.Name},
			{Name: "OTEL_TRACES_EXPORTER", Value: "otlp"},
		} {
			setEnv(c, v)
		}
		what := "every agent run (workflows, model and tool calls)"
		if !pl.isAgopsWorker(n) {
			what = "every governed call (authentication, decision, approval wait, upstream call, audit write)"
		}
		pl.record(n, "telemetry", model.Mapped, fmt.Sprintf(
			"traces of %s go over OTLP/HTTP to %s (--otel-endpoint): OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME=%s, OTEL_TRACES_EXPORTER=otlp; egress to TCP port %d is allowed (docs/telemetry.md)",
			what, pl.opts.OTLPEndpoint, w.Name, port), "")
		pl.allowCollector(n, w.Name, port)
	}
}

// allowCollector adds egress to the collector's port, to any address, to the workload's own network policy.
func (pl *planner) allowCollector(n, workload string, port int32) {
	ns := pl.nsOf(n)
	for i := range pl.policies {
		p := &pl.policies[i]
		if p.Namespace == ns && p.Workload == workload && p.PolicyEgress {
			p.Egress = append(p.Egress, model.TrafficRule{Ports: []model.PolicyPort{{Port: port, Protocol: model.TCP}}})
		}
	}
}
