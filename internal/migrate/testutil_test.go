package migrate_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/agops/agops/internal/compose"
	"github.com/agops/agops/internal/migrate"
	"github.com/agops/agops/internal/plan"
)

// project is one Compose project the acceptance tests migrate.
type project struct {
	Name string
	File string
}

// repoRoot walks up from the working directory to the folder holding go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// exampleProject is the shipped example.
func exampleProject(t testing.TB) project {
	t.Helper()
	return project{Name: "example/ai-lab", File: filepath.Join(repoRoot(t), "examples", "ai-lab", "compose.yaml")}
}

// composeNames are the file names docker compose looks for, in its order.
var composeNames = []string{"compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"}

// corpusDir is the awesome-compose corpus beside the repository.
func corpusDir(t testing.TB) string {
	return filepath.Join(repoRoot(t), "..", "shared", "corpus", "awesome-compose")
}

// corpusProjects lists the awesome-compose projects, skipping the test when the corpus is absent.
func corpusProjects(t testing.TB) []project {
	t.Helper()
	ps, ok := listCorpus(t)
	if !ok {
		t.Skipf("corpus %s is absent: these tests need the awesome-compose projects there", corpusDir(t))
	}
	return ps
}

// allProjects is the example followed by the corpus; without the corpus it is the example alone.
func allProjects(t testing.TB) []project {
	t.Helper()
	ps, ok := listCorpus(t)
	if !ok {
		t.Logf("corpus %s is absent: checking the example only", corpusDir(t))
	}
	return append([]project{exampleProject(t)}, ps...)
}

// listCorpus lists the corpus projects; ok is false when the corpus folder does not exist.
func listCorpus(t testing.TB) (ps []project, ok bool) {
	t.Helper()
	dir := corpusDir(t)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false
	}
	if err != nil {
		t.Fatalf("reading corpus %s: %v", dir, err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		f, err := findComposeFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Errorf("corpus project %s: %v", e.Name(), err)
			continue
		}
		ps = append(ps, project{Name: e.Name(), File: f})
	}
	if len(ps) == 0 {
		t.Fatalf("corpus %s holds no project", dir)
	}
	return ps, true
}

// findComposeFile finds the compose file of a project folder, or of one folder below it.
func findComposeFile(dir string) (string, error) {
	for _, n := range composeNames {
		if p := filepath.Join(dir, n); isFile(p) {
			return p, nil
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		for _, n := range composeNames {
			if p := filepath.Join(dir, e.Name(), n); isFile(p) {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("no compose file in %s or one level below", dir)
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// options are the default migration options for one compose file, writing a file tree to out.
func options(file, out string) migrate.Options {
	return migrate.Options{
		Compose: compose.Options{Files: []string{file}},
		Plan:    plan.DefaultOptions(),
		Out:     out,
		Format:  migrate.FormatFiles,
	}
}

// migrateTree migrates a project into a fresh folder and returns the folder.
func migrateTree(t *testing.T, p project, edit func(*migrate.Options)) (string, migrate.Result) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	o := options(p.File, out)
	if edit != nil {
		edit(&o)
	}
	res, err := migrate.Run(context.Background(), o)
	if err != nil {
		t.Fatalf("%s: migrate: %v", p.Name, err)
	}
	return out, res
}

// migrateStream runs a migration with --format yaml for one overlay and returns the stream.
func migrateStream(t *testing.T, p project, overlay string, edit func(*migrate.Options)) []byte {
	t.Helper()
	var buf bytes.Buffer
	o := options(p.File, "")
	o.Format = migrate.FormatYAML
	o.Overlay = overlay
	o.Stdout = &buf
	if edit != nil {
		edit(&o)
	}
	if _, err := migrate.Run(context.Background(), o); err != nil {
		t.Fatalf("%s: migrate --format yaml --overlay %s: %v", p.Name, overlay, err)
	}
	return buf.Bytes()
}

// readTree reads every file below dir, keyed by slash-separated relative path.
func readTree(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatalf("reading %s: %v", dir, err)
	}
	return files
}

// sortedNames returns the keys of a file tree in order.
func sortedNames(files map[string][]byte) []string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// compareTrees reports every difference between two file trees.
func compareTrees(t testing.TB, what string, want, got map[string][]byte) {
	t.Helper()
	for _, n := range sortedNames(want) {
		g, ok := got[n]
		switch {
		case !ok:
			t.Errorf("%s: %s is missing", what, n)
		case !bytes.Equal(want[n], g):
			t.Errorf("%s: %s differs:\n--- want\n%s\n--- got\n%s", what, n, want[n], g)
		}
	}
	for _, n := range sortedNames(got) {
		if _, ok := want[n]; !ok {
			t.Errorf("%s: unexpected file %s", what, n)
		}
	}
}

// splitDocs splits a multi-document YAML stream, leaving out documents that hold only comments or blanks.
func splitDocs(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if !isBlankDoc(doc) {
			docs = append(docs, doc)
		}
	}
}

func isBlankDoc(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		l := strings.TrimSpace(line)
		if l != "" && l != "---" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

// decodeObjects decodes a multi-document stream into generic objects keyed by apiVersion/kind/namespace/name. A
// document without apiVersion, kind or name, or a key seen twice, is an error.
func decodeObjects(data []byte) (map[string]map[string]any, error) {
	docs, err := splitDocs(data)
	if err != nil {
		return nil, err
	}
	objs := map[string]map[string]any{}
	for i, doc := range docs {
		var m map[string]any
		if err := yaml.UnmarshalStrict(doc, &m); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		key, err := objectKey(m)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if _, dup := objs[key]; dup {
			return nil, fmt.Errorf("document %d: %s appears twice", i, key)
		}
		objs[key] = m
	}
	return objs, nil
}

func objectKey(m map[string]any) (string, error) {
	meta, _ := m["metadata"].(map[string]any)
	apiVersion, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	name, _ := meta["name"].(string)
	ns, _ := meta["namespace"].(string)
	if apiVersion == "" || kind == "" || name == "" {
		return "", fmt.Errorf("object without apiVersion, kind or metadata.name: %v", m)
	}
	return apiVersion + "/" + kind + "/" + ns + "/" + name, nil
}

// sortedKeys returns the keys of a map in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// writeFiles writes a small project: paths relative to dir, slash-separated.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
