package gateway

import (
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxToolLabels bounds the tool label values per server: tool names come from callers, and a caller must not be
// able to grow the metrics without end. Names beyond the bound are counted as "_other".
const maxToolLabels = 256

// metrics are one gateway's Prometheus collectors, in a registry of their own.
type metrics struct {
	reg          *prometheus.Registry
	calls        *prometheus.CounterVec   // server, tool, decision
	latency      *prometheus.HistogramVec // server: forwarded call, end to end through the upstream
	upstreamErrs *prometheus.CounterVec   // server
	rejected     *prometheus.CounterVec   // reason: requests refused before a call was judged
	tokens       *prometheus.CounterVec   // server
	auditLatency prometheus.Histogram
	auditErrors  prometheus.Counter

	mu    sync.Mutex
	tools map[string]map[string]bool // server → tool names given a label
}

func newMetrics(store *approvalStore) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agops_gateway_calls_total", Help: "Judged calls by server, tool and decision.",
		}, []string{"server", "tool", "decision"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "agops_gateway_call_duration_seconds", Help: "Duration of forwarded calls, upstream included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}, []string{"server"}),
		upstreamErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agops_gateway_upstream_errors_total", Help: "Forwarded calls the tool server failed.",
		}, []string{"server"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agops_gateway_rejected_requests_total", Help: "Requests refused before any call was judged.",
		}, []string{"reason"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agops_gateway_tokens_total", Help: "Tokens reported by tool results.",
		}, []string{"server"}),
		auditLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "agops_gateway_audit_append_duration_seconds", Help: "Audit appends, fsync included.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12),
		}),
		auditErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agops_gateway_audit_append_errors_total", Help: "Audit appends that failed (the call was denied).",
		}),
		tools: map[string]map[string]bool{},
	}
	pending := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "agops_gateway_pending_approvals", Help: "Calls waiting for a human approval.",
	}, func() float64 { return float64(store.pendingCount()) })
	m.reg.MustRegister(m.calls, m.latency, m.upstreamErrs, m.rejected, m.tokens, m.auditLatency, m.auditErrors,
		pending, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// call counts one judged call.
func (m *metrics) call(server, tool, decision string) {
	m.calls.WithLabelValues(server, m.toolLabel(server, tool), decision).Inc()
}

func (m *metrics) toolLabel(server, tool string) string {
	if len(tool) > 128 {
		return "_other"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	known := m.tools[server]
	if known == nil {
		known = map[string]bool{}
		m.tools[server] = known
	}
	if known[tool] {
		return tool
	}
	if len(known) >= maxToolLabels {
		return "_other"
	}
	known[tool] = true
	return tool
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
