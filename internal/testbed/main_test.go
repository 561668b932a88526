package testbed

import (
	"flag"
	"os"
	"testing"
)

// TestMain starts building the test bed's binaries as soon as this package's tests start (PrepareInBackground). The
// README's test command names this package first: its test binary compiles long before the end-to-end tests' (it
// needs no Temporal server), so that on a machine whose build cache is empty the control plane and the nodes build
// beside the rest of the compilation. Every other caller waits for the same builds (install's lock).
func TestMain(m *testing.M) {
	flag.Parse()
	stop := PrepareInBackground()
	code := m.Run()
	stop()
	os.Exit(code)
}
