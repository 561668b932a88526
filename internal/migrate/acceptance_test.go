package migrate_test

// Acceptance tests: the shipped example and the awesome-compose corpus go through migrate.Run, and the output is
// checked from the outside — strict decoding into k8s.io/api types, `kubectl kustomize` against --format yaml, no
// secret values in the output, byte-identical re-runs, and atomic writes. The six checks stay in one file (longer
// than the house's 400 lines) so that the output contract reads in one place; generic helpers are in testutil_test.go.

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/agops/agops/internal/compose"
	"github.com/agops/agops/internal/migrate"
	"github.com/agops/agops/internal/model"
	"github.com/agops/agops/internal/plan"
)

// TestAcceptanceCorpus migrates every corpus project with default options, then again with Strict, and lists the
// projects that need a person's input.
func TestAcceptanceCorpus(t *testing.T) {
	t.Parallel()
	projects := corpusProjects(t)
	var mu sync.Mutex
	needs := map[string][]model.Decision{}
	t.Run("projects", func(t *testing.T) {
		for _, p := range projects {
			t.Run(p.Name, func(t *testing.T) {
				t.Parallel()
				ds := checkCorpusProject(t, p)
				if len(ds) > 0 {
					mu.Lock()
					needs[p.Name] = ds
					mu.Unlock()
				}
			})
		}
	})
	t.Logf("%d of %d corpus projects need input under --strict", len(needs), len(projects))
	for _, name := range sortedKeys(needs) {
		for _, d := range needs[name] {
			t.Logf("  %s: %s", name, describe(d))
		}
	}
}

// checkCorpusProject migrates one project plainly and under Strict, and returns its needs-input decisions.
func checkCorpusProject(t *testing.T, p project) []model.Decision {
	out := filepath.Join(t.TempDir(), "out")
	res, err := migrate.Run(context.Background(), options(p.File, out))
	if err != nil {
		t.Errorf("%s: migrate: %v", p.Name, err)
		return nil
	}
	if len(res.Files) == 0 || !isFile(filepath.Join(out, "report.json")) {
		t.Errorf("%s: migrate wrote no tree (files %v)", p.Name, res.Files)
	}
	want := model.NeedingInput(res.Model.Decisions)

	strictOut := filepath.Join(t.TempDir(), "strict")
	o := options(p.File, strictOut)
	o.Strict = true
	sres, err := migrate.Run(context.Background(), o)
	switch {
	case err == nil && len(want) > 0:
		t.Errorf("%s: --strict succeeded although %d decisions need input", p.Name, len(want))
	case err == nil:
		return nil
	case !errors.Is(err, migrate.ErrNeedsInput):
		t.Errorf("%s: migrate --strict: %v", p.Name, err)
		return nil
	case sres.Model == nil || len(model.NeedingInput(sres.Model.Decisions)) == 0:
		t.Errorf("%s: --strict failed with needs-input but reports no such decision: %v", p.Name, err)
	}
	if _, statErr := os.Stat(strictOut); !errors.Is(statErr, os.ErrNotExist) {
		t.Errorf("%s: --strict failed but wrote %s", p.Name, strictOut)
	}
	for _, d := range want {
		t.Logf("needs input: %s", describe(d))
	}
	return want
}

func describe(d model.Decision) string {
	svc := d.Service
	if svc == "" {
		svc = "(project)"
	}
	s := fmt.Sprintf("%s: %s: %s", svc, d.Key, d.Reason)
	if d.Hint != "" {
		s += " (hint: " + d.Hint + ")"
	}
	return s
}

var strictDecoder = sync.OnceValue(func() runtime.Decoder {
	return serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
})

// strictDecode decodes every document of a stream into its k8s.io/api type, refusing unknown fields, duplicate
// fields and wrong types.
func strictDecode(data []byte) (int, error) {
	docs, err := splitDocs(data)
	if err != nil {
		return 0, err
	}
	var errs []error
	for i, doc := range docs {
		obj, gvk, err := strictDecoder().Decode(doc, nil, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", i, err))
			continue
		}
		if pkg := reflect.TypeOf(obj).Elem().PkgPath(); !strings.HasPrefix(pkg, "k8s.io/api/") {
			errs = append(errs, fmt.Errorf("document %d: %s decoded into %s, not a k8s.io/api type", i, gvk, pkg))
		}
	}
	return len(docs), errors.Join(errs...)
}

// TestAcceptanceStrictDecoderRefuses shows that strictDecode would catch an unknown field and a wrong type.
func TestAcceptanceStrictDecoderRefuses(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"invalid-unknown-field": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  colour: red\n",
		"invalid-wrong-type":    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replicas: two\n",
		"invalid-unknown-kind":  "apiVersion: v1\nkind: Gadget\nmetadata:\n  name: x\n",
	} {
		if _, err := strictDecode([]byte(doc)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
	if _, err := strictDecode([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: b\n")); err != nil {
		t.Errorf("valid-configmap: %v", err)
	}
}

// TestAcceptanceStrictDecode decodes every object of base/ and of the ha disruption budgets strictly.
func TestAcceptanceStrictDecode(t *testing.T) {
	t.Parallel()
	for _, p := range allProjects(t) {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			out, _ := migrateTree(t, p, nil)
			files := readTree(t, out)
			objects := 0
			for _, name := range sortedNames(files) {
				if !decodedFile(name) {
					continue
				}
				n, err := strictDecode(files[name])
				if err != nil {
					t.Errorf("%s: %s: %v", p.Name, name, err)
				}
				objects += n
			}
			if objects == 0 {
				t.Errorf("%s: no object under base/", p.Name)
			}
			t.Logf("%s: %d objects decoded strictly", p.Name, objects)
		})
	}
}

// decodedFile tells whether a file of the tree holds Kubernetes objects (not kustomization.yaml, not patches).
func decodedFile(name string) bool {
	if path.Base(name) == "kustomization.yaml" || !strings.HasSuffix(name, ".yaml") {
		return false
	}
	return strings.HasPrefix(name, "base/") || name == "overlays/ha/disruption-budgets.yaml"
}

// TestAcceptanceKustomize renders both overlays with `kubectl kustomize` and compares them, as sets of objects,
// with the --format yaml stream of the same overlay.
func TestAcceptanceKustomize(t *testing.T) {
	t.Parallel()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl is not on PATH (the project contract guarantees it): %v", err)
	}
	for _, p := range allProjects(t) {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			out, _ := migrateTree(t, p, nil)
			for _, overlay := range []string{"ha", "single-node"} {
				built, err := kustomize(t, kubectl, filepath.Join(out, "overlays", overlay))
				if err != nil {
					t.Errorf("%s: kubectl kustomize overlays/%s: %v", p.Name, overlay, err)
					continue
				}
				if _, err := strictDecode(built); err != nil {
					t.Errorf("%s: kubectl kustomize overlays/%s: %v", p.Name, overlay, err)
				}
				stream := migrateStream(t, p, overlay, nil)
				compareObjects(t, fmt.Sprintf("%s overlay %s", p.Name, overlay), built, stream)
			}
		})
	}
}

func kustomize(t *testing.T, kubectl, dir string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), kubectl, "kustomize", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// compareObjects reports every object that is in one stream and not the other, or differs between them.
func compareObjects(t *testing.T, what string, kustomized, stream []byte) {
	t.Helper()
	k, err := decodeObjects(kustomized)
	if err != nil {
		t.Errorf("%s: decoding kubectl kustomize output: %v", what, err)
		return
	}
	s, err := decodeObjects(stream)
	if err != nil {
		t.Errorf("%s: decoding --format yaml output: %v", what, err)
		return
	}
	if len(s) == 0 {
		t.Errorf("%s: the --format yaml stream holds no object", what)
	}
	for _, key := range sortedKeys(k) {
		if _, ok := s[key]; !ok {
			t.Errorf("%s: %s is in kubectl kustomize's output only", what, key)
		}
	}
	for _, key := range sortedKeys(s) {
		ko, ok := k[key]
		if !ok {
			t.Errorf("%s: %s is in the --format yaml stream only", what, key)
			continue
		}
		if !reflect.DeepEqual(ko, s[key]) {
			var diffs []string
			diffValues(&diffs, "", ko, s[key])
			t.Errorf("%s: %s differs (kustomize vs stream):\n  %s", what, key, strings.Join(diffs, "\n  "))
		}
	}
}

// diffValues lists the paths where two decoded YAML values differ, at most 20 of them.
func diffValues(diffs *[]string, at string, a, b any) {
	if len(*diffs) >= 20 {
		return
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]any{}
		for k := range am {
			keys[k] = nil
		}
		for k := range bm {
			keys[k] = nil
		}
		for _, k := range sortedKeys(keys) {
			diffValues(diffs, at+"."+k, am[k], bm[k])
		}
		return
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok && len(al) == len(bl) {
		for i := range al {
			diffValues(diffs, fmt.Sprintf("%s[%d]", at, i), al[i], bl[i])
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		*diffs = append(*diffs, fmt.Sprintf("%s: %v != %v", at, a, b))
	}
}

// secretValue is one secret of the input and the forms it could take in the output.
type secretValue struct {
	Source string
	Value  string
}

// variants are the value and, when it differs, the value without surrounding blanks (a file's trailing newline).
func (s secretValue) variants() []string {
	out := []string{s.Value}
	if tv := strings.TrimSpace(s.Value); tv != s.Value {
		out = append(out, tv)
	}
	return slices.DeleteFunc(out, func(v string) bool { return len(v) < 4 })
}

// encodings are the ways a value may be written: as is, and base64 in all four alphabets.
var encodings = []struct {
	name string
	enc  func(string) string
}{
	{"plain", func(s string) string { return s }},
	{"base64", func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }},
	{"raw base64", func(s string) string { return base64.RawStdEncoding.EncodeToString([]byte(s)) }},
	{"base64url", func(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) }},
	{"raw base64url", func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }},
}

// findValue returns where a secret appears in the files, as "file (encoding)".
func findValue(files map[string][]byte, s secretValue) []string {
	var hits []string
	for _, name := range sortedNames(files) {
		for _, v := range s.variants() {
			for _, e := range encodings {
				if bytes.Contains(files[name], []byte(e.enc(v))) {
					hits = append(hits, fmt.Sprintf("%s (%s)", name, e.name))
				}
			}
		}
	}
	return slices.Compact(hits)
}

// inputSecrets collects the secret values of a project: top-level secrets from files and environment variables,
// and the credentials the model holds. It also returns the project's non-secret text (the loaded project without
// its credential variables), so that a value that appears there too (POSTGRES_PASSWORD=postgres) can be told apart.
func inputSecrets(t *testing.T, o migrate.Options, m *model.Project) ([]secretValue, string) {
	t.Helper()
	cp, err := compose.Load(context.Background(), o.Compose)
	if err != nil {
		t.Fatalf("loading %v: %v", o.Compose.Files, err)
	}
	var vals []secretValue
	credKeys := map[string]bool{}
	for _, sec := range m.Secrets {
		for _, k := range sec.Keys {
			credKeys[k.Key] = true
			if k.Known {
				vals = append(vals, secretValue{"Secret " + sec.Name + " key " + k.Key + " (" + k.Source + ")", string(k.Value)})
			}
		}
	}
	for _, name := range sortedKeys(cp.Secrets) {
		top := cp.Secrets[name]
		if top.File != "" {
			if b, err := os.ReadFile(top.File); err == nil {
				vals = append(vals, secretValue{"secret " + name + " file " + top.File, string(b)})
			}
		}
		if top.Environment != "" && cp.Env[top.Environment] != "" {
			vals = append(vals, secretValue{"secret " + name + " from $" + top.Environment, cp.Env[top.Environment]})
		}
		if top.Content != "" {
			vals = append(vals, secretValue{"secret " + name + " content", top.Content})
		}
	}
	for name, s := range cp.Services {
		for k := range s.Environment {
			if credKeys[k] {
				delete(s.Environment, k)
			}
		}
		cp.Services[name] = s
	}
	text, err := cp.MarshalYAML()
	if err != nil {
		t.Fatalf("marshalling the loaded project: %v", err)
	}
	return vals, string(text)
}

// checkNoLeak fails for every secret value found in the files. Values that the input also uses elsewhere are only
// logged; strict lists sources that must be distinctive.
func checkNoLeak(t *testing.T, what string, files map[string][]byte, vals []secretValue, public string) {
	t.Helper()
	checked := 0
	defer func() { t.Logf("%s: %d secret values checked in %d files", what, checked, len(files)) }()
	for _, s := range vals {
		if len(s.variants()) == 0 {
			continue
		}
		if ambiguous(s, public) {
			t.Logf("%s: not checking %s: its value %q also appears outside secrets in the input", what, s.Source, s.Value)
			continue
		}
		checked++
		if hits := findValue(files, s); len(hits) > 0 {
			t.Errorf("%s: LEAK of %s (value %q) in %s", what, s.Source, s.Value, strings.Join(hits, ", "))
		}
	}
}

func ambiguous(s secretValue, public string) bool {
	for _, v := range s.variants() {
		if strings.Contains(public, v) {
			return true
		}
	}
	return false
}

// TestAcceptanceNoSecretLeaks checks that no secret value of the input reaches the output tree or the streams.
func TestAcceptanceNoSecretLeaks(t *testing.T) {
	t.Parallel()
	for _, p := range append(allProjects(t), leakyProject(t)) {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			edit := leakyEnviron(p)
			out, res := migrateTree(t, p, edit)
			o := options(p.File, out)
			if edit != nil {
				edit(&o)
			}
			vals, public := inputSecrets(t, o, res.Model)
			if p.Name == leakyName {
				vals = append(vals, leakyValues...)
				for _, s := range vals {
					if ambiguous(s, public) {
						t.Errorf("%s: %s is not distinctive, so the test cannot check it", p.Name, s.Source)
					}
				}
			}
			files := readTree(t, out)
			for _, overlay := range []string{"ha", "single-node"} {
				files["(stdout --overlay "+overlay+")"] = migrateStream(t, p, overlay, edit)
			}
			checkNoLeak(t, p.Name, files, vals, public)
		})
	}
}

// TestAcceptanceLeakDetectorInline shows that the leak check sees the values when --inline-secrets writes them, and
// that a .gitignore then keeps them out of version control.
func TestAcceptanceLeakDetectorInline(t *testing.T) {
	t.Parallel()
	p := leakyProject(t)
	edit := leakyEnviron(p)
	out, _ := migrateTree(t, p, func(o *migrate.Options) {
		edit(o)
		o.InlineSecrets = true
	})
	files := readTree(t, out)
	for _, s := range leakyValues {
		if s.Source == leakyURLPassword {
			continue // only the whole URL is a value of its own
		}
		if len(findValue(files, s)) == 0 {
			t.Errorf("with InlineSecrets, %s (value %q) appears nowhere in the output", s.Source, s.Value)
		}
	}
	gi, ok := files[".gitignore"]
	switch {
	case !ok:
		t.Errorf("with InlineSecrets, no .gitignore was written (files: %v)", sortedNames(files))
	case !bytes.Contains(gi, []byte("secrets.yaml")):
		t.Errorf(".gitignore does not list the secrets file:\n%s", gi)
	}
}

const (
	leakyName        = "purpose-built"
	leakyURLPassword = "password inside DATABASE_URL"
)

// leakyValues are the secrets of the purpose-built project.
var leakyValues = []secretValue{
	{"file secret", "file-secret-content-777\n"},
	{"environment secret $LEAK_ENV_SECRET", "env-secret-value-4242"},
	{"inline POSTGRES_PASSWORD", "s3cr3t-value-xyz"},
	{"DATABASE_URL", "postgres://u:pw-in-url-123@db:5432/x"},
	{leakyURLPassword, "pw-in-url-123"},
	{"OPENAI_API_KEY from env_file", "sk-envfile-key-98765"},
}

// leakyProject writes a project holding each kind of secret.
func leakyProject(t *testing.T) project {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"compose.yaml": `name: leaky
services:
  app:
    image: example.org/app:1.0
    environment:
      POSTGRES_PASSWORD: s3cr3t-value-xyz
      DATABASE_URL: postgres://u:pw-in-url-123@db:5432/x
      LOG_LEVEL: info
    env_file:
      - app.env
    secrets:
      - file_secret
      - env_secret
    depends_on: [db]
  db:
    image: postgres:17.2
    secrets:
      - file_secret
secrets:
  file_secret:
    file: ./secrets/file-secret.txt
  env_secret:
    environment: LEAK_ENV_SECRET
`,
		"app.env":                 "OPENAI_API_KEY=sk-envfile-key-98765\nAPP_MODE=demo\n",
		"secrets/file-secret.txt": "file-secret-content-777\n",
	})
	return project{Name: leakyName, File: filepath.Join(dir, "compose.yaml")}
}

// leakyEnviron sets the environment secret of the purpose-built project.
func leakyEnviron(p project) func(*migrate.Options) {
	if p.Name != leakyName {
		return nil
	}
	return func(o *migrate.Options) { o.Compose.Environ = []string{"LEAK_ENV_SECRET=env-secret-value-4242"} }
}

// TestAcceptanceRerun migrates the example twice into two folders and twice into the same folder.
func TestAcceptanceRerun(t *testing.T) {
	t.Parallel()
	p := exampleProject(t)
	first, r1 := migrateTree(t, p, nil)
	second, r2 := migrateTree(t, p, nil)
	want := readTree(t, first)
	compareTrees(t, "second run into another folder", want, readTree(t, second))
	f1, f2 := slices.Sorted(slices.Values(r1.Files)), slices.Sorted(slices.Values(r2.Files))
	if !slices.Equal(f1, f2) || !slices.Equal(f1, sortedNames(want)) {
		t.Errorf("Result.Files differ between runs or from the tree:\n%v\n%v\n%v", f1, f2, sortedNames(want))
	}
	for i := range 2 {
		if _, err := migrate.Run(context.Background(), options(p.File, first)); err != nil {
			t.Fatalf("run %d into the same folder: %v", i+2, err)
		}
		compareTrees(t, fmt.Sprintf("run %d into the same folder", i+2), want, readTree(t, first))
	}
	checkNoLeftovers(t, filepath.Dir(first), "out")
}

// TestAcceptanceAtomic checks that a failed migration changes nothing, and that a foreign folder is refused.
func TestAcceptanceAtomic(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "compose.yaml")
	writeFiles(t, filepath.Dir(bad), map[string]string{"compose.yaml": "services:\n  web:\n    image: nginx:1.27\n    depends_on: [ghost]\n"})

	t.Run("invalid-absent-out", func(t *testing.T) {
		t.Parallel()
		out := filepath.Join(t.TempDir(), "out")
		if _, err := migrate.Run(context.Background(), options(bad, out)); err == nil {
			t.Fatal("depends_on an unknown service: no error")
		} else {
			t.Logf("error: %v", err)
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("failed run left %s behind (stat: %v)", out, err)
		}
		checkNoLeftovers(t, filepath.Dir(out))
	})
	t.Run("invalid-existing-out", func(t *testing.T) {
		t.Parallel()
		out, _ := migrateTree(t, exampleProject(t), nil)
		before := readTree(t, out)
		if _, err := migrate.Run(context.Background(), options(bad, out)); err == nil {
			t.Fatal("depends_on an unknown service: no error")
		}
		compareTrees(t, "earlier output after a failed run", before, readTree(t, out))
		checkNoLeftovers(t, filepath.Dir(out), "out")
	})
	t.Run("invalid-foreign-out", func(t *testing.T) {
		t.Parallel()
		out := filepath.Join(t.TempDir(), "out")
		writeFiles(t, out, map[string]string{"notes.txt": "mine\n", "sub/keep.yaml": "a: b\n"})
		before := readTree(t, out)
		_, err := migrate.Run(context.Background(), options(exampleProject(t).File, out))
		if err == nil {
			t.Fatal("a non-empty folder not written by agops was replaced without error")
		}
		t.Logf("error: %v", err)
		compareTrees(t, "foreign folder after a refused run", before, readTree(t, out))
		checkNoLeftovers(t, filepath.Dir(out), "out")
	})
	t.Run("valid-empty-out", func(t *testing.T) {
		t.Parallel()
		out := filepath.Join(t.TempDir(), "out")
		if err := os.Mkdir(out, 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := migrate.Run(context.Background(), options(exampleProject(t).File, out)); err != nil {
			t.Fatalf("an empty folder was refused: %v", err)
		}
		checkNoLeftovers(t, filepath.Dir(out), "out")
	})
}

// checkNoLeftovers fails if dir holds anything but the named entries (temporary folders of a run, say).
func checkNoLeftovers(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s holds %v, want %v", dir, got, want)
	}
}

// TestMirrorPathCollision: with --registry-mirror, two registries' images with one repository path are refused
// (the mirror would hold one of them) and nothing is written.
func TestMirrorPathCollision(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte("services:\n  a:\n    image: bitnami/redis:7\n  b:\n    image: ghcr.io/bitnami/redis:7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := migrate.Options{Plan: plan.DefaultOptions(), Format: migrate.FormatFiles, Out: filepath.Join(dir, "out"), Stdout: io.Discard, RegistryMirror: "reg.lab:5000"}
	o.Compose.Files = []string{file}
	if _, err := migrate.Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "would share the mirror's repository bitnami/redis") {
		t.Errorf("Run: %v", err)
	}
	if _, err := os.Stat(o.Out); !os.IsNotExist(err) {
		t.Errorf("a refused migration wrote %s: %v", o.Out, err)
	}
}
