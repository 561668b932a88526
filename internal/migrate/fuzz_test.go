package migrate

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agops/agops/internal/plan"
)

// FuzzMigrate feeds arbitrary Compose files through load → plan → render. Whatever the input, agops must return
// an error or output, never panic, and an error must not be a Go stack trace. The seed corpus in
// testdata/fuzz/FuzzMigrate holds the golden projects and known bad inputs.
func FuzzMigrate(f *testing.F) {
	golden, _ := filepath.Glob("testdata/golden/*/compose.yaml")
	for _, g := range golden {
		if b, err := os.ReadFile(g); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		file := filepath.Join(dir, "compose.yaml")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		o := Options{Plan: plan.DefaultOptions(), Format: FormatYAML, Overlay: "ha", Stdout: io.Discard}
		o.Compose.Files = []string{file}
		o.Compose.ProjectName = "fuzz"
		_, err := Run(context.Background(), o)
		if err != nil && strings.Contains(err.Error(), "goroutine ") {
			t.Fatalf("error carries a stack trace: %v", err)
		}
		// The files layout must work whenever the stream did.
		if err == nil {
			o.Format, o.Out = FormatFiles, filepath.Join(dir, "out")
			if _, err := Run(context.Background(), o); err != nil {
				t.Fatalf("stream succeeded but files failed: %v", err)
			}
		}
	})
}
