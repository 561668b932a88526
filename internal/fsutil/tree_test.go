package fsutil_test

import (
	"bufio"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/agops/agops/internal/fsutil"
)

// tree is a small agops output, marker included.
func tree() map[string][]byte {
	return map[string][]byte{
		"base/kustomization.yaml":                 []byte("kind: Kustomization\n"),
		"base/web.yaml":                           []byte("kind: Deployment\n"),
		"overlays/ha/patches/deployment-web.yaml": []byte("- op: replace\n"),
		"report.md":                               []byte("# report\n"),
		fsutil.Marker:                             []byte("{}\n"),
	}
}

// read returns every regular file below dir, by slash-separated relative path.
func read(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatalf("reading %s: %v", dir, err)
	}
	return out
}

func writeFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func equalTrees(a, b map[string][]byte) bool {
	return maps.EqualFunc(a, b, func(x, y []byte) bool { return string(x) == string(y) })
}

func TestWriteTree(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// before lays out the parent folder; the output goes to parent/out.
		before func(t *testing.T, out string)
	}{
		{"valid-new-folder", func(t *testing.T, out string) {}},
		{"valid-empty-folder", func(t *testing.T, out string) {
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{"valid-earlier-output", func(t *testing.T, out string) {
			writeFiles(t, out, map[string][]byte{fsutil.Marker: []byte("{\"old\":true}\n"), "base/stale.yaml": []byte("old\n"), "report.md": []byte("old\n")})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parent := t.TempDir()
			out := filepath.Join(parent, "out")
			tt.before(t, out)
			if err := fsutil.WriteTree(out, tree()); err != nil {
				t.Fatalf("WriteTree: %v", err)
			}
			if got := read(t, out); !equalTrees(got, tree()) {
				t.Errorf("output holds %q, want exactly %q", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(tree())))
			}
			if got := entries(t, parent); !slices.Equal(got, []string{"out"}) {
				t.Errorf("parent holds %q, want only out (no temporary or old folders)", got)
			}
		})
	}
}

func TestWriteTreeNestedNewFolder(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	out := filepath.Join(parent, "a", "b", "out")
	if err := fsutil.WriteTree(out, tree()); err != nil {
		t.Fatalf("WriteTree: %v", err)
	}
	if got := read(t, out); !equalTrees(got, tree()) {
		t.Errorf("output holds %q", slices.Sorted(maps.Keys(got)))
	}
	if got := entries(t, filepath.Join(parent, "a", "b")); !slices.Equal(got, []string{"out"}) {
		t.Errorf("parent holds %q, want only out", got)
	}
}

func TestWriteTreeTwice(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	out := filepath.Join(parent, "out")
	first := tree()
	first["base/db.yaml"] = []byte("kind: StatefulSet\n")
	if err := fsutil.WriteTree(out, first); err != nil {
		t.Fatal(err)
	}
	if err := fsutil.WriteTree(out, tree()); err != nil {
		t.Fatalf("second WriteTree: %v", err)
	}
	if got := read(t, out); !equalTrees(got, tree()) {
		t.Errorf("after two runs the output holds %q, want the second tree only", slices.Sorted(maps.Keys(got)))
	}
	if got := entries(t, parent); !slices.Equal(got, []string{"out"}) {
		t.Errorf("parent holds %q, want only out", got)
	}
}

func TestWriteTreeRefuses(t *testing.T) {
	t.Parallel()
	foreign := map[string][]byte{"notes.txt": []byte("mine\n"), "src/main.go": []byte("package main\n")}
	earlier := map[string][]byte{fsutil.Marker: []byte("{}\n"), "base/web.yaml": []byte("old\n")}
	bad := func(name string) map[string][]byte {
		files := tree()
		files[name] = []byte("x\n")
		return files
	}
	tests := []struct {
		name    string
		before  map[string][]byte // files in the output folder beforehand; nil: no folder
		files   map[string][]byte
		wantErr string
	}{
		{"invalid-foreign-folder", foreign, tree(), "not empty"},
		{"invalid-foreign-folder-with-report-md", map[string][]byte{"report.md": []byte("mine\n")}, tree(), "not empty"},
		{"invalid-dot-dot-new-folder", nil, bad("../escape.yaml"), "refusing"},
		{"invalid-dot-dot-inside-new-folder", nil, bad("base/../../escape.yaml"), "refusing"},
		{"invalid-absolute-new-folder", nil, bad("/tmp/agops-escape.yaml"), "refusing"},
		{"invalid-dot-dot-earlier-output", earlier, bad("../escape.yaml"), "refusing"},
		{"invalid-absolute-earlier-output", earlier, bad("/etc/agops-escape.yaml"), "refusing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parent := t.TempDir()
			out := filepath.Join(parent, "out")
			if tt.before != nil {
				writeFiles(t, out, tt.before)
			}
			err := fsutil.WriteTree(out, tt.files)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("WriteTree: error %v, want one saying %q", err, tt.wantErr)
			}
			if tt.before == nil {
				if _, err := os.Stat(out); !os.IsNotExist(err) {
					t.Errorf("output folder exists after a refusal: %v", err)
				}
				if got := entries(t, parent); len(got) != 0 {
					t.Errorf("parent holds %q after a refusal, want nothing", got)
				}
			} else {
				if got := read(t, out); !equalTrees(got, tt.before) {
					t.Errorf("output folder changed: holds %q, want %q", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(tt.before)))
				}
				if got := entries(t, parent); !slices.Equal(got, []string{"out"}) {
					t.Errorf("parent holds %q after a refusal, want only out", got)
				}
			}
			if _, err := os.Stat(filepath.Join(parent, "escape.yaml")); err == nil {
				t.Errorf("a file was written outside the output folder")
			}
		})
	}
}

// TestWriteTreeRefusesNothingCreated: a refused tree leaves no trace, not even the missing parents of the output
// folder.
func TestWriteTreeRefusesNothingCreated(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	files := tree()
	files["../escape.yaml"] = []byte("x\n")
	if err := fsutil.WriteTree(filepath.Join(root, "new", "out"), files); err == nil {
		t.Fatal("WriteTree accepted a name with ..")
	}
	if got := entries(t, root); len(got) != 0 {
		t.Errorf("%s holds %q after a refusal, want nothing", root, got)
	}
}

func TestWriteTreeOutputIsAFile(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	out := filepath.Join(parent, "out")
	if err := os.WriteFile(out, []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := fsutil.WriteTree(out, tree()); err == nil {
		t.Fatal("WriteTree replaced a regular file")
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != "mine\n" {
		t.Errorf("the file changed: %q, %v", b, err)
	}
	if got := entries(t, parent); !slices.Equal(got, []string{"out"}) {
		t.Errorf("parent holds %q, want only out", got)
	}
}

func TestWriteTreeModes(t *testing.T) {
	t.Parallel()
	if mask, ok := umask(); !ok || mask != 0o022 {
		t.Skipf("umask is %04o (known %v); the modes are checked under 0022", mask, ok)
	}
	out := filepath.Join(t.TempDir(), "out")
	if err := fsutil.WriteTree(out, tree()); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o644)
		if d.IsDir() {
			want = 0o755 | fs.ModeDir
		}
		if info.Mode() != want {
			t.Errorf("%s has mode %v, want %v", p, info.Mode(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// umask reads the process umask from /proc without changing it (syscall.Umask would, for every parallel test).
func umask() (fs.FileMode, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "Umask:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			return fs.FileMode(n), err == nil
		}
	}
	return 0, false
}

// TestStagedWritesConcurrently: files written from several goroutines all land, and nothing shows before Commit.
func TestStagedWritesConcurrently(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	out := filepath.Join(parent, "new", "out")
	s, err := fsutil.Stage(out, fsutil.Marker, "agops")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	errs := make(chan error)
	for g := range 4 {
		for i := range 25 {
			name := "base/w" + strconv.Itoa(g*100+i) + ".yaml"
			want[name] = []byte(name + "\n")
		}
		go func() {
			for i := range 25 {
				name := "base/w" + strconv.Itoa(g*100+i) + ".yaml"
				if err := s.Write(name, fsutil.File{Data: []byte(name + "\n"), Mode: 0o644}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("the output folder exists before Commit: %v", err)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, out); !equalTrees(got, want) {
		t.Errorf("wrote %d files, want %d", len(got), len(want))
	}
	if got := entries(t, filepath.Dir(out)); !slices.Equal(got, []string{"out"}) {
		t.Errorf("beside the output: %q, want only out", got)
	}
}

// TestStagedAbortLeavesNothing: a writer that fails half-way leaves the earlier output as it was, or no trace at
// all — not its temporary folder, nor the parents Stage created.
func TestStagedAbortLeavesNothing(t *testing.T) {
	t.Parallel()
	t.Run("valid-new-folder", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		s, err := fsutil.Stage(filepath.Join(root, "a", "b", "out"), fsutil.Marker, "agops")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Write("base/web.yaml", fsutil.File{Data: []byte("x\n"), Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
		if err := s.Write("../escape.yaml", fsutil.File{Data: []byte("x\n"), Mode: 0o644}); err == nil {
			t.Fatal("Write accepted a name with ..")
		}
		s.Abort()
		if got := entries(t, root); len(got) != 0 {
			t.Errorf("%s holds %q after Abort, want nothing", root, got)
		}
	})
	t.Run("valid-earlier-output", func(t *testing.T) {
		t.Parallel()
		parent := t.TempDir()
		out := filepath.Join(parent, "out")
		earlier := map[string][]byte{fsutil.Marker: []byte("{}\n"), "base/web.yaml": []byte("old\n")}
		writeFiles(t, out, earlier)
		s, err := fsutil.Stage(out, fsutil.Marker, "agops")
		if err != nil {
			t.Fatal(err)
		}
		for name, data := range tree() {
			if err := s.Write(name, fsutil.File{Data: data, Mode: 0o644}); err != nil {
				t.Fatal(err)
			}
		}
		s.Abort()
		if got := read(t, out); !equalTrees(got, earlier) {
			t.Errorf("output folder changed: holds %q", slices.Sorted(maps.Keys(got)))
		}
		if got := entries(t, parent); !slices.Equal(got, []string{"out"}) {
			t.Errorf("parent holds %q after Abort, want only out", got)
		}
	})
	t.Run("invalid-foreign-folder", func(t *testing.T) {
		t.Parallel()
		out := filepath.Join(t.TempDir(), "out")
		writeFiles(t, out, map[string][]byte{"notes.txt": []byte("mine\n")})
		if _, err := fsutil.Stage(out, fsutil.Marker, "agops"); err == nil || !strings.Contains(err.Error(), "not empty") {
			t.Fatalf("Stage: error %v, want one saying not empty", err)
		}
	})
}
