package plan

import (
	"strings"
	"testing"
)

// FuzzModelSize: any model reference gives a size without panicking, a positive memory request and a volume size
// Kubernetes reads.
func FuzzModelSize(f *testing.F) {
	for _, s := range []string{"ai/smollm2", "ai/qwen2.5:7B-Q4_K_M", "ai/llama3.2:1B-F16", "hf.co/x/Llama-3.2-1B-GGUF", ":", "/", "ai/x:999999999999B-Q9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		s := modelSizeOf(ref)
		if s.memory() <= 0 {
			t.Fatalf("%q: memory %d", ref, s.memory())
		}
		if st := s.storage(); !strings.HasSuffix(st, "Gi") || strings.HasPrefix(st, "-") || strings.HasPrefix(st, "0") {
			t.Fatalf("%q: storage %q", ref, st)
		}
	})
}
