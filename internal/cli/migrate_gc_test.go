package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/agops/agops/internal/compose"
)

func TestGCLimit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	small, big := filepath.Join(dir, "small.yaml"), filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(small, []byte("services: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		o    compose.Options
		want int64
	}{
		{"valid-small-file", compose.Options{Files: []string{small}}, 32<<20 + 192*13},
		{"valid-large-file", compose.Options{Files: []string{big}}, 32<<20 + 192<<20},
		{"valid-both", compose.Options{Files: []string{small, big}}, 32<<20 + 192*(1<<20+13)},
		{"valid-stdin", compose.Options{Files: []string{"-"}}, 32 << 20},
		{"valid-default-file-in-project-dir", compose.Options{ProjectDir: dir}, 32<<20 + 192<<20},
	} {
		if got := gcLimit(tt.o); got != tt.want {
			t.Errorf("%s: gcLimit = %d, want %d", tt.name, got, tt.want)
		}
	}
}
