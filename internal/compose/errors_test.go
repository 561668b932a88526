package compose_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agops/agops/internal/compose"
)

// TestLoadErrors checks that every bad input gives one line that names the file, never a stack trace.
func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts compose.Options
		want []string // substrings of the error
	}{
		{"malformed YAML", compose.Options{Files: []string{td("invalid-yaml", "compose.yaml")}}, []string{"invalid-yaml/compose.yaml", "line 3", "did not find expected key"}},
		{"NUL byte", compose.Options{Files: []string{td("invalid-nul", "compose.yaml")}}, []string{"invalid-nul/compose.yaml", "control characters are not allowed"}},
		{"alias bomb", compose.Options{Files: []string{td("invalid-alias-bomb", "compose.yaml")}}, []string{"invalid-alias-bomb/compose.yaml", "excessive aliasing"}},
		{"alias inside its own anchor", compose.Options{Files: []string{td("invalid-recursive-alias", "compose.yaml")}}, []string{"invalid-recursive-alias/compose.yaml", "line 4", "*base", "contains it"}},
		{"env_file without a path (crashes compose-go)", compose.Options{Files: []string{td("invalid-envfile-null-path", "compose.yaml")}}, []string{"invalid-envfile-null-path/compose.yaml", "compose-go failed"}},
		{"missing -f file", compose.Options{Files: []string{td("no-such-folder", "compose.yaml")}}, []string{"no-such-folder/compose.yaml", "no such file"}},
		{"directory as -f", compose.Options{Files: []string{td("valid-override")}}, []string{"valid-override", "is a directory"}},
		{"required variable unset", compose.Options{Files: []string{td("invalid-required-var", "compose.yaml")}}, []string{"invalid-required-var/compose.yaml", "must be set", "TAG"}},
		{"required variable unset, no -f", compose.Options{ProjectDir: td("invalid-required-var")}, []string{"invalid-required-var/compose.yaml", "must be set"}},
		{"required env_file missing", compose.Options{ProjectDir: td("invalid-envfile-required")}, []string{"missing.env"}},
		{"--env-file missing", compose.Options{ProjectDir: td("valid-env"), EnvFiles: []string{td("valid-env", "nope.env")}}, []string{"nope.env"}},
		{"invalid -p", compose.Options{ProjectDir: td("valid-name"), ProjectName: "Not Valid"}, []string{"Not Valid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := compose.Load(context.Background(), tt.opts)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			msg := err.Error()
			t.Log(msg)
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error spans several lines:\n%s", msg)
			}
			for _, bad := range []string{"goroutine", "panic"} {
				if strings.Contains(msg, bad) {
					t.Errorf("error contains %q: %s", bad, msg)
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

// FuzzLoad feeds arbitrary compose files to Load: it must never panic or hang, and every line of an error names the
// file.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*", "compose.yaml"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		file := filepath.Join(dir, "compose.yaml")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		// A guard against hangs, not a timing: every input so far returns in milliseconds, and a self-merging
		// anchor used to take compose-go about 25 s (see checkRecursiveAlias).
		done := make(chan error, 1)
		go func() {
			_, err := compose.Load(context.Background(), compose.Options{Files: []string{file}})
			done <- err
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("Load did not return within 10s on %q", data)
		}
		if err == nil {
			return
		}
		// Several problems give several lines; each one names the file.
		for _, line := range strings.Split(err.Error(), "\n") {
			if strings.Contains(line, "\r") || !strings.Contains(line, "compose.yaml") {
				t.Errorf("error line does not name the file: %q", line)
			}
		}
	})
}

// TestLoadConsistency checks that Load refuses what docker compose refuses once the files are merged (compose-go's
// consistency pass, which Load replaces with a linear one), naming the file, the service and the key.
func TestLoadConsistency(t *testing.T) {
	t.Parallel()
	t.Run("valid", func(t *testing.T) {
		t.Parallel()
		p := load(t, compose.Options{ProjectDir: td("valid-consistency")})
		wantNames(t, p, "scaled", "limited", "named", "host", "checked", "watched")
	})
	tests := []struct {
		file string
		want []string
	}{
		{"negative-replicas", []string{`service "web"`, "deploy.replicas: must be 0 or more"}},
		{"negative-scale", []string{`service "web"`, "scale: must be 0 or more"}},
		{"scale-vs-replicas", []string{`service "web"`, "scale (2) and deploy.replicas (3) differ"}},
		{"container-name-replicas", []string{`service "web"`, `container_name "web"`, "2 replicas"}},
		{"network-mode-and-networks", []string{`service "web"`, "network_mode and networks are mutually exclusive"}},
		{"unknown-network", []string{`service "web"`, `networks: unknown network "backend"`}},
		{"healthcheck-test", []string{`service "web"`, "healthcheck.test", `"curl"`}},
		{"duplicate-mount", []string{`service "web"`, "volumes[0]: /data is already mounted by tmpfs[0]"}},
		{"cpus-differ", []string{`service "web"`, "cpus and deploy.resources.limits.cpus differ"}},
		{"mem-limit-differ", []string{`service "web"`, "mem_limit and deploy.resources.limits.memory differ"}},
		{"dockerfile-inline", []string{`service "web"`, "dockerfile and dockerfile_inline"}},
		{"build-secret", []string{`service "web"`, `build.secrets: unknown secret "token"`}},
		{"watch-target", []string{`service "web"`, "develop.watch[0]: target is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			file := td("invalid-consistency", tt.file+".yaml")
			_, err := compose.Load(context.Background(), compose.Options{Files: []string{file}})
			if err == nil {
				t.Fatal("Load succeeded; docker compose refuses this file")
			}
			msg := err.Error()
			t.Log(msg)
			if strings.Contains(msg, "\n") {
				t.Errorf("one problem gave several lines:\n%s", msg)
			}
			for _, w := range append([]string{file}, tt.want...) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
	t.Run("every problem, one line each, in service order", func(t *testing.T) {
		t.Parallel()
		file := td("invalid-consistency", "two-problems.yaml")
		_, err := compose.Load(context.Background(), compose.Options{Files: []string{file}})
		if err == nil {
			t.Fatal("Load succeeded")
		}
		lines := strings.Split(err.Error(), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], file+`: service "a": networks`) || !strings.HasPrefix(lines[1], file+`: service "b": scale`) {
			t.Errorf("error lines = %q", lines)
		}
	})
}
