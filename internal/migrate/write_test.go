package migrate_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/agops/agops/internal/migrate"
)

// TestMigrateFailedWriteLeavesNothing: the tree is written file by file as it is rendered; a file that cannot be
// written half-way through (here the one whose path goes over the system's limit, after the report and the shorter
// files were written) leaves the earlier output exactly as it was and nothing beside it.
func TestMigrateFailedWriteLeavesNothing(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("w", 60)
	file := filepath.Join(t.TempDir(), "compose.yaml")
	writeFiles(t, filepath.Dir(file), map[string]string{"compose.yaml": "services:\n  web:\n    image: nginx:1.27\n  " + long + ":\n    image: nginx:1.27\n"})
	// A parent folder of 4,030 bytes: its temporary sibling's report.json and base/networkpolicies.yaml fit within
	// PATH_MAX (4,096), base/<long>.yaml does not.
	parent := t.TempDir()
	for len(parent) < 4030 {
		parent = filepath.Join(parent, strings.Repeat("d", min(200, 4030-len(parent)-1)))
	}
	out := filepath.Join(parent, "o")
	earlier := map[string]string{"report.json": "{}\n", "base/web.yaml": "old\n"}
	writeFiles(t, out, earlier)

	_, err := migrate.Run(context.Background(), options(file, out))
	if !errors.Is(err, syscall.ENAMETOOLONG) {
		t.Fatalf("migrate: %v, want a file name too long", err)
	}
	got := readTree(t, out)
	if len(got) != len(earlier) {
		t.Errorf("the earlier output changed: holds %q", sortedNames(got))
	}
	for name, data := range earlier {
		if string(got[name]) != data {
			t.Errorf("%s changed: %q", name, got[name])
		}
	}
	es, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"o"}) {
		t.Errorf("beside the output: %q, want only o", names)
	}
}
