package cli

import (
	"os"
	"testing"
)

// asAgops in a process's environment makes this test binary agops itself (Main with its arguments), so that tests
// can run agops as real processes without building cmd/agops.
const asAgops = "AGOPS_CLI_TEST_AS_AGOPS"

func TestMain(m *testing.M) {
	if os.Getenv(asAgops) == "1" {
		Main()
	}
	os.Exit(m.Run())
}

// agopsProcess is the path of the binary that is agops when started with asAgops=1 in its environment.
func agopsProcess(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}
