package realnodes

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/agops/agops/internal/e2e/e2etest"
	"github.com/agops/agops/internal/kube"
	"github.com/agops/agops/internal/rehearse"
	"github.com/agops/agops/internal/testbed"
)

// bin holds what the package's tests build once and share: the static agops.
var bin *e2etest.Bin

// shared is the cluster of three real nodes, with the lab's accelerators, that the tests which only deploy share
// (onShared); the tests that kill a node start their own.
var shared = testbed.NewShared(testbed.WithRealNodes(), e2etest.LabNodes(), testbed.WithStorageClasses("fast"))

// TestMain gives the package a folder for shared binaries and, when the whole package runs, starts building the
// test bed's binaries at once (testbed.PrepareInBackground).
func TestMain(m *testing.M) {
	flag.Parse()
	b, err := e2etest.NewBin()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = b
	stop := testbed.PrepareInBackground()
	code := m.Run()
	if err := shared.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping the shared cluster: %v\n", err)
		code = max(code, 1)
	}
	stop()
	b.Close()
	os.Exit(code)
}

// realNodes skips a test with -short or where real nodes cannot run. The test bed lets one cluster of real nodes
// run on a machine at a time, so this package runs beside internal/e2e, whose clusters have simulated nodes, and
// waits for internal/testbed's. Its tests that kill a node run first, one after another, each on a cluster of its
// own; then those that only deploy run together on the shared one (onShared).
func realNodes(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real nodes")
	}
	if err := testbed.RealNodesSupported(); err != nil {
		t.Skip(err)
	}
}

// onShared makes t a test on the shared cluster: it runs in parallel with the others, after the tests that start
// their own clusters (the machine runs one at a time), and deploys into namespaces of its own. The cluster is
// shared.Get(t).
func onShared(t *testing.T) {
	t.Helper()
	realNodes(t)
	t.Parallel()
}

// deploy applies a migrated project's objects to c and creates the placeholder Secrets the user would create.
func deploy(ctx context.Context, t *testing.T, c *testbed.Cluster, objs []*unstructured.Unstructured) {
	t.Helper()
	a, err := kube.NewApplier(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(ctx, objs, kube.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rehearse.CreatePlaceholderSecrets(ctx, c.Client(), objs); err != nil {
		t.Fatal(err)
	}
}
