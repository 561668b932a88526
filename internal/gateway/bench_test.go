package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkProxy compares a tools/call sent straight to a real MCP server (stateless, application/json) with the
// same call through the gateway (authentication, strict parsing, policy, limits, a no-op audit append, forwarding,
// response inspection). The difference of the p50-ns metrics is the gateway's overhead.
func BenchmarkProxy(b *testing.B) {
	up := newUpstream(b, upstreamMode{json: true, stateless: true})
	gw, err := New(Options{Policy: newPolicy(up.URL), Authenticator: writeTokens(b), Audit: noopAudit{},
		ApprovalDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	post := func(b *testing.B, url string) string {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(echoCall))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+tokenA)
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
	for _, target := range []struct{ name, url string }{{"direct", up.URL}, {"gateway", srv.URL + "/mcp/tools"}} {
		b.Run(target.name, func(b *testing.B) {
			if body := post(b, target.url); !strings.Contains(body, "echo: hi") {
				b.Fatalf("unexpected answer %s", body)
			}
			var lat []time.Duration
			for b.Loop() {
				start := time.Now()
				post(b, target.url)
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
		})
	}
}
