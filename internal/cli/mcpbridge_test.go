package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMCPBridgeInstall: the init container's copy is this binary, executable, and nothing else is left in the
// folder.
func TestMCPBridgeInstall(t *testing.T) {
	dir := t.TempDir()
	if r := run(t, "mcp-bridge", "--install", dir); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "agops"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the copy differs from the binary (%v)", err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "agops")); fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("the copy is not executable: %v", fi.Mode())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the folder holds %d entries, want the copy alone", len(entries))
	}
}

func TestMCPBridgeUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"mcp-bridge"}, "no server to run"},
		{[]string{"mcp-bridge", "--image", "mcp/x", "--", "python"}, "not both"},
		{[]string{"mcp-bridge", "--install", t.TempDir(), "--", "x"}, "--install takes nothing else"},
		{[]string{"mcp-bridge", "--listen", "127.0.0.1:0", "--", filepath.Join(t.TempDir(), "absent")}, "absent"},
	} {
		r := run(t, tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want an error with %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}
