package audit

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BenchmarkStartupBigLog measures what a gateway does at start on a big log: Open (from the resume state, and the
// full pass it falls back to) and RecordsSince(today) — the budgets' records. It writes a log of
// AGOPS_AUDIT_BIG_MB megabytes (records spread evenly over the last 30 days) once, in a temporary directory, and is
// skipped without that variable so that CI never writes it. Results are in BENCHMARKS.md:
//
//	AGOPS_AUDIT_BIG_MB=1024 go test ./internal/audit -run XXX -bench StartupBigLog -benchtime 1x -timeout 30m
func BenchmarkStartupBigLog(b *testing.B) {
	mb, _ := strconv.Atoi(os.Getenv("AGOPS_AUDIT_BIG_MB"))
	if mb <= 0 {
		b.Skip("set AGOPS_AUDIT_BIG_MB to the log's size in megabytes")
	}
	path := filepath.Join(b.TempDir(), "audit.log")
	start := time.Now()
	n := writeBigLog(b, path, int64(mb)<<20)
	b.Logf("wrote %d records (%d MB) in %s", n, mb, time.Since(start).Round(time.Millisecond))
	b.Run("open-full-pass", func(b *testing.B) {
		for range b.N {
			os.Remove(StatePath(path))
			benchOpen(b, path)
		}
	})
	b.Run("open-resume", func(b *testing.B) {
		for range b.N {
			benchOpen(b, path)
		}
	})
	b.Run("records-since-today", func(b *testing.B) {
		today := time.Now().UTC().Truncate(24 * time.Hour)
		for range b.N {
			seq, err := RecordsSince(path, today)
			if err != nil {
				b.Fatal(err)
			}
			count := 0
			for _, err := range seq {
				if err != nil {
					b.Fatal(err)
				}
				count++
			}
			b.ReportMetric(float64(count), "records")
		}
	})
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		b.Logf("peak RSS of the whole benchmark process: %d MB", ru.Maxrss>>10)
	}
}

// benchOpen opens and closes the log, reporting the heap bytes allocated.
func benchOpen(b *testing.B, path string) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	l, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/(1<<20), "MB-alloc/op")
}

// writeBigLog writes a valid log of about size bytes, streaming (its memory does not grow), with records spread
// over the last 30 days, and returns the records written.
func writeBigLog(b *testing.B, path string, size int64) int {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rec, _ := encodeRecord(testRecord(1))
	n := int(size / int64(len(rec)+100))
	first := time.Now().UTC().Add(-30 * 24 * time.Hour)
	step := 30 * 24 * time.Hour / time.Duration(n)
	var prev digest
	var buf []byte
	for i := range n {
		r := testRecord(i)
		r.Time = first.Add(time.Duration(i) * step)
		rec, _ := encodeRecord(r)
		buf, prev = appendLine(buf[:0], uint64(i+1), prev, rec)
		if _, err := w.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return n
}
