package airgap

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agops/agops/internal/cluster"
)

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestTargetRef(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, ref, target, want, err string
	}{
		{"valid-docker-hub-full", "docker.io/library/postgres:16", "reg.local/prefix", "reg.local/prefix/library/postgres:16", ""},
		{"valid-docker-hub-short", "postgres:16", "reg.local/prefix", "reg.local/prefix/library/postgres:16", ""},
		{"valid-docker-hub-user", "temporalio/auto-setup:1.30.1", "reg.local", "reg.local/temporalio/auto-setup:1.30.1", ""},
		{"valid-ghcr", "ghcr.io/example/app:1.4", "reg.local/prefix", "reg.local/prefix/example/app:1.4", ""},
		{"valid-no-prefix-port", "ghcr.io/example/app:1.4", "127.0.0.1:5000", "127.0.0.1:5000/example/app:1.4", ""},
		{"valid-deep-prefix", "quay.io/org/team/tool:2", "reg.local:5000/a/b/", "reg.local:5000/a/b/org/team/tool:2", ""},
		{"valid-no-tag-is-latest", "redis", "localhost/mirror", "localhost/mirror/library/redis:latest", ""},
		{"valid-digest-only", "quay.io/org/tool@" + digest, "reg.local", "reg.local/org/tool@" + digest, ""},
		{"valid-tag-and-digest", "ghcr.io/example/app:1.4@" + digest, "reg.local", "reg.local/example/app:1.4", ""},
		{"valid-source-port", "registry.example:5000/team/app:2", "reg.local", "reg.local/team/app:2", ""},
		{"invalid-scheme", "postgres:16", "https://reg.local", "", "without a scheme"},
		{"invalid-not-a-host", "postgres:16", "mirror/prefix", "", "want host[:port][/prefix]"},
		{"invalid-empty", "postgres:16", "", "", "want host[:port][/prefix]"},
		{"invalid-uppercase-prefix", "postgres:16", "reg.local/Mirror", "", "prefix"},
		{"invalid-ref", "Postgres:16", "reg.local", "", "image \"Postgres:16\""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := TargetRef(tc.ref, tc.target)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("TargetRef(%q, %q) = %q, %v; want an error with %q", tc.ref, tc.target, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("TargetRef(%q, %q) = %q, %v; want %q", tc.ref, tc.target, got, err, tc.want)
			}
		})
	}
}

func TestPushRefuses(t *testing.T) {
	t.Parallel()
	src := newSource(t)
	out, _ := bundle(t, src.refs, Options{})
	cases := []struct{ name, path, target, want string }{
		{"invalid-target", out, "mirror", "want host[:port][/prefix]"},
		{"invalid-missing-bundle", out + ".nope", newRegistry(t), "opening bundle"},
		{"invalid-unreachable-target", out, "127.0.0.1:1", "pushing " + src.refs[0]},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Push(context.Background(), tc.path, tc.target, PushOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Push = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// Pushing twice is harmless: the second push uploads no blob, and reports the same references.
func TestPushTwice(t *testing.T) {
	t.Parallel()
	src := newSource(t)
	out, _ := bundle(t, src.refs, Options{})
	target := newRegistry(t)
	firstCounter := newBlobCounter(0)
	first, err := Push(context.Background(), out, target, PushOptions{Transport: firstCounter})
	if err != nil || firstCounter.uploads == 0 {
		t.Fatalf("first push: %v, %d upload requests", err, firstCounter.uploads)
	}
	counter := newBlobCounter(0)
	second, err := Push(context.Background(), out, target, PushOptions{Transport: counter})
	if err != nil {
		t.Fatal(err)
	}
	if counter.uploads != 0 {
		t.Errorf("the second push made %d upload requests; the target had every blob", counter.uploads)
	}
	for ref, pushed := range first {
		if second[ref] != pushed {
			t.Errorf("%s: first push %s, second %s", ref, pushed, second[ref])
		}
	}
}

// TestCheckMirrorPaths: two registries' images with one repository path would share the mirror's repository; Bundle
// refuses them before fetching anything, and names both.
func TestCheckMirrorPaths(t *testing.T) {
	if err := cluster.CheckMirrorPaths([]string{"postgres:16", "docker.io/library/postgres:17", "ghcr.io/org/app:1", "quay.io/org/tool:2"}); err != nil {
		t.Errorf("distinct paths: %v", err)
	}
	err := cluster.CheckMirrorPaths([]string{"bitnami/redis:7", "ghcr.io/bitnami/redis:7"})
	if err == nil || !strings.Contains(err.Error(), "index.docker.io/bitnami/redis and ghcr.io/bitnami/redis would share") {
		t.Errorf("CheckPaths: %v", err)
	}
	out := filepath.Join(t.TempDir(), "b.tar")
	if _, err := Bundle(context.Background(), []string{"bitnami/redis:7", "ghcr.io/bitnami/redis:7"}, out, Options{}); err == nil ||
		!strings.Contains(err.Error(), "would share") {
		t.Errorf("Bundle: %v", err)
	}
	if _, err := os.Stat(out + ".partial"); !os.IsNotExist(err) {
		t.Errorf("a refused bundle left its working folder: %v", err)
	}
}
