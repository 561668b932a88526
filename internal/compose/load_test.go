package compose_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/agops/agops/internal/compose"
)

// td is a folder under testdata.
func td(parts ...string) string { return filepath.Join(append([]string{"testdata"}, parts...)...) }

func load(t *testing.T, o compose.Options) *compose.Project {
	t.Helper()
	p, err := compose.Load(context.Background(), o)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return p
}

func abs(t *testing.T, parts ...string) string {
	t.Helper()
	a, err := filepath.Abs(filepath.Join(parts...))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func names(p *compose.Project) []string {
	n := p.ServiceNames()
	slices.Sort(n)
	return n
}

func service(t *testing.T, p *compose.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("service %q not loaded; services: %v", name, names(p))
	}
	return s
}

// env is the value of an environment entry of a service; "<unset>" when absent or without value.
func env(t *testing.T, p *compose.Project, svc, key string) string {
	t.Helper()
	v, ok := service(t, p, svc).Environment[key]
	if !ok || v == nil {
		return "<unset>"
	}
	return *v
}

func wantNames(t *testing.T, p *compose.Project, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := names(p); !slices.Equal(got, want) {
		t.Errorf("services = %v, want %v", got, want)
	}
}

func wantEqual[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func TestLoadFiles(t *testing.T) {
	t.Parallel()
	dir := td("valid-override")
	tests := []struct {
		name  string
		opts  compose.Options
		check func(t *testing.T, p *compose.Project)
	}{
		{
			name: "no -f: compose.yaml plus compose.override.yaml",
			opts: compose.Options{ProjectDir: dir},
			check: func(t *testing.T, p *compose.Project) {
				wantNames(t, p, "web", "dev")
				wantEqual(t, "web B", env(t, p, "web", "B"), "override")
				wantEqual(t, "web A", env(t, p, "web", "A"), "base")
				wantEqual(t, "compose files", len(p.ComposeFiles), 2)
			},
		},
		{
			name: "-f given: no override discovery",
			opts: compose.Options{Files: []string{filepath.Join(dir, "compose.yaml")}},
			check: func(t *testing.T, p *compose.Project) {
				wantNames(t, p, "web")
				wantEqual(t, "web B", env(t, p, "web", "B"), "base")
				wantEqual(t, "compose files", len(p.ComposeFiles), 1)
			},
		},
		{
			name: "-f repeated: later files win",
			opts: compose.Options{Files: []string{filepath.Join(dir, "compose.yaml"), filepath.Join(dir, "extra.yaml")}},
			check: func(t *testing.T, p *compose.Project) {
				wantNames(t, p, "web")
				wantEqual(t, "image", service(t, p, "web").Image, "nginx:2")
				wantEqual(t, "web A", env(t, p, "web", "A"), "extra")
				wantEqual(t, "web B", env(t, p, "web", "B"), "base")
			},
		},
		{
			name: "-f repeated: order matters",
			opts: compose.Options{Files: []string{filepath.Join(dir, "extra.yaml"), filepath.Join(dir, "compose.yaml")}},
			check: func(t *testing.T, p *compose.Project) {
				wantEqual(t, "image", service(t, p, "web").Image, "nginx:1")
				wantEqual(t, "web A", env(t, p, "web", "A"), "base")
			},
		},
		{
			name: "-f with the override named explicitly",
			opts: compose.Options{Files: []string{filepath.Join(dir, "compose.yaml"), filepath.Join(dir, "compose.override.yaml")}},
			check: func(t *testing.T, p *compose.Project) {
				wantNames(t, p, "web", "dev")
				wantEqual(t, "web B", env(t, p, "web", "B"), "override")
			},
		},
		{
			name: "COMPOSE_FILE from the environment when no -f",
			opts: compose.Options{ProjectDir: dir, Environ: []string{"COMPOSE_FILE=" + abs(t, dir, "extra.yaml") + ":" + abs(t, dir, "compose.yaml")}},
			check: func(t *testing.T, p *compose.Project) {
				wantNames(t, p, "web")
				wantEqual(t, "image", service(t, p, "web").Image, "nginx:1")
			},
		},
		{
			// docker compose reads .env before it looks for COMPOSE_FILE, so .env can select the files. Relative
			// COMPOSE_FILE entries are relative to the working directory (compose-go), so this one is absolute.
			name: "COMPOSE_FILE from .env when no -f",
			opts: compose.Options{ProjectDir: composeFileDotEnv(t)},
			check: func(t *testing.T, p *compose.Project) {
				wantNames(t, p, "picked")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.check(t, load(t, tt.opts))
		})
	}
}

// TestLoadPipe loads -f <(...): the file is a pipe, readable once.
func TestLoadPipe(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	path := fmt.Sprintf("/proc/self/fd/%d", r.Fd())
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	go func() {
		_, _ = w.WriteString("services:\n  piped:\n    image: busybox:1\n")
		w.Close()
	}()
	p := load(t, compose.Options{Files: []string{path}, ProjectDir: t.TempDir(), ProjectName: "piped"})
	wantNames(t, p, "piped")
}

// composeFileDotEnv is a project folder whose .env selects other.yaml through COMPOSE_FILE.
func composeFileDotEnv(t *testing.T) string {
	dir := t.TempDir()
	files := map[string]string{
		"compose.yaml": "services:\n  ignored:\n    image: busybox:1\n",
		"other.yaml":   "services:\n  picked:\n    image: busybox:1\n",
		".env":         "COMPOSE_FILE=" + filepath.Join(dir, "other.yaml") + "\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadEnvironment(t *testing.T) {
	t.Parallel()
	dir := td("valid-env")
	tests := []struct {
		name string
		opts compose.Options
		want map[string]string // "image" is the app's image; other keys are its environment
	}{
		{
			name: ".env in the project folder",
			opts: compose.Options{ProjectDir: dir},
			want: map[string]string{
				"image":               "busybox:from-dotenv",
				"GREETING":            "hello-dotenv",
				"ONLY_DOTENV":         "yes",
				"COLON_DEFAULT":       "dflt",
				"COLON_DEFAULT_EMPTY": "empty-means-default",
				"DASH_DEFAULT_EMPTY":  "",
				"ALT":                 "tag-is-set",
				"ESCAPED":             "$HOME",
			},
		},
		{
			name: ".env beside the first -f file",
			opts: compose.Options{Files: []string{filepath.Join(dir, "compose.yaml")}},
			want: map[string]string{"image": "busybox:from-dotenv", "GREETING": "hello-dotenv"},
		},
		{
			name: "--env-file replaces .env",
			opts: compose.Options{ProjectDir: dir, EnvFiles: []string{filepath.Join(dir, "other.env")}},
			want: map[string]string{
				"image":              "busybox:from-env-file",
				"GREETING":           "unset",
				"ONLY_DOTENV":        "unset",
				"DASH_DEFAULT_EMPTY": "only-if-unset",
			},
		},
		{
			name: "process environment wins over .env",
			opts: compose.Options{ProjectDir: dir, Environ: []string{"TAG=from-process", "GREETING=hi"}},
			want: map[string]string{"image": "busybox:from-process", "GREETING": "hi", "ONLY_DOTENV": "yes"},
		},
		{
			name: "process environment wins over --env-file",
			opts: compose.Options{ProjectDir: dir, EnvFiles: []string{filepath.Join(dir, "other.env")}, Environ: []string{"TAG=from-process"}},
			want: map[string]string{"image": "busybox:from-process"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := load(t, tt.opts)
			for k, want := range tt.want {
				got := service(t, p, "app").Image
				if k != "image" {
					got = env(t, p, "app", k)
				}
				wantEqual(t, k, got, want)
			}
			if tag := p.Env["TAG"]; tag == "" {
				t.Errorf("Project.Env has no TAG: %v", p.Env)
			}
		})
	}
}

func TestLoadProfiles(t *testing.T) {
	t.Parallel()
	plain, dotenv := td("valid-profiles"), td("valid-profiles-dotenv")
	tests := []struct {
		name string
		opts compose.Options
		want []string
	}{
		{"none given: only services without profiles", compose.Options{ProjectDir: plain}, []string{"always"}},
		{"--profile gpu", compose.Options{ProjectDir: plain, Profiles: []string{"gpu"}}, []string{"always", "gpu"}},
		{"--profile cpu: every service listing cpu", compose.Options{ProjectDir: plain, Profiles: []string{"cpu"}}, []string{"always", "cpu", "debug"}},
		{"--profile gpu --profile debug", compose.Options{ProjectDir: plain, Profiles: []string{"gpu", "debug"}}, []string{"always", "debug", "gpu"}},
		{"--profile '*': all", compose.Options{ProjectDir: plain, Profiles: []string{"*"}}, []string{"always", "cpu", "debug", "gpu"}},
		{"COMPOSE_PROFILES from the environment", compose.Options{ProjectDir: plain, Environ: []string{"COMPOSE_PROFILES=gpu,debug"}}, []string{"always", "debug", "gpu"}},
		{"COMPOSE_PROFILES from .env", compose.Options{ProjectDir: dotenv}, []string{"always", "gpu"}},
		{"COMPOSE_PROFILES: environment wins over .env", compose.Options{ProjectDir: dotenv, Environ: []string{"COMPOSE_PROFILES=debug"}}, []string{"always", "debug"}},
		{"--profile wins over COMPOSE_PROFILES", compose.Options{ProjectDir: dotenv, Profiles: []string{"cpu"}, Environ: []string{"COMPOSE_PROFILES=debug"}}, []string{"always", "cpu", "debug"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantNames(t, load(t, tt.opts), tt.want...)
		})
	}
}

func TestLoadStructure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		opts  compose.Options
		check func(t *testing.T, p *compose.Project)
	}{
		{
			name: "include: services, paths and .env of the included folder",
			opts: compose.Options{ProjectDir: td("valid-include")},
			check: func(t *testing.T, p *compose.Project) {
				wantNames(t, p, "app", "db")
				db := service(t, p, "db")
				wantEqual(t, "db image", db.Image, "postgres:17")
				if len(db.Volumes) != 1 {
					t.Fatalf("db volumes = %v", db.Volumes)
				}
				abs, _ := filepath.Abs(td("valid-include", "db", "data"))
				wantEqual(t, "db bind source", db.Volumes[0].Source, abs)
				if _, ok := service(t, p, "app").DependsOn["db"]; !ok {
					t.Errorf("app does not depend on db")
				}
			},
		},
		{
			name: "extends: same file and other file",
			opts: compose.Options{ProjectDir: td("valid-extends")},
			check: func(t *testing.T, p *compose.Project) {
				wantNames(t, p, "base", "child", "remote")
				wantEqual(t, "child image", service(t, p, "child").Image, "alpine:3")
				wantEqual(t, "child A", env(t, p, "child", "A"), "1")
				wantEqual(t, "child B", env(t, p, "child", "B"), "child")
				remote := service(t, p, "remote")
				wantEqual(t, "remote image", remote.Image, "busybox:1")
				wantEqual(t, "remote restart", remote.Restart, "unless-stopped")
				wantEqual(t, "remote label", remote.Labels["team"], "lab")
				abs, _ := filepath.Abs(td("valid-extends", "shared", "cache"))
				if len(remote.Volumes) != 1 || remote.Volumes[0].Source != abs {
					t.Errorf("remote volumes = %+v, want source %s (relative to the extended file)", remote.Volumes, abs)
				}
			},
		},
		{
			name: "anchors and merge keys",
			opts: compose.Options{ProjectDir: td("valid-anchors")},
			check: func(t *testing.T, p *compose.Project) {
				wantNames(t, p, "one", "two")
				wantEqual(t, "one image", service(t, p, "one").Image, "busybox:1")
				wantEqual(t, "one restart", service(t, p, "one").Restart, "always")
				wantEqual(t, "one A", env(t, p, "one", "A"), "1")
				wantEqual(t, "one B", env(t, p, "one", "B"), "overridden")
				wantEqual(t, "two image", service(t, p, "two").Image, "alpine:3")
				wantEqual(t, "two B", env(t, p, "two", "B"), "2")
			},
		},
		{
			name: "env_file: required: false on a missing file",
			opts: compose.Options{ProjectDir: td("valid-envfile")},
			check: func(t *testing.T, p *compose.Project) {
				wantEqual(t, "FROM_FILE", env(t, p, "app", "FROM_FILE"), "yes")
			},
		},
		{
			name: "secrets from file and environment, config from content",
			opts: compose.Options{ProjectDir: td("valid-secrets"), Environ: []string{"API_KEY=example-key", "WHO=lab"}},
			check: func(t *testing.T, p *compose.Project) {
				abs, _ := filepath.Abs(td("valid-secrets", "db_pass.txt"))
				wantEqual(t, "db_pass file", p.Secrets["db_pass"].File, abs)
				wantEqual(t, "api_key environment", p.Secrets["api_key"].Environment, "API_KEY")
				wantEqual(t, "api_key content", p.Secrets["api_key"].Content, "example-key")
				wantEqual(t, "app_conf content", p.Configs["app_conf"].Content, "greeting=hello lab\n")
			},
		},
		{
			name: "secret from an unset variable has no content",
			opts: compose.Options{ProjectDir: td("valid-secrets")},
			check: func(t *testing.T, p *compose.Project) {
				wantEqual(t, "api_key content", p.Secrets["api_key"].Content, "")
				wantEqual(t, "app_conf content", p.Configs["app_conf"].Content, "greeting=hello world\n")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.check(t, load(t, tt.opts))
		})
	}
}

func TestLoadProjectName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts compose.Options
		want string
	}{
		{"name: in the file", compose.Options{ProjectDir: td("valid-name")}, "named-project"},
		{"folder name, lowercased and sanitized", compose.Options{ProjectDir: td("valid-Folder.Name_1")}, "valid-foldername_1"},
		{"folder of the first -f file", compose.Options{Files: []string{td("valid-Folder.Name_1", "compose.yaml")}}, "valid-foldername_1"},
		{"-p wins over name:", compose.Options{ProjectDir: td("valid-name"), ProjectName: "chosen"}, "chosen"},
		{"COMPOSE_PROJECT_NAME wins over name:", compose.Options{ProjectDir: td("valid-name"), Environ: []string{"COMPOSE_PROJECT_NAME=from-env"}}, "from-env"},
		{"-p wins over COMPOSE_PROJECT_NAME", compose.Options{ProjectDir: td("valid-name"), ProjectName: "chosen", Environ: []string{"COMPOSE_PROJECT_NAME=from-env"}}, "chosen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantEqual(t, "project name", load(t, tt.opts).Name, tt.want)
		})
	}
}
