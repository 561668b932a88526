package cluster

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

// testToken stands in for the random join token in golden tests; the golden trees never hold secrets/token.
const testToken = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// goldenCases are the specs behind testdata/golden/<name>/.
func goldenCases() map[string]Flags {
	three := []string{"gpu-1=192.168.10.11", "cpu-1=192.168.10.12", "cpu-2=192.168.10.13"}
	return map[string]Flags{
		"k3s-3node-gpu": {Distro: "k3s", Nodes: three, VIP: "192.168.10.10", Accelerators: []string{"gpu-1=nvidia"}},
		"k3s-3node-airgap-mirror": {
			Distro: "k3s", Nodes: []string{"node-1=10.20.0.11", "node-2=10.20.0.12", "node-3=10.20.0.13"}, VIP: "10.20.0.10",
			CIDR: "10.20.0.0/22", Airgap: true, RegistryMirror: "registry.lab:5000/mirror", Interface: "eno1",
			Accelerators: []string{"node-1=nvidia", "node-2=amd", "node-3=npu"}, NPUResource: "vendor.example/npu",
		},
		"talos-3node-gpu": {
			Distro: "talos", Nodes: three, VIP: "192.168.10.10", Accelerators: []string{"gpu-1=nvidia"},
			Airgap: true, RegistryMirror: "registry.lab:5000",
		},
	}
}

func mustSpec(t testing.TB, f Flags) Spec {
	t.Helper()
	s, err := Parse(f)
	if err != nil {
		t.Fatalf("Parse(%+v): %v", f, err)
	}
	return s
}

func TestGolden(t *testing.T) {
	for name, f := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			tree, err := Generate(mustSpec(t, f), testToken)
			if err != nil {
				t.Fatal(err)
			}
			delete(tree, TokenPath)
			dir := filepath.Join("testdata", "golden", name)
			if *update {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				if err := writeTree(dir, tree); err != nil {
					t.Fatal(err)
				}
				return
			}
			compareTree(t, dir, tree)
		})
	}
}

// compareTree fails for every file that differs from, is missing from, or is extra to dir.
func compareTree(t *testing.T, dir string, tree Tree) {
	t.Helper()
	want := readTree(t, dir)
	for _, p := range tree.Paths() {
		w, ok := want[p]
		switch {
		case !ok:
			t.Errorf("%s: not in %s (run go test ./internal/cluster -update)", p, dir)
		case !bytes.Equal(w, tree[p].Data):
			t.Errorf("%s differs from %s/%s (run go test ./internal/cluster -update and review the diff):\n%s", p, dir, p, tree[p].Data)
		}
		delete(want, p)
	}
	for p := range want {
		t.Errorf("%s/%s is no longer generated", dir, p)
	}
}

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		t.Fatalf("reading %s: %v", dir, err)
	}
	return out
}

func TestGenerateIsDeterministic(t *testing.T) {
	t.Parallel()
	for name, f := range goldenCases() {
		a, _ := Generate(mustSpec(t, f), testToken)
		b, _ := Generate(mustSpec(t, f), testToken)
		for _, p := range a.Paths() {
			if !bytes.Equal(a[p].Data, b[p].Data) {
				t.Errorf("%s: %s differs between two runs", name, p)
			}
		}
	}
}

// TestTokenOnlyInSecrets writes a real tree with a random token: the token is in secrets/token (0600, in a 0700
// folder) and in no other file.
func TestTokenOnlyInSecrets(t *testing.T) {
	t.Parallel()
	for name, f := range goldenCases() {
		dir := filepath.Join(t.TempDir(), "out")
		tree, err := Init(mustSpec(t, f), dir)
		if err != nil {
			t.Fatal(err)
		}
		if f.Distro != "k3s" {
			if _, ok := tree[TokenPath]; ok {
				t.Errorf("%s: talos output has a k3s token", name)
			}
			continue
		}
		token := string(tree[TokenPath].Data)
		if len(token) != 64 || token == testToken {
			t.Fatalf("%s: token %d characters, want 64 random hex digits", name, len(token))
		}
		checkMode(t, filepath.Join(dir, "secrets", "token"), 0o600)
		checkMode(t, filepath.Join(dir, "secrets"), fs.ModeDir|0o700)
		on := readTree(t, dir)
		for p, data := range on {
			if p != TokenPath && bytes.Contains(data, []byte(token)) {
				t.Errorf("%s: the token appears in %s", name, p)
			}
		}
		for _, p := range tree.Paths() {
			if strings.HasSuffix(p, ".sh") {
				checkMode(t, filepath.Join(dir, filepath.FromSlash(p)), 0o755)
			}
		}
	}
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode() != want {
		t.Errorf("%s: mode %v, want %v", path, st.Mode(), want)
	}
}

// TestInitKeepsTokenAndRefusesForeignFolders: a second init into the same folder keeps the token (a running cluster
// keeps working); a folder agops did not write is left alone.
func TestInitKeepsTokenAndRefusesForeignFolders(t *testing.T) {
	t.Parallel()
	s := mustSpec(t, goldenCases()["k3s-3node-gpu"])
	dir := filepath.Join(t.TempDir(), "out")
	first, err := Init(s, dir)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Init(s, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first[TokenPath].Data, second[TokenPath].Data) {
		t.Error("a second init changed the join token")
	}
	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(s, foreign); err == nil || !strings.Contains(err.Error(), "not written by agops cluster init") {
		t.Errorf("init into a foreign folder: %v, want a refusal", err)
	}
	entries, _ := os.ReadDir(foreign)
	if len(entries) != 1 {
		t.Errorf("the foreign folder changed: %d entries", len(entries))
	}
}

func TestInitWritesNothingOnError(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "out")
	bad := goldenCases()["k3s-3node-gpu"]
	bad.VIP = "192.168.10.11"
	s, _ := Parse(bad)
	if _, err := Init(s, dir); err == nil {
		t.Fatal("Init accepted a VIP equal to a node address")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("Init left %s behind: %v", dir, err)
	}
	parent, _ := os.ReadDir(filepath.Dir(dir))
	names := []string{}
	for _, e := range parent {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if len(names) != 0 {
		t.Errorf("Init left %v beside the output folder", names)
	}
}
