package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agops/agops/internal/audit"
	"github.com/agops/agops/internal/policy"
)

// BenchmarkProxy compares a tools/call sent straight to a real MCP server (stateless, application/json) with the
// same call through the gateway (authentication, strict parsing, policy, limits, a no-op audit append, forwarding,
// response inspection), and through the caller's tool-proxy and the gateway (an agent that sends no token: the
// proxy adds the pod's, and the gateway routes by the tool's name). The differences of the p50-ns metrics are the
// gateway's overhead and the proxy's.
func BenchmarkProxy(b *testing.B) {
	up := newUpstream(b, upstreamMode{json: true, stateless: true})
	gw, err := New(Options{Policy: newPolicy(up.URL), Authenticator: writeTokens(b), AdminAuthenticator: writeApprovers(b), Audit: noopAudit{},
		ApprovalDir: b.TempDir(), HostRoutes: map[string]string{"tools": "tools"}, MaxRequestsPerMinute: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	defer srv.Close()
	tokenFile := filepath.Join(b.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(tokenA), 0o600); err != nil {
		b.Fatal(err)
	}
	cp, err := NewCallerProxy(CallerProxyOptions{Gateway: srv.URL, TokenFile: tokenFile})
	if err != nil {
		b.Fatal(err)
	}
	proxy := httptest.NewServer(cp)
	defer proxy.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	post := func(b *testing.B, url, host, token string) string {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(echoCall))
		req.Host = host
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		return string(body)
	}
	for _, target := range []struct{ name, url, host, token string }{
		{"direct", up.URL, "", tokenA},
		{"gateway", srv.URL + "/mcp/tools", "", tokenA},
		{"tool-proxy", proxy.URL + "/mcp", "tools:8811", ""},
	} {
		b.Run(target.name, func(b *testing.B) {
			if body := post(b, target.url, target.host, target.token); !strings.Contains(body, "echo: hi") {
				b.Fatalf("unexpected answer %s", body)
			}
			var lat []time.Duration
			for b.Loop() {
				start := time.Now()
				post(b, target.url, target.host, target.token)
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
		})
	}
}

// BenchmarkGatewayLoad measures the gateway with the real audit log (fsync'ed, group commit) on a temporary file:
//   - fixed-rate: 1,000 calls at 500 calls/s, direct and through the gateway, reporting p50 and p99;
//   - max: b.RunParallel with 64 concurrent callers, reporting calls/s and p50 and p99: direct, through the gateway
//     to the real server, and through the gateway to a canned upstream with the real audit (with and without an
//     Idempotency-Key) and with a no-op one.
//
// go test ./internal/gateway -run XXX -bench GatewayLoad -benchtime 1x
func BenchmarkGatewayLoad(b *testing.B) {
	up := newUpstream(b, upstreamMode{json: true, stateless: true})
	alog, err := audit.Open(filepath.Join(b.TempDir(), "audit.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer alog.Close()
	gw, err := New(Options{Policy: newPolicy(up.URL), Authenticator: writeTokens(b), AdminAuthenticator: writeApprovers(b), Audit: alog,
		ApprovalDir: b.TempDir(), MaxRequestsPerMinute: 1 << 30, MaxConcurrentPerAgent: 1 << 10})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128}}
	var keys atomic.Int64
	post := func(url string, keyed bool) error {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(echoCall))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+tokenA)
		if keyed {
			req.Header.Set(HeaderIdempotencyKey, fmt.Sprintf("bench-%d", keys.Add(1)))
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	// A canned upstream that answers at once isolates the gateway's own cost.
	canned := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"echo: hi"}]}}`)
	}))
	defer canned.Close()
	alog2, err := audit.Open(filepath.Join(b.TempDir(), "audit.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer alog2.Close()
	gw2, err := New(Options{Policy: newPolicy(canned.URL), Authenticator: writeTokens(b), AdminAuthenticator: writeApprovers(b), Audit: alog2,
		ApprovalDir: b.TempDir(), IdempotencyDir: b.TempDir(), MaxRequestsPerMinute: 1 << 30, MaxConcurrentPerAgent: 1 << 10})
	if err != nil {
		b.Fatal(err)
	}
	srv2 := httptest.NewServer(gw2.Handler())
	defer srv2.Close()
	// The same with a no-op audit: the cost of everything but the two durable records per call.
	gw3, err := New(Options{Policy: newPolicy(canned.URL), Authenticator: writeTokens(b), AdminAuthenticator: writeApprovers(b), Audit: noopAudit{},
		ApprovalDir: b.TempDir(), MaxRequestsPerMinute: 1 << 30, MaxConcurrentPerAgent: 1 << 10})
	if err != nil {
		b.Fatal(err)
	}
	srv3 := httptest.NewServer(gw3.Handler())
	defer srv3.Close()
	// One call at a time at a fixed rate: the latency a call pays, with its durable records (and, keyed, its key's
	// entries) waited for in turn.
	for _, target := range []struct {
		name, url string
		keyed     bool
	}{{"fixed-rate/direct", up.URL, false}, {"fixed-rate/gateway", srv.URL + "/mcp/tools", false},
		{"fixed-rate/gateway-canned-upstream", srv2.URL + "/mcp/tools", false},
		{"fixed-rate/gateway-keyed-canned-upstream", srv2.URL + "/mcp/tools", true}} {
		b.Run(target.name, func(b *testing.B) {
			for b.Loop() {
				const calls, rate = 1000, 500
				lat := make([]time.Duration, 0, calls)
				tick := time.NewTicker(time.Second / rate)
				for range calls {
					<-tick.C
					start := time.Now()
					if err := post(target.url, target.keyed); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(start))
				}
				tick.Stop()
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			}
		})
	}
	// Keyed: each call with its own Idempotency-Key, so that the key store writes its entry twice a call.
	for _, target := range []struct {
		name, url string
		keyed     bool
	}{{"max/direct", up.URL, false}, {"max/gateway-audited", srv.URL + "/mcp/tools", false},
		{"max/gateway-audited-canned-upstream", srv2.URL + "/mcp/tools", false},
		{"max/gateway-audited-keyed-canned-upstream", srv2.URL + "/mcp/tools", true},
		{"max/gateway-noop-audit-canned-upstream", srv3.URL + "/mcp/tools", false}} {
		b.Run(target.name, func(b *testing.B) {
			b.SetParallelism(32) // 64 callers on 2 cores
			b.ReportAllocs()     // of the whole process: callers, gateway and upstream
			var mu sync.Mutex
			var lat []time.Duration
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					t := time.Now()
					if err := post(target.url, target.keyed); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(t))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// BenchmarkAggregate is one tools/call (echo) by an agent's MCP session, straight to a member server's endpoint on the
// gateway, and through an aggregate of that member (Docker's MCP gateway, migrated): the second hop, inside the
// gateway over its in-memory network, is what the aggregate costs.
func BenchmarkAggregate(b *testing.B) {
	up := newUpstream(b, upstreamMode{json: true, stateless: true})
	pol := newPolicy(up.URL)
	pol.servers = append(pol.servers, policy.Server{Name: "kit", Kind: "mcp", Members: []string{"tools"}})
	gw, err := New(Options{Policy: pol, Authenticator: writeTokens(b), AdminAuthenticator: writeApprovers(b), Audit: noopAudit{},
		ApprovalDir: b.TempDir(), MaxRequestsPerMinute: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer gw.Close()
	srv := httptest.NewServer(gw.Handler())
	defer srv.Close()
	for _, server := range []string{"tools", "kit"} {
		b.Run(map[string]string{"tools": "member-direct", "kit": "through-aggregate"}[server], func(b *testing.B) {
			ctx := context.Background()
			cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "v1"}, nil).Connect(ctx, &mcp.StreamableClientTransport{
				Endpoint: srv.URL + "/mcp/" + server, MaxRetries: -1,
				HTTPClient: &http.Client{Transport: bearer{tokenA, &http.Transport{MaxIdleConnsPerHost: 4}}}}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer cs.Close()
			b.ResetTimer()
			for b.Loop() {
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
				if err != nil || res.IsError {
					b.Fatalf("echo: %v %+v", err, res)
				}
			}
		})
	}
}
