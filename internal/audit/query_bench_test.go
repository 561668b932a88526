package audit

import (
	"context"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// benchLog writes a log of n query records with the real Log (64 concurrent callers, so that they share fsyncs, and
// a signed checkpoint after the commits) and returns it open, with its checkpoint file and verifier key.
func benchLog(b *testing.B, n int) (l *Log, path, cpPath string, key *Key) {
	b.Helper()
	keyPath, _, err := WriteKeyPair(b.TempDir(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	if key, err = LoadKey(keyPath); err != nil {
		b.Fatal(err)
	}
	path, cpPath = filepath.Join(b.TempDir(), "audit.log"), filepath.Join(b.TempDir(), "audit.checkpoint")
	l, err = Open(path, WithCheckpoints(Checkpoints{Path: cpPath, Signer: key.Signer, Verifier: key.Verifier}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	start := time.Now()
	benchAppendRecords(b, l, 1, n)
	b.Logf("wrote %d records in %s", n, time.Since(start).Round(time.Millisecond))
	return l, path, cpPath, key
}

// benchAppendRecords appends query records from to to, their times the current time, from 64 goroutines.
func benchAppendRecords(b *testing.B, l *Log, from, to int) {
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Go(func() {
			for i := from + w; i <= to; i += 64 {
				r := queryRecord(i)
				r.Time = time.Time{}
				if err := l.Append(context.Background(), r); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkOpenReader100k measures the first open of a 100,000-record log by a console: every line read, indexed and
// verified, and the signed checkpoint checked. Results are in BENCHMARKS.md.
//
//	go test ./internal/audit -run XXX -bench 'Query|OpenReader' -benchtime 5x -count 3
func BenchmarkOpenReader100k(b *testing.B) {
	_, path, cpPath, key := benchLog(b, 100_000)
	b.ReportAllocs()
	var r *Reader
	for b.Loop() {
		var err error
		if r, err = OpenReader(path, key.Verifier, WithCheckpointFile(cpPath)); err != nil {
			b.Fatal(err)
		}
		if v := r.Verified(); v.Records != 100_000 || v.Broken != nil || v.Checkpoint == nil {
			b.Fatalf("%+v", v)
		}
	}
	b.ReportMetric(float64(heapWith(func() { runtime.KeepAlive(r) })-heapWith(func() {}))/100_000, "B-kept/line")
}

// heapWith returns the bytes in use on the heap, after a collection, while fn's closure is alive.
func heapWith(fn func()) uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	fn()
	return m.HeapAlloc
}

// BenchmarkQuery100k measures the queries of a console's pages on a 100,000-record log that a Reader has open: each
// refreshes (reading nothing, or the records appended since the last query) and reads its page back from the file.
func BenchmarkQuery100k(b *testing.B) {
	l, path, cpPath, key := benchLog(b, 100_000)
	r, err := OpenReader(path, key.Verifier, WithCheckpointFile(cpPath))
	if err != nil {
		b.Fatal(err)
	}
	n := 100_000
	for _, bc := range []struct {
		name    string
		q       Query
		appends int // records appended before each query, outside the timing
	}{
		{"newest-50", Query{}, 0},
		{"newest-50-caller-decision", Query{Caller: "team/agent-3", Decision: "allow"}, 0},
		{"newest-50-after-100-appends", Query{}, 100},
		{"rule-prefix-page-at-50000", Query{Rule: "agents[team/agent-1]", Before: 50_000}, 0},
		{"request-id", Query{RequestID: "req-50000"}, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if bc.appends > 0 {
					b.StopTimer()
					benchAppendRecords(b, l, n+1, n+bc.appends)
					n += bc.appends
					b.StartTimer()
				}
				p, err := r.Query(bc.q)
				if err != nil {
					b.Fatal(err)
				}
				if len(p.Entries) == 0 || p.Verified.Broken != nil || p.Verified.Lines != uint64(n) {
					b.Fatalf("%d entries, %+v", len(p.Entries), p.Verified)
				}
			}
		})
	}
}
