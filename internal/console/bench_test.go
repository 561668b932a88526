package console

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agops/agops/internal/audit"
)

// benchAuditLog writes n records like a busy gateway's (decisions and results of eight agents on three servers,
// approvals now and then) with the real audit Log, from 64 writers sharing fsyncs, with signed checkpoints.
func benchAuditLog(b *testing.B, n int) (logPath, pubPath string) {
	b.Helper()
	dir := b.TempDir()
	keyPath, pubPath, err := audit.WriteKeyPair(dir, "bench")
	if err != nil {
		b.Fatal(err)
	}
	key, err := audit.LoadKey(keyPath)
	if err != nil {
		b.Fatal(err)
	}
	logPath = filepath.Join(dir, "audit.jsonl")
	l, err := audit.Open(logPath, audit.WithCheckpoints(audit.Checkpoints{Path: logPath + ".checkpoint",
		Signer: key.Signer, Verifier: key.Verifier}))
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Go(func() {
			for i := w; i < n; i += 64 {
				if err := l.Append(context.Background(), benchRecord(i)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("wrote %d records in %s", n, time.Since(start).Round(time.Millisecond))
	return logPath, pubPath
}

func benchRecord(i int) audit.Record {
	agentName := fmt.Sprintf("ai-lab/agent-%d", i%8)
	server, tool := []string{"mcp-tools", "search", "files"}[i%3], []string{"echo", "get-sum", "read_file", "deploy"}[i%4]
	r := audit.Record{RequestID: fmt.Sprintf("rq_%032x", i/2), Caller: agentName, Remote: "10.42.0.7:51234", Server: server,
		Tool: tool, Method: "tools/call", ArgsDigest: "sha256:" + strings.Repeat("ab", 32)}
	switch {
	case i%50 == 0:
		r.Event, r.Decision, r.Rule, r.ApprovalID, r.Reason = "approval", "approved", "agents["+agentName+"].grants[2]",
			fmt.Sprintf("ap_%032x", i), "approved by alice via console:ops: release window"
	case i%2 == 0:
		r.Event, r.Decision, r.Rule, r.Reason = "decision", "allow", "teams[research].grants[0]", "allowed by teams[research].grants[0]"
		if i%17 == 0 {
			r.Decision, r.Rule, r.Reason = "deny", "default-deny", "no grant covers the call"
		}
	default:
		r.Event, r.Status, r.DurationMS, r.Tokens = "result", "ok", 12.5, int64(i%300)
	}
	return r
}

// benchConsole is a console over the log with a signed-in viewer; it returns the handler and the session cookie.
func benchConsole(b *testing.B, logPath, pubPath string) (http.Handler, *http.Cookie) {
	b.Helper()
	srv, err := New(Options{AuditLog: logPath, AuditKey: pubPath, OneTime: NewOneTimeTokens()})
	if err != nil {
		b.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.sessions.start(rec, Person{Name: "victor", Role: Viewer}, false)
	return srv.Handler(), rec.Result().Cookies()[0]
}

func benchGet(b *testing.B, h http.Handler, c *http.Cookie, path, want string) {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.AddCookie(c)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), want) {
		b.Fatalf("GET %s: %d\n%.2000s", path, rec.Code, rec.Body.String())
	}
}

// BenchmarkAuditPage100k measures the audit page over a log of 100,000 records, as a person loads it once the
// console has read the log: the newest 50, a filtered page (one agent's denials), the page 1,000 records back, and
// one call's records. Results are in BENCHMARKS.md.
//
//	go test ./internal/console -run XXX -bench AuditPage -benchtime 20x -count 3
func BenchmarkAuditPage100k(b *testing.B) {
	logPath, pubPath := benchAuditLog(b, 100_000)
	h, c := benchConsole(b, logPath, pubPath)
	benchGet(b, h, c, "/audit", "Chain verified up to record 100000")
	for _, page := range []struct{ name, path, want string }{
		{"newest", "/audit", "100000 records match"},
		{"agent-denials", "/audit?agent=ai-lab%2Fagent-2&decision=deny", "records match"},
		{"older", "/audit?before=99000", "Older records"},
		{"call", fmt.Sprintf("/audit/call/rq_%032x", 25_000), `id="decision"`},
	} {
		b.Run(page.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				benchGet(b, h, c, page.path, page.want)
			}
		})
	}
}

// BenchmarkAuditFirstPage100k measures the first audit page after the console starts: the log of 100,000 records
// read, indexed and verified against its signed checkpoint, then the page rendered.
//
//	go test ./internal/console -run XXX -bench AuditFirstPage -benchtime 3x -count 3
func BenchmarkAuditFirstPage100k(b *testing.B) {
	logPath, pubPath := benchAuditLog(b, 100_000)
	b.ReportAllocs()
	for b.Loop() {
		h, c := benchConsole(b, logPath, pubPath)
		benchGet(b, h, c, "/audit", "Anchored")
	}
}
