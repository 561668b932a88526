package labview

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.svg from the current pictures")

// example is a copy of what agops migrate -f examples/ai-lab/compose.yaml -o DIR wrote (report.md left out).
const example = "testdata/ai-lab"

func TestExampleSVG(t *testing.T) {
	t.Parallel()
	lab, err := Load(example)
	if err != nil {
		t.Fatal(err)
	}
	got := lab.SVG()
	wellFormed(t, got)
	golden := filepath.Join("testdata", "ai-lab.svg")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the example's SVG differs from %s (run go test ./internal/labview -update and review the diff)", golden)
	}
	if again := lab.SVG(); !bytes.Equal(again, got) {
		t.Error("two renderings of one lab differ")
	}
}

// wellFormed fails t unless svg parses as XML.
func wellFormed(t testing.TB, svg []byte) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v", err)
		}
	}
}

// BenchmarkLoad measures Load of the example (kustomize build of the ha overlay, the reachability matrix) and its SVG.
func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		lab, err := Load(example)
		if err != nil {
			b.Fatal(err)
		}
		_ = lab.SVG()
	}
}
