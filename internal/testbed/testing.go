package testbed

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// StartForTest starts a cluster for t (see Start) and stops it when the test
// ends; if the test failed, it first logs the last 50 lines of each
// process's log. Progress goes to t.Log unless WithLogger says otherwise.
// It fails the test at once if the cluster cannot start.
func StartForTest(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	opts = append([]Option{WithLogger(testLogger(t))}, opts...)
	// Not t.Context(): it ends before cleanups run, and the logs must
	// outlive it for the failure report.
	c, err := Start(context.Background(), opts...)
	if err != nil {
		t.Fatalf("starting testbed cluster: %v", err)
	}
	stopOnSignal(c)
	t.Cleanup(func() {
		if t.Failed() {
			c.logTails(t, 50)
		}
		if err := c.Stop(); err != nil {
			t.Errorf("stopping testbed cluster: %v", err)
		}
	})
	return c
}

func (c *Cluster) logTails(t testing.TB, n int) {
	logs := c.Logs()
	names := make([]string, 0, len(logs))
	for name := range logs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Logf("--- last %d lines of %s (%s) ---\n%s", n, name, logs[name], tailFile(logs[name], n))
	}
}

// testLogger logs at Info level to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// testWriter sends each write to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// stopOnSignal stops the cluster when the test binary is interrupted or terminated (Ctrl-C, go test's -timeout
// does not signal, but a CI runner's cancel does), which would otherwise leave its processes, and a real node's
// containers, running: cleanups do not run on a signal. The signal is then delivered again, with its default action.
func stopOnSignal(c *Cluster) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		select {
		case sig := <-ch:
			_ = c.Stop()
			signal.Reset(sig)
			if p, err := os.FindProcess(os.Getpid()); err == nil {
				_ = p.Signal(sig)
			}
		case <-c.stopped:
			signal.Stop(ch)
		}
	}()
}

// PrepareInBackground starts Prepare in the background when a test binary runs its whole package (not with -run or
// -short; call it after flag.Parse, from TestMain), so that on a machine whose build cache is empty the test bed's
// binaries build beside the package's other work instead of when the first test needs them. A failure is the first
// test's to report, with its context: it calls the same builds. stop ends the builds and waits for them.
func PrepareInBackground() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if !testing.Short() && flag.Lookup("test.run").Value.String() == "" {
		wg.Go(func() {
			if err := Prepare(ctx, WithLogger(slog.New(slog.DiscardHandler))); err != nil && ctx.Err() == nil {
				fmt.Fprintf(os.Stderr, "preparing the test bed (tests will retry): %v\n", err)
			}
		})
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// Shared is one cluster that several parallel tests of a package use, each in namespaces of its own: the first test
// that asks starts it, and the package's TestMain stops it (Close) after its tests. Starting a cluster of real nodes
// takes half a minute and the machine runs one at a time, so tests that only deploy into it share one. A test that
// kills a node or changes the cluster for everyone starts its own (StartForTest).
type Shared struct {
	opts []Option

	once sync.Once
	c    *Cluster
	err  error
}

// NewShared describes the shared cluster; nothing starts until Get.
func NewShared(opts ...Option) *Shared { return &Shared{opts: opts} }

// Get returns the shared cluster, starting it on the first call, and fails t at once if it cannot start. When t
// fails, the last 50 lines of each process's log are logged to it.
func (s *Shared) Get(t testing.TB) *Cluster {
	t.Helper()
	s.once.Do(func() {
		// Progress goes nowhere: the cluster outlives the test that started it. Failures are reported to the
		// tests, with the logs' tails.
		opts := append([]Option{WithLogger(slog.New(slog.DiscardHandler))}, s.opts...)
		s.c, s.err = Start(context.Background(), opts...)
		if s.err == nil {
			stopOnSignal(s.c)
		}
	})
	if s.err != nil {
		t.Fatalf("starting the shared testbed cluster: %v", s.err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			s.c.logTails(t, 50)
		}
	})
	return s.c
}

// Close stops the shared cluster if it was started.
func (s *Shared) Close() error {
	if s.c == nil {
		return nil
	}
	return s.c.Stop()
}
