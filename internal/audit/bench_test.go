package audit

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// BenchmarkAppend measures durable appends: one caller at a time, and 64 concurrent callers sharing fsyncs. It
// reports appends/s and fsyncs per append; results are in docs/audit.md, never asserted.
//
//	go test ./internal/audit -run XXX -bench Append -benchtime 3s
func BenchmarkAppend(b *testing.B) {
	b.Run("serial", func(b *testing.B) { benchAppend(b, 1) })
	b.Run("parallel-64", func(b *testing.B) { benchAppend(b, 64) })
	b.Run("parallel-64-anchor", func(b *testing.B) { benchAppend(b, 64, WithAnchor(true)) })
}

func benchAppend(b *testing.B, callers int, opts ...Option) {
	hook := &hookFile{}
	l, err := Open(filepath.Join(b.TempDir(), "audit.log"), append(opts, withHook(hook))...)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx, rec := context.Background(), testRecord(1)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if callers == 1 {
		for range b.N {
			if err := l.Append(ctx, rec); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.SetParallelism((callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := l.Append(ctx, rec); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
	b.ReportMetric(float64(hook.syncs.Load())/float64(b.N), "fsyncs/op")
}
