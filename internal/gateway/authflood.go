package gateway

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agops/agops/internal/audit"
)

// Refusals of unauthenticated requests are audited in aggregate: within each window, the first authFloodSingles
// are written one record each (so a lone mistake is seen as it is), and the rest are counted and written as one
// record when the window ends, naming how many came from how many addresses (the busiest first). An unauthenticated
// flood therefore costs a few records a window, not one fsynced record per request.
const (
	authFloodWindow    = 10 * time.Second
	authFloodSingles   = 8
	authFloodAddresses = 256 // distinct addresses counted by name per window; the rest are "other"
)

type authFlood struct {
	mu      sync.Mutex
	start   time.Time
	singles int
	counts  map[string]int // remote host → suppressed refusals in this window
	other   int
	timer   *time.Timer
	write   func(audit.Record) // appends the aggregate record
	record  func(counts map[string]int, other int, start, end time.Time) audit.Record
	now     func() time.Time
}

// admit reports whether this refusal is audited on its own; otherwise it is counted for the window's aggregate.
func (f *authFlood) admit(remote string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if now.Sub(f.start) >= authFloodWindow && f.counts == nil {
		f.start, f.singles = now, 0
	}
	if f.singles < authFloodSingles {
		f.singles++
		return true
	}
	if f.counts == nil {
		f.counts = map[string]int{}
		f.timer = time.AfterFunc(max(authFloodWindow-now.Sub(f.start), 0), f.flush)
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	if _, ok := f.counts[host]; ok || len(f.counts) < authFloodAddresses {
		f.counts[host]++
	} else {
		f.other++
	}
	return false
}

// flush writes the aggregate record of the window that ended and starts a new window.
func (f *authFlood) flush() {
	f.mu.Lock()
	counts, other, start := f.counts, f.other, f.start
	f.counts, f.other, f.start, f.singles = nil, 0, f.now(), 0
	f.mu.Unlock()
	if counts == nil {
		return
	}
	f.write(f.record(counts, other, start, f.now()))
}

// stop writes what is counted now; for a gateway that shuts down.
func (f *authFlood) stop() {
	f.mu.Lock()
	t := f.timer
	f.mu.Unlock()
	if t != nil && t.Stop() {
		f.flush()
	}
}

// topCounts sums counts (and other) and names the five largest.
func topCounts(counts map[string]int, other int) (total int, top []string) {
	total = other
	hosts := make([]string, 0, len(counts))
	for h, n := range counts {
		total += n
		hosts = append(hosts, h)
	}
	slices.SortFunc(hosts, func(a, b string) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return strings.Compare(a, b)
	})
	for _, h := range hosts[:min(len(hosts), 5)] {
		top = append(top, fmt.Sprintf("%s: %d", h, counts[h]))
	}
	return total, top
}

func floodRecord(counts map[string]int, other int, start, end time.Time) audit.Record {
	total, top := topCounts(counts, other)
	addrs := fmt.Sprintf("%d addresses", len(counts))
	if other > 0 {
		addrs = fmt.Sprintf("more than %d addresses", len(counts))
	}
	return audit.Record{
		Time: end, Event: "decision", RequestID: "aggregate", Decision: "deny", Rule: "gateway:authentication",
		Reason: fmt.Sprintf("%d more requests without a valid bearer token from %s between %s and %s (%s)", total,
			addrs, start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), strings.Join(top, ", ")),
	}
}

func limitRecord(counts map[string]int, other int, start, end time.Time) audit.Record {
	total, top := topCounts(counts, other)
	return audit.Record{
		Time: end, Event: "decision", RequestID: "aggregate", Decision: "deny", Rule: "limits:requests",
		Reason: fmt.Sprintf("%d more requests over an agent's request limits between %s and %s (%s)", total,
			start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), strings.Join(top, ", ")),
	}
}

// auditAuthFailure audits one refused unauthenticated request, alone or in aggregate.
func (g *Gateway) auditAuthFailure(ctx context.Context, rec audit.Record) {
	if g.authFlood.admit(rec.Remote) {
		_ = g.appendAudit(ctx, rec)
	}
}
