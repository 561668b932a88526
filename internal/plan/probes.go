package plan

import (
	"fmt"
	"math"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/agops/agops/internal/compose"
	"github.com/agops/agops/internal/model"
)

// Compose's healthcheck defaults.
const (
	defaultInterval      = 30 * time.Second
	defaultTimeout       = 30 * time.Second
	defaultRetries       = 3
	defaultStartInterval = 5 * time.Second
)

// ruleProbes maps healthcheck to readiness and liveness probes (and a startup probe for start_period). A service
// without a healthcheck but with a port gets a TCP readiness probe, so that peers waiting on it see it listen.
func (pl *planner) ruleProbes() {
	for _, n := range pl.order {
		c := pl.primary[n]
		w := pl.workloadOf(n)
		if c == nil || w.Kind == model.Job {
			if c != nil && pl.svcs[n].HealthCheck != nil {
				pl.record(n, "healthcheck", model.Dropped, "a Job runs to completion; its health is its exit code", "")
			}
			continue
		}
		// Agent workers run by agops and Temporal servers get their probes from their own rules.
		if pl.isAgopsWorker(n) || pl.temporalServer(n) && pl.hints[n].Probe == nil {
			continue
		}
		if h := pl.hints[n].Probe; h != nil {
			pl.hintProbe(n, c, h)
			continue
		}
		hc := pl.svcs[n].HealthCheck
		switch {
		case hc != nil && (hc.Disable || len(hc.Test) > 0 && hc.Test[0] == "NONE"):
			pl.record(n, "healthcheck", model.Mapped, "healthcheck disabled: no probes", "")
		case hc != nil && len(hc.Test) > 0:
			pl.healthProbes(n, c, hc)
		default:
			pl.defaultProbe(n, c)
		}
	}
}

func (pl *planner) healthProbes(n string, c *model.Container, hc *types.HealthCheckConfig) {
	if len(hc.Test) == 1 && (hc.Test[0] == "CMD" || hc.Test[0] == "CMD-SHELL") {
		pl.record(n, "healthcheck", model.Dropped, "the healthcheck has no command", "")
		return
	}
	var exec []string
	switch hc.Test[0] {
	case "CMD":
		exec = hc.Test[1:]
	case "CMD-SHELL":
		exec = append([]string{"sh", "-c"}, hc.Test[1:]...)
	default:
		exec = append([]string{"sh", "-c"}, hc.Test...)
	}
	interval := durationOr(hc.Interval, defaultInterval)
	timeout := durationOr(hc.Timeout, defaultTimeout)
	retries := int32(defaultRetries)
	if hc.Retries != nil {
		retries = int32(min(*hc.Retries, math.MaxInt32))
	}
	base := model.Probe{Exec: exec, PeriodSeconds: seconds(interval), TimeoutSeconds: seconds(timeout), FailureThreshold: max(retries, 1)}
	readiness, liveness := base, base
	c.Readiness, c.Liveness = &readiness, &liveness
	reason := fmt.Sprintf("readiness and liveness probes run the %s check every %ds (timeout %ds, %d failures)", hc.Test[0], base.PeriodSeconds, base.TimeoutSeconds, base.FailureThreshold)
	if hc.StartPeriod != nil && *hc.StartPeriod > 0 {
		startInterval := durationOr(hc.StartInterval, defaultStartInterval)
		startup := base
		startup.PeriodSeconds = seconds(startInterval)
		startup.FailureThreshold = int32(math.Ceil(float64(*hc.StartPeriod)/float64(startInterval))) + base.FailureThreshold
		c.Startup = &startup
		reason += fmt.Sprintf("; a startup probe allows %v to start", time.Duration(*hc.StartPeriod))
	}
	outcome := model.Mapped
	if interval < time.Second || timeout < time.Second {
		outcome = model.Approximated
		reason += "; sub-second durations are rounded up to 1s"
	}
	pl.record(n, "healthcheck", outcome, reason+". Unlike Compose, a failing liveness probe restarts the container", "")
}

func (pl *planner) defaultProbe(n string, c *model.Container) {
	for _, p := range c.Ports {
		if p.Protocol == model.TCP {
			c.Readiness = &model.Probe{TCPPort: p.Port, PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: 3}
			pl.record(n, "default:probe", model.Approximated,
				fmt.Sprintf("no healthcheck: a TCP readiness probe on port %d marks the pod ready once it listens", p.Port),
				"add a healthcheck, or x-agops: {probe: {http: {path: /healthz, port: PORT}}}")
			return
		}
	}
}

func (pl *planner) hintProbe(n string, c *model.Container, h *compose.ProbeHint) {
	if h.None {
		pl.record(n, "x-agops.probe", model.Mapped, "probes disabled by hint", "")
		return
	}
	p := model.Probe{PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: 3, InitialDelaySeconds: h.InitialDelay}
	if h.Period > 0 {
		p.PeriodSeconds = h.Period
	}
	switch {
	case h.HTTP != nil:
		p.HTTPGet = &model.HTTPGet{Path: h.HTTP.Path, Port: h.HTTP.Port}
	case h.TCP > 0:
		p.TCPPort = h.TCP
	case len(h.Exec) > 0:
		p.Exec = h.Exec
	default:
		pl.fail("service %q: x-agops.probe: give one of http, tcp, exec or none", n)
		return
	}
	readiness, liveness := p, p
	c.Readiness, c.Liveness = &readiness, &liveness
	pl.record(n, "x-agops.probe", model.Mapped, "readiness and liveness probes from the hint", "")
}

func durationOr(d *types.Duration, def time.Duration) time.Duration {
	if d == nil || *d <= 0 {
		return def
	}
	return time.Duration(*d)
}

// seconds rounds up to whole seconds, at least 1.
func seconds(d time.Duration) int32 {
	s := int64(math.Ceil(d.Seconds()))
	return int32(max(1, min(s, math.MaxInt32)))
}
