package reach

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agops/agops/internal/kube"
)

var update = flag.Bool("update", false, "rewrite golden files from the current output")

// TestGolden builds the matrix of each testdata/golden/<case>/manifests.yaml and compares its text and JSON forms
// with matrix.txt and matrix.json beside it. Refresh them with go test ./internal/check/reach -run Golden -update
// and review the diff: the files are the expected answer, checked by hand.
func TestGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/golden/*/manifests.yaml")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no golden cases found: %v", err)
	}
	for _, f := range cases {
		dir := filepath.Dir(f)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			objs, err := kube.Load(f, "")
			if err != nil {
				t.Fatal(err)
			}
			c, err := New(objs, Options{})
			if err != nil {
				t.Fatal(err)
			}
			m := c.Matrix()
			var text bytes.Buffer
			if err := m.Text(&text); err != nil {
				t.Fatal(err)
			}
			js, err := m.JSON()
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, filepath.Join(dir, "matrix.txt"), text.Bytes())
			compareGolden(t, filepath.Join(dir, "matrix.json"), js)
		})
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (run with -update and review the diff):\n%s", path, firstDiff(want, got))
	}
}

// firstDiff shows the first differing line.
func firstDiff(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := range max(len(wl), len(gl)) {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\n  want: %s\n  got:  %s", i+1, w, g)
		}
	}
	return "(same lines, different bytes)"
}
