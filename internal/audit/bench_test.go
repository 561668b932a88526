package audit

import (
	"context"
	"log/slog"
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
	b.Run("serial-checkpoints", func(b *testing.B) { benchAppend(b, 1, benchCheckpoints(b, 0)) })
	b.Run("parallel-64-checkpoints", func(b *testing.B) { benchAppend(b, 64, benchCheckpoints(b, 0)) })
	b.Run("parallel-64-checkpoints-1s", func(b *testing.B) { benchAppend(b, 64, benchCheckpoints(b, time.Second)) })
}

// benchCheckpoints signs a checkpoint after every group commit (interval 0) or at most once per interval.
func benchCheckpoints(b *testing.B, interval time.Duration) Option {
	keyPath, _, err := WriteKeyPair(b.TempDir(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	k, err := LoadKey(keyPath)
	if err != nil {
		b.Fatal(err)
	}
	return WithCheckpoints(Checkpoints{Path: filepath.Join(b.TempDir(), "cp"), Signer: k.Signer, Verifier: k.Verifier, Interval: interval})
}

// BenchmarkCheckpoint measures one checkpoint of a log of a million records: the root from the compact range,
// the signature, and the atomic, synced write.
func BenchmarkCheckpoint(b *testing.B) {
	keyPath, _, err := WriteKeyPair(b.TempDir(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	k, err := LoadKey(keyPath)
	if err != nil {
		b.Fatal(err)
	}
	r := rangeFactory.NewEmptyRange(0)
	for i := range 1_000_000 {
		_ = r.Append(leafHash([]byte{byte(i), byte(i >> 8), byte(i >> 16)}), nil)
	}
	s := treeState{size: r.End(), tree: r.Hashes()}
	c := newCheckpointer(filepath.Join(b.TempDir(), "audit.log"), &Checkpoints{Path: filepath.Join(b.TempDir(), "cp"), Signer: k.Signer}, slog.New(slog.DiscardHandler))
	defer c.close()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c.write(s)
	}
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
