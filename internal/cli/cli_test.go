package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// result is what one in-process run of agops produced.
type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), args, streams{in: strings.NewReader(""), out: &out, err: &errOut})
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// repoRoot walks up from the test's folder to the one holding go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test folder")
		}
		dir = parent
	}
}

// project writes a compose.yaml with the given content into a fresh folder and returns the file's path.
func project(t *testing.T, compose string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "compose.yaml")
	if err := os.WriteFile(path, []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestMigrateExample(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out")
	r := run(t, "migrate", "-f", filepath.Join(repoRoot(t), "examples", "ai-lab", "compose.yaml"), "-o", out)
	if r.code != exitOK {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", r.code, r.stderr)
	}
	for _, name := range []string{"report.md", "report.json", "base/kustomization.yaml", "overlays/single-node/kustomization.yaml", "overlays/ha/kustomization.yaml"} {
		if !exists(filepath.Join(out, name)) {
			t.Errorf("%s was not written", name)
		}
	}
	js, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(js) {
		t.Errorf("report.json is not valid JSON")
	}
	if !strings.Contains(r.stderr, `services of "ai-lab"`) || !strings.Contains(r.stderr, "verdict:") {
		t.Errorf("stderr has no summary line:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "agops: wrote "+out) {
		t.Errorf("stderr does not say where the output went:\n%s", r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout should be empty with --format files, got:\n%s", r.stdout)
	}
}

func TestMigrateQuiet(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out")
	r := run(t, "migrate", "-q", "-f", filepath.Join(repoRoot(t), "examples", "ai-lab", "compose.yaml"), "-o", out)
	if r.code != exitOK || r.stderr != "" {
		t.Errorf("-q: exit %d, stderr %q; want 0 and nothing", r.code, r.stderr)
	}
}

func TestMigrateYAMLStream(t *testing.T) {
	t.Parallel()
	file := filepath.Join(repoRoot(t), "examples", "ai-lab", "compose.yaml")
	cwd, _ := os.Getwd()
	before := listDir(t, cwd)
	single := run(t, "migrate", "-f", file, "--format", "yaml", "--overlay", "single-node")
	if single.code != exitOK {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", single.code, single.stderr)
	}
	docs := strings.Split(single.stdout, "\n---\n")
	if len(docs) < 5 {
		t.Fatalf("stdout has %d YAML documents, want many:\n%s", len(docs), single.stdout)
	}
	for i, d := range docs {
		if !strings.Contains(d, "apiVersion:") || !strings.Contains(d, "kind:") {
			t.Errorf("document %d is not a Kubernetes object:\n%s", i, d)
		}
	}
	if strings.Contains(single.stdout, "kind: PodDisruptionBudget") {
		t.Errorf("single-node overlay has a PodDisruptionBudget")
	}
	if after := listDir(t, cwd); after != before {
		t.Errorf("--format yaml wrote into the working directory: before %q, after %q", before, after)
	}
	if strings.Contains(single.stderr, "agops: wrote") {
		t.Errorf("--format yaml claims to have written files:\n%s", single.stderr)
	}

	ha := run(t, "migrate", "-f", file, "--format", "yaml")
	if ha.code != exitOK {
		t.Fatalf("ha: exit code %d; stderr:\n%s", ha.code, ha.stderr)
	}
	if !strings.Contains(ha.stdout, "kind: PodDisruptionBudget") {
		t.Errorf("ha overlay (the default) has no PodDisruptionBudget for the 2-replica agent-worker")
	}
}

func listDir(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return strings.Join(names, ",")
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	file := project(t, "services:\n  web:\n    image: nginx:1\n")
	out := filepath.Join(t.TempDir(), "out")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"migrate", "-f", file, "-o", out, "--bogus"}, "unknown flag: --bogus"},
		{"unknown shorthand flag", []string{"migrate", "-Z"}, "unknown shorthand flag"},
		{"unknown root flag", []string{"--bogus"}, "unknown flag"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"missing -o", []string{"migrate", "-f", file}, "-o OUT is required"},
		{"bad --format", []string{"migrate", "-f", file, "-o", out, "--format", "json"}, `--format must be files or yaml, not "json"`},
		{"bad --overlay", []string{"migrate", "-f", file, "--format", "yaml", "--overlay", "prod"}, `--overlay must be ha or single-node, not "prod"`},
		{"positional argument", []string{"migrate", "-f", file, "-o", out, "extra"}, "accepts 0 arg(s)"},
		{"flag without value", []string{"migrate", "-f", file, "-o"}, "flag needs an argument"},
		{"bad --otel-endpoint", []string{"migrate", "-f", file, "-o", out, "--otel-endpoint", "collector:4317"}, `--otel-endpoint "collector:4317": want the collector's OTLP/HTTP URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, tt.args...)
			if r.code != exitUsage {
				t.Errorf("exit code %d, want %d; stderr:\n%s", r.code, exitUsage, r.stderr)
			}
			if !strings.HasPrefix(r.stderr, "agops: ") || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr = %q, want an agops: line containing %q", r.stderr, tt.want)
			}
			if exists(out) {
				t.Errorf("%s was written", out)
			}
		})
	}
}

// aliasBomb is a "billion laughs" document: nine levels of nine aliases.
const aliasBomb = `x-a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
x-b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
x-c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
x-d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
x-e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
x-f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
x-g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
x-h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
x-i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
services:
  web:
    image: nginx:1
    labels:
      bomb: *i
`

func TestInputErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		compose string
		// want are substrings of the error line; "FILE" stands for the compose file's path.
		want []string
	}{
		{"malformed YAML", "services:\n  web:\n    image: nginx:1\n   ports: [\"80:80\"]\n", []string{"FILE", "did not find expected key"}},
		{"NUL byte", "services:\n  web:\n    image: nginx:1\x00\n", []string{"FILE", "control characters are not allowed"}},
		{"alias bomb", aliasBomb, []string{"FILE", "excessive aliasing"}},
		{"alias inside its own anchor", "x-base: &base\n  image: busybox:1\n  <<: *base\nservices:\n  web:\n    <<: *base\n", []string{"FILE", "line 3", "*base"}},
		{"missing required variable", "services:\n  web:\n    image: nginx:${AGOPS_TEST_SURELY_UNSET:?must be set}\n", []string{"FILE", "AGOPS_TEST_SURELY_UNSET", "must be set"}},
		{"dependency cycle", "services:\n  a:\n    image: busybox:1\n    depends_on: [b]\n  b:\n    image: busybox:1\n    depends_on: [a]\n", []string{"depends_on", "cycle", `a`, `b`}},
		{"unknown dependency", "services:\n  a:\n    image: busybox:1\n    depends_on: [ghost]\n", []string{`service "a"`, "depends_on", `"ghost"`}},
		{"neither image nor build", "services:\n  a:\n    command: [\"true\"]\n", []string{`service "a"`, "image", "build"}},
		{"published port out of range", "services:\n  a:\n    image: nginx:1\n    ports: [\"99999:80\"]\n", []string{"FILE", "99999"}},
		{"target port out of range", "services:\n  a:\n    image: nginx:1\n    ports: [\"8080:70000\"]\n", []string{"FILE", "70000"}},
		{"expose not a number", "services:\n  a:\n    image: nginx:1\n    expose: [\"abc\"]\n", []string{`"a"`, "expose", "abc"}},
		{"bad x-agops", "services:\n  a:\n    image: nginx:1\n    x-agops:\n      kind: Pod\n", []string{`service "a"`, "x-agops.kind", "Pod"}},
		{"unknown secret", "services:\n  a:\n    image: nginx:1\n    secrets: [nope]\n", []string{`"a"`, "secrets", "nope"}},
		{"negative replicas", "services:\n  a:\n    image: nginx:1\n    deploy:\n      replicas: -1\n", []string{"FILE", `service "a"`, "deploy.replicas"}},
		{"container_name with replicas", "services:\n  a:\n    image: nginx:1\n    container_name: web\n    deploy:\n      replicas: 2\n", []string{"FILE", `service "a"`, "container_name"}},
		{"env_file without a path", "services:\n  a:\n    image: nginx:1\n    env_file:\n      - path:\n", []string{"FILE", "compose-go failed"}},
		{"no services", "services: {}\n", []string{"no services"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := project(t, tt.compose)
			out := filepath.Join(t.TempDir(), "out")
			r := run(t, "migrate", "-f", file, "-o", out)
			checkInputError(t, r, out, file, tt.want)
		})
	}
}

// TestFileErrors covers -f values that are not readable compose files.
func TestFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name string
		file string
		want []string
	}{
		{"missing file", filepath.Join(dir, "nope.yaml"), []string{"FILE", "no such file"}},
		{"directory", dir, []string{"FILE", "is a directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "out")
			checkInputError(t, run(t, "migrate", "-f", tt.file, "-o", out), out, tt.file, tt.want)
		})
	}
}

// checkInputError asserts exit code 1, exactly one `agops: ...` line on stderr with the wanted words, and no output.
func checkInputError(t *testing.T, r result, out, file string, want []string) {
	t.Helper()
	if r.code != exitInput {
		t.Errorf("exit code %d, want %d", r.code, exitInput)
	}
	t.Log(r.stderr)
	line, rest, _ := strings.Cut(r.stderr, "\n")
	if !strings.HasPrefix(line, "agops: ") || rest != "" {
		t.Errorf("stderr is not exactly one agops: line:\n%s", r.stderr)
	}
	for _, w := range want {
		if w == "FILE" {
			w = file
		}
		if !strings.Contains(line, w) {
			t.Errorf("error line does not contain %q:\n%s", w, line)
		}
	}
	for _, bad := range []string{"goroutine", "panic"} {
		if strings.Contains(r.stderr, bad) {
			t.Errorf("stderr contains %q:\n%s", bad, r.stderr)
		}
	}
	if exists(out) {
		t.Errorf("output folder %s exists after a failed run", out)
	}
	if r.stdout != "" {
		t.Errorf("stdout is not empty:\n%s", r.stdout)
	}
}

func TestStrict(t *testing.T) {
	t.Parallel()
	file := project(t, "services:\n  worker:\n    image: busybox:1\n    user: nobody\n")

	out := filepath.Join(t.TempDir(), "out")
	r := run(t, "migrate", "--strict", "-f", file, "-o", out)
	if r.code != exitInput {
		t.Errorf("--strict: exit code %d, want %d; stderr:\n%s", r.code, exitInput, r.stderr)
	}
	for _, w := range []string{"needs input", "--strict", "worker: user"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("--strict: stderr does not contain %q:\n%s", w, r.stderr)
		}
	}
	if exists(out) {
		t.Errorf("--strict: %s was written", out)
	}

	// Without --strict the same project converts, and the decision is in the report.
	r = run(t, "migrate", "-f", file, "-o", out)
	if r.code != exitOK {
		t.Fatalf("without --strict: exit code %d; stderr:\n%s", r.code, r.stderr)
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "worker") || !strings.Contains(string(md), "user") {
		t.Errorf("report.md does not mention worker's user decision:\n%s", md)
	}
}

// TestMigrateOutputFolder checks that -o is replaced as a whole: two runs give the same bytes, a failed run leaves
// the earlier tree alone, and a folder agops did not write is refused.
func TestMigrateOutputFolder(t *testing.T) {
	t.Parallel()
	file := filepath.Join(repoRoot(t), "examples", "ai-lab", "compose.yaml")
	out1, out2 := filepath.Join(t.TempDir(), "out"), filepath.Join(t.TempDir(), "out")
	for _, out := range []string{out1, out2} {
		if r := run(t, "migrate", "-f", file, "-o", out); r.code != exitOK {
			t.Fatalf("exit code %d; stderr:\n%s", r.code, r.stderr)
		}
	}
	if a, b := readTree(t, out1), readTree(t, out2); !reflect.DeepEqual(a, b) {
		t.Errorf("two runs wrote different trees")
	}

	bad := project(t, "services:\n  a:\n    image: busybox:1\n    depends_on: [ghost]\n")
	if r := run(t, "migrate", "-f", bad, "-o", out1); r.code != exitInput {
		t.Errorf("failed run over an earlier tree: exit code %d, want %d", r.code, exitInput)
	}
	if a, b := readTree(t, out1), readTree(t, out2); !reflect.DeepEqual(a, b) {
		t.Errorf("a failed run changed the earlier output tree")
	}

	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, "migrate", "-f", file, "-o", foreign)
	if r.code != exitInput || !strings.Contains(r.stderr, "not written by agops") {
		t.Errorf("-o on a foreign folder: exit %d, stderr %q", r.code, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(foreign, "notes.txt")); err != nil || string(b) != "mine" {
		t.Errorf("the foreign folder was changed")
	}
}

// readTree maps each file under dir (slash-separated relative path) to its content.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestMigrateComposeFlags checks that the Compose loading flags reach the loader: repeated -f, --profile,
// --env-file and -p.
func TestMigrateComposeFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{
		"compose.yaml":  "services:\n  web:\n    image: nginx:${TAG:-1}\n  extra:\n    image: busybox:1\n    profiles: [extra]\n",
		"override.yaml": "services:\n  web:\n    environment:\n      FROM_OVERRIDE: \"yes\"\n",
		"tags.env":      "TAG=1.27\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := run(t, "migrate", "-f", filepath.Join(dir, "compose.yaml"), "-f", filepath.Join(dir, "override.yaml"),
		"--profile", "extra", "--env-file", filepath.Join(dir, "tags.env"), "-p", "flags-test", "--format", "yaml")
	if r.code != exitOK {
		t.Fatalf("exit code %d; stderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"image: nginx:1.27", "FROM_OVERRIDE", "name: extra", "flags-test"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout does not contain %q", want)
		}
	}
}
