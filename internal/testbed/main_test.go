package testbed

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
)

// TestMain starts building the test bed's binaries (Prepare) as soon as this package's tests start, when the whole
// package runs (not with -run or -short). The README's test command names this package first: its test binary
// compiles long before the end-to-end tests' (it needs no Temporal server), so that on a machine whose build cache
// is empty the control plane and the nodes build beside the rest of the compilation, instead of starting only when
// the end-to-end tests do. Every other caller waits for the same builds (install's lock).
func TestMain(m *testing.M) {
	flag.Parse()
	ctx, cancel := context.WithCancel(context.Background())
	var prepared sync.WaitGroup
	if !testing.Short() && flag.Lookup("test.run").Value.String() == "" {
		prepared.Go(func() {
			// A failure here is the first test's to report, with its context: it calls the same builds.
			if err := Prepare(ctx, WithLogger(slog.New(slog.DiscardHandler))); err != nil && ctx.Err() == nil {
				fmt.Fprintf(os.Stderr, "preparing the test bed (tests will retry): %v\n", err)
			}
		})
	}
	code := m.Run()
	cancel()
	prepared.Wait()
	os.Exit(code)
}
