package testbed

import (
	"bytes"
	"context"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the tools archives (tools.txtar, ...) from the tools modules")

// embedded maps each tools archive of the package to its module in the repository.
var embedded = []struct {
	file    string
	archive []byte
	module  string
}{
	{"tools.txtar", toolsArchive, controlPlane.module},
	{"tools_nodes.txtar", nodesArchive, nodeTools.module},
	{"tools_coredns.txtar", coreDNSArchive, coreDNSTools.module},
	{"tools_kube-router.txtar", kubeRouterArchive, kubeRouterTools.module},
}

func readToolsModule(t *testing.T, module string) []archiveFile {
	t.Helper()
	dir := filepath.Join("..", "..", filepath.FromSlash(module))
	var files []archiveFile
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files = append(files, archiveFile{Name: filepath.ToSlash(rel), Data: data})
		return nil
	})
	if err != nil {
		t.Fatalf("reading the tools module %s: %v", module, err)
	}
	return files
}

func TestToolsArchiveMatchesModule(t *testing.T) {
	t.Parallel()
	for _, e := range embedded {
		want := formatArchive(archiveComment(e.module), readToolsModule(t, e.module))
		if *update {
			if err := os.WriteFile(e.file, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if !bytes.Equal(e.archive, want) {
			t.Errorf("%s differs from %s; run go test ./internal/testbed -run Archive -update", e.file, e.module)
		}
	}
}

func TestArchiveRoundTrip(t *testing.T) {
	t.Parallel()
	files := []archiveFile{{Name: "go.mod", Data: []byte("module x\n")}, {Name: "cmd/a/main.go", Data: []byte("package main")}}
	got := parseArchive(formatArchive("comment\n", files))
	if len(got) != 2 || got[0].Name != "cmd/a/main.go" || string(got[0].Data) != "package main\n" ||
		got[1].Name != "go.mod" || string(got[1].Data) != "module x\n" {
		t.Fatalf("round trip gave %+v", got)
	}
	dir := t.TempDir()
	if err := extractArchive(dir, []archiveFile{{Name: "../escape", Data: nil}}); err == nil {
		t.Fatal("extracting ../escape succeeded")
	}
	if err := extractArchive(dir, got); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cmd", "a", "main.go")); err != nil {
		t.Fatal(err)
	}
}

func TestCacheKey(t *testing.T) {
	t.Parallel()
	ts := toolset{archive: []byte("x"), tools: []tool{{"./cmd/a", "a"}}}
	a := cacheKey(ts, "go1.26.8")
	if a != cacheKey(ts, "go1.26.8") {
		t.Fatal("cache key is not stable")
	}
	other := []toolset{
		{archive: []byte("y"), tools: ts.tools},
		{archive: ts.archive, tools: []tool{{"./cmd/b", "b"}}},
		{archive: ts.archive, tools: ts.tools, ldflags: "-X v=1"},
	}
	for _, o := range other {
		if cacheKey(o, "go1.26.8") == a {
			t.Errorf("cache key ignores %+v", o)
		}
	}
	if a == cacheKey(ts, "go1.26.9") {
		t.Fatal("cache key ignores the Go version")
	}
}

func TestConcurrentInstallBuildsOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the control plane")
	}
	t.Parallel()
	type result struct {
		bins Binaries
		err  error
	}
	results := make(chan result, 3)
	for range 3 {
		go func() {
			b, err := Install(context.Background())
			results <- result{b, err}
		}()
	}
	var first Binaries
	for i := range 3 {
		r := <-results
		if r.err != nil {
			t.Fatalf("Install: %v", r.err)
		}
		if i == 0 {
			first = r.bins
		} else if r.bins != first {
			t.Fatalf("Install gave %+v and %+v", first, r.bins)
		}
	}
	if !first.exist() {
		t.Fatalf("binaries missing: %+v", first)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(first.Etcd), "..", "*.tmp-*"))
	if len(leftovers) > 0 {
		t.Fatalf("temporary build folders left: %v", leftovers)
	}
}
