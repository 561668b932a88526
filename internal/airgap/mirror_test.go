package airgap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseMirror(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in string
		want     Mirror
		err      string
	}{
		{"valid-docker-hub", "docker.io=proxy.corp.example/dockerhub", Mirror{"index.docker.io", "proxy.corp.example/dockerhub"}, ""},
		{"valid-index-docker-io", "index.docker.io=proxy.corp.example", Mirror{"index.docker.io", "proxy.corp.example"}, ""},
		{"valid-trailing-slash", "ghcr.io=localhost:5000/ghcr/", Mirror{"ghcr.io", "localhost:5000/ghcr"}, ""},
		{"valid-ports", "registry.local:5000=mirror.example:443/a/b", Mirror{"registry.local:5000", "mirror.example:443/a/b"}, ""},
		{"invalid-no-equals", "docker.io", Mirror{}, "no '='"},
		{"invalid-empty", "", Mirror{}, "no '='"},
		{"invalid-empty-host", "=proxy.example", Mirror{}, "no registry host before '='"},
		{"invalid-host-scheme", "https://docker.io=proxy.example", Mirror{}, `registry host "https://docker.io" has a scheme`},
		{"invalid-host-path", "docker.io/library=proxy.example", Mirror{}, `registry host "docker.io/library" has a path`},
		{"invalid-host-not-a-host", "docker=proxy.example", Mirror{}, `"docker" is not a registry host`},
		{"invalid-host-malformed", "doc ker.io=proxy.example", Mirror{}, "RFC 3986"},
		{"invalid-empty-mirror", "docker.io=", Mirror{}, "no mirror after '='"},
		{"invalid-mirror-scheme", "docker.io=https://proxy.example", Mirror{}, "without a scheme"},
		{"invalid-mirror-not-a-host", "docker.io=dockerhub", Mirror{}, `registry "dockerhub": want host[:port][/prefix]`},
		{"invalid-mirror-prefix", "docker.io=proxy.example/Bad Prefix", Mirror{}, `prefix "Bad Prefix"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseMirror(tc.in)
			if tc.err == "" {
				if err != nil || got != tc.want {
					t.Errorf("ParseMirror(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "pull mirror ") {
				t.Errorf("ParseMirror(%q) = %+v, %v; want an error starting with \"pull mirror\" and containing %q", tc.in, got, err, tc.err)
			}
		})
	}
}

// FuzzParseMirror: ParseMirror never panics, and what it accepts is written back (Mirror.String) as a value it
// reads the same way. The seed corpus is testdata/fuzz/FuzzParseMirror plus the cases above.
func FuzzParseMirror(f *testing.F) {
	for _, s := range []string{"docker.io=proxy.corp.example/dockerhub", "ghcr.io=localhost:5000/ghcr/", "=", "a=b=c", "docker.io=https://x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMirror(s)
		if err != nil {
			return
		}
		again, err := ParseMirror(m.String())
		if err != nil || again != m {
			t.Fatalf("ParseMirror(%q) = %+v, but its String %q reads as %+v, %v", s, m, m.String(), again, err)
		}
		if err := validSource(m.source()); err != nil {
			t.Fatalf("the source recorded for %+v is refused by ParseManifest: %v", m, err)
		}
	})
}

// The checked-in corpora are there and readable.
func TestFuzzCorpora(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"FuzzParseManifest", "FuzzParseMirror"} {
		files, err := filepath.Glob(filepath.Join("testdata", "fuzz", target, "*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no seed corpus for %s: %v", target, err)
		}
		for _, f := range files {
			if _, err := os.ReadFile(f); err != nil {
				t.Error(err)
			}
		}
	}
}
