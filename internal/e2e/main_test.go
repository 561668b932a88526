package e2e

import (
	"flag"
	"os"
	"testing"

	"github.com/agops/agops/internal/testbed"
)

// TestMain starts building the test bed's binaries at once when the whole package runs
// (testbed.PrepareInBackground).
func TestMain(m *testing.M) {
	flag.Parse()
	stop := testbed.PrepareInBackground()
	code := m.Run()
	stop()
	os.Exit(code)
}
