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
