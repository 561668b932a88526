package testbed

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/agops/agops/internal/fsutil"
)

// realNodesLock is the file whose flock lets one cluster of real nodes run on a machine at a time. It is in the
// temporary folder, not the cache, so that test runs with different caches (a CI check beside a developer's run)
// still take turns: two clusters of real nodes on a machine of 2 cores starve each other's probes, kubelets and
// kill tests, and test packages run side by side (`go test ./...`).
func realNodesLock() string { return filepath.Join(os.TempDir(), "agops-testbed-real-nodes.lock") }

// lockRealNodes waits, as long as ctx allows, until no other cluster of real nodes runs on the machine, and returns
// the func that lets the next one start.
func lockRealNodes(ctx context.Context, log *slog.Logger) (func(), error) {
	began := time.Now()
	waiting := time.AfterFunc(2*time.Second, func() {
		log.Info("waiting for another cluster of real nodes on this machine to stop", "lock", realNodesLock())
	})
	unlock, err := fsutil.Lock(ctx, realNodesLock())
	waiting.Stop()
	if err != nil {
		return nil, fmt.Errorf("waiting for the machine's real nodes (%s): %w", realNodesLock(), err)
	}
	if d := time.Since(began); d > 2*time.Second {
		log.Info("real nodes free", "waited", d.Round(time.Second))
	}
	return unlock, nil
}
