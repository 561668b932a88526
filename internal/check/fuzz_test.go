package check

import (
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agops/agops/internal/kube"
)

// FuzzRun feeds arbitrary YAML streams through kube.Decode and Run. Whatever the input, Run must return findings
// or an error, never panic; an error is one line per object, not a stack trace; the findings must render.
// The seed corpus is the golden inputs and testdata/fuzz/FuzzRun.
func FuzzRun(f *testing.F) {
	inputs, _ := filepath.Glob("testdata/golden/*.yaml")
	for _, in := range inputs {
		f.Add(readFile(f, in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := kube.Decode(data)
		if err != nil {
			return
		}
		fs, err := Run(objs)
		if err != nil && strings.Contains(err.Error(), "goroutine ") {
			t.Fatalf("error carries a stack trace: %v", err)
		}
		for _, x := range fs {
			if _, err := x.Severity.MarshalText(); err != nil || !strings.HasPrefix(x.Message, x.Object.String()) {
				t.Fatalf("malformed finding %+v", x)
			}
		}
		r := Report{Findings: fs}
		if err := r.Text(io.Discard); err != nil {
			t.Fatal(err)
		}
		if _, err := r.JSON(); err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkRun checks the golden lab (about twenty objects).
func BenchmarkRun(b *testing.B) {
	objs, err := kube.Decode(readFile(b, "testdata/golden/lab.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Run(objs); err != nil {
			b.Fatal(err)
		}
	}
}
