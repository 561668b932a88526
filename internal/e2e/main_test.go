package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/agops/agops/internal/testbed"
)

// binDir holds what the package's tests build once and share: the static agops.
var binDir string

// TestMain gives the package a folder for shared binaries and, when the whole package runs, starts building the
// test bed's binaries at once (testbed.PrepareInBackground).
func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "agops-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	stop := testbed.PrepareInBackground()
	code := m.Run()
	stop()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

var (
	staticOnce sync.Once
	staticBin  string
	staticErr  error
)

// staticAgops builds agops without cgo, as the helper image needs it, once for the package's tests.
func staticAgops(t *testing.T, root string) string {
	t.Helper()
	staticOnce.Do(func() {
		bin := filepath.Join(binDir, "agops")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/agops")
		cmd.Dir = root
		cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			staticErr = fmt.Errorf("building a static agops: %v\n%s", err, out)
			return
		}
		staticBin = bin
	})
	if staticErr != nil {
		t.Fatal(staticErr)
	}
	return staticBin
}

// realNodes serializes the tests that start real nodes (realNodeLane).
var realNodes sync.Mutex

// realNodeLane starts a test that runs real nodes. It skips the test with -short or where real nodes cannot run.
// Otherwise the test becomes parallel, so that it runs after the package's other tests: those need only the control
// plane, which testbed.Prepare builds first, and run while the nodes' binaries may still be building on a fresh
// machine. Tests on real nodes then run one at a time: two clusters of real nodes at once saturate a machine of 2
// cores, and made the suite flaky without making it faster.
func realNodeLane(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real nodes")
	}
	if err := testbed.RealNodesSupported(); err != nil {
		t.Skip(err)
	}
	t.Parallel()
	realNodes.Lock()
	t.Cleanup(realNodes.Unlock)
}
