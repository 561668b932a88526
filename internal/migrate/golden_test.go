package migrate

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agops/agops/internal/model"
	"github.com/agops/agops/internal/plan/plantest"
)

var update = flag.Bool("update", false, "rewrite golden files from the current output")

// TestGolden migrates each testdata/golden/<feature>/compose.yaml, with the plan options of plan.json beside it if
// any, and compares the ha overlay stream and the decisions with the files beside it. Refresh them with
// go test ./internal/migrate -run Golden -update and review the diff.
func TestGolden(t *testing.T) {
	features, err := filepath.Glob("testdata/golden/*/compose.yaml")
	if err != nil || len(features) == 0 {
		t.Fatalf("no golden features found: %v", err)
	}
	for _, f := range features {
		dir := filepath.Dir(f)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			o := Options{Plan: plantest.OptionsFile(t, dir), Format: FormatYAML, Overlay: "ha", Stdout: &out}
			o.Compose.Files = []string{f}
			res, err := Run(context.Background(), o)
			if err != nil {
				t.Fatalf("migrate: %v", err)
			}
			compareGolden(t, filepath.Join(dir, "ha.yaml"), out.Bytes())
			compareGolden(t, filepath.Join(dir, "decisions.txt"), formatDecisions(res.Model.Decisions))
		})
	}
}

func formatDecisions(ds []model.Decision) []byte {
	var b strings.Builder
	for _, d := range ds {
		svc := d.Service
		if svc == "" {
			svc = "(project)"
		}
		sec := ""
		if d.Security {
			sec = " [security]"
		}
		fmt.Fprintf(&b, "%s | %s | %s%s | %s", svc, d.Key, d.Outcome, sec, d.Reason)
		if d.Hint != "" {
			fmt.Fprintf(&b, " | hint: %s", d.Hint)
		}
		b.WriteString("\n")
	}
	return []byte(b.String())
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

// firstDiff shows the first differing line, with a little context.
func firstDiff(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
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
