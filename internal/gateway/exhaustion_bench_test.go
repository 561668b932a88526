package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agops/agops/internal/audit"
)

// The red team's resource exhaustion (issue 13, finding 7), measured. Figures in BENCHMARKS.md.

// peakRSS returns the process's peak resident set size in MB (VmHWM), after resetting it when reset is true.
func peakRSS(b *testing.B, reset bool) float64 {
	if reset {
		_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	}
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	b.Skip("no VmHWM")
	return 0
}

// BenchmarkStalledBodies: 500 authenticated callers each announce a maximum-size body (1 MiB), send all of it but one
// byte, and stall. The gateway must answer every one (408 once the body timeout passes, or 503 when the body memory
// is taken) and hold at most Options.MaxBodyMemory for bodies: peak-MB is the process's peak RSS (clients included).
func BenchmarkStalledBodies(b *testing.B) {
	const callers = 500
	up := newUpstream(b, upstreamMode{json: true, stateless: true})
	gw, err := New(Options{Policy: newPolicy(up.URL), Authenticator: writeTokens(b), AdminAuthenticator: writeApprovers(b),
		Audit: noopAudit{}, ApprovalDir: b.TempDir(), BodyReadTimeout: 3 * time.Second, MaxConcurrentPerAgent: callers})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	defer srv.Close()
	body := make([]byte, 1<<20-1)
	for i := range body {
		body[i] = 'a'
	}
	base := peakRSS(b, true)
	b.ResetTimer()
	for range b.N {
		var wg sync.WaitGroup
		codes := make(chan int, callers)
		for range callers {
			wg.Go(func() { codes <- stall(srv.Listener.Addr().String(), body) })
		}
		wg.Wait()
		close(codes)
		count := map[int]int{}
		for c := range codes {
			count[c]++
		}
		if count[0] > 0 {
			b.Fatalf("%d callers never answered (%v)", count[0], count)
		}
		b.ReportMetric(float64(count[http.StatusServiceUnavailable]), "503s")
		b.ReportMetric(float64(count[http.StatusTooManyRequests]), "429s")
		b.ReportMetric(float64(count[http.StatusRequestTimeout]), "408s")
	}
	b.ReportMetric(peakRSS(b, false), "peak-MB")
	b.ReportMetric(base, "base-MB")
}

// stall sends a request announcing 1 MiB, all but its last byte, and returns the status it gets (0: none in 30 s).
func stall(addr string, body []byte) int {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "POST /mcp/tools HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\n\r\n", tokenA, len(body)+1)
	go conn.Write(body) // may block once the gateway stops reading; the answer comes anyway
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// BenchmarkHostileKeys: one 1 MB object with about 100,000 keys is refused before any policy work (the red team saw
// 26 s of CPU); a benign body of the same size is parsed for comparison.
func BenchmarkHostileKeys(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{`)
	for i := range 100_000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `"k%d":1`, i)
	}
	sb.WriteString(`}}}`)
	hostile := []byte(sb.String())
	benign := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"` +
		strings.Repeat("a", len(hostile)) + `"}}}`)
	for _, c := range []struct {
		name string
		body []byte
		ok   bool
	}{{"100k-keys", hostile, false}, {"benign-same-size", benign, true}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			for range b.N {
				if _, err := parseMessage(c.body); (err == nil) != c.ok {
					b.Fatalf("parse: %v", err)
				}
			}
		})
	}
}

// BenchmarkUnauthenticatedFlood: requests without a valid token from 32 connections against a gateway with a real
// audit log; audit-B/op is what each costs the log (run it with -benchtime 30s for the 30 s flood:
// audit-bytes is then the growth).
func BenchmarkUnauthenticatedFlood(b *testing.B) {
	path := filepath.Join(b.TempDir(), "audit.jsonl")
	alog, err := audit.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	up := newUpstream(b, upstreamMode{json: true, stateless: true})
	gw, err := New(Options{Policy: newPolicy(up.URL), Authenticator: writeTokens(b), AdminAuthenticator: writeApprovers(b),
		Audit: alog, ApprovalDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/mcp/tools", strings.NewReader(echoCall))
			req.Header.Set("Authorization", "Bearer wrong-token-0123456789abcdef")
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
	b.StopTimer()
	gw.Close()
	alog.Close()
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Size())/float64(b.N), "audit-B/op")
	b.ReportMetric(float64(st.Size()), "audit-bytes")
}
