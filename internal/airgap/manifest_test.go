package airgap

import (
	"reflect"
	"strings"
	"testing"
)

const validManifest = `{
  "format": 1,
  "created": "2026-11-27T12:00:00Z",
  "platform": "linux/amd64",
  "images": [
    {
      "ref": "ghcr.io/example/app:1.4",
      "repository": "ghcr.io/example/app",
      "digest": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
      "indexDigest": "sha256:1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
      "size": 1234,
      "registry": "ghcr.io"
    }
  ]
}
`

func TestParseManifest(t *testing.T) {
	t.Parallel()
	edit := func(old, new string) string { return strings.Replace(validManifest, old, new, 1) }
	cases := []struct {
		name, data, want string
	}{
		{"valid", validManifest, ""},
		{"valid-no-index-digest", edit(`"indexDigest": "sha256:1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",`, ""), ""},
		{"valid-variant", edit(`"linux/amd64"`, `"linux/arm/v7"`), ""},
		{"invalid-not-json", "{", "unexpected EOF"},
		{"invalid-trailing-data", validManifest + "{}", "data after the JSON object"},
		{"invalid-unknown-field", edit(`"format": 1,`, `"format": 1, "extra": true,`), "unknown field"},
		{"invalid-format", edit(`"format": 1`, `"format": 2`), "format 2"},
		{"invalid-platform", edit(`"linux/amd64"`, `"amd64"`), `platform "amd64"`},
		{"invalid-no-images", `{"format":1,"platform":"linux/amd64","images":[]}`, "no images"},
		{"invalid-digest", edit(`"digest": "sha256:0123`, `"digest": "sha256:X123`), "digest"},
		{"invalid-digest-algorithm", edit(`"digest": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"`, `"digest": "sha512:`+strings.Repeat("ab", 64)+`"`), "only sha256"},
		{"invalid-ref", edit(`"ref": "ghcr.io/example/app:1.4"`, `"ref": "Bad Ref"`), "ref:"},
		{"invalid-repository", edit(`"repository": "ghcr.io/example/app"`, `"repository": ""`), "repository"},
		{"invalid-size", edit(`"size": 1234`, `"size": -1`), "negative"},
		{"invalid-registry", edit(`"registry": "ghcr.io"`, `"registry": ""`), "registry"},
		{"valid-source-archive", edit(`"registry": "ghcr.io"`, `"registry": "ghcr.io", "source": "archive own-images.tar"`), ""},
		{"valid-source-mirror", edit(`"registry": "ghcr.io"`, `"registry": "ghcr.io", "source": "pull-mirror proxy.corp.example:5000/ghcr"`), ""},
		{"valid-source-built", edit(`"registry": "ghcr.io"`, `"registry": "ghcr.io", "source": "built from agops binary"`), ""},
		{"invalid-source-unknown", edit(`"registry": "ghcr.io"`, `"registry": "ghcr.io", "source": "docker"`), `source "docker"`},
		{"invalid-source-archive-path", edit(`"registry": "ghcr.io"`, `"registry": "ghcr.io", "source": "archive /tmp/own.tar"`), "source"},
		{"invalid-source-archive-empty", edit(`"registry": "ghcr.io"`, `"registry": "ghcr.io", "source": "archive "`), "source"},
		{"invalid-source-mirror-scheme", edit(`"registry": "ghcr.io"`, `"registry": "ghcr.io", "source": "pull-mirror https://proxy.example"`), "source"},
		{"invalid-source-mirror-slash", edit(`"registry": "ghcr.io"`, `"registry": "ghcr.io", "source": "pull-mirror proxy.example/"`), "source"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := ParseManifest([]byte(tc.data))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("ParseManifest: %v", err)
				}
				back, err := m.marshal()
				if err != nil {
					t.Fatal(err)
				}
				if again, err := ParseManifest(back); err != nil || !reflect.DeepEqual(again, m) {
					t.Errorf("round trip: %+v, %v; want %+v", again, err, m)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), ManifestFile+": ") {
				t.Errorf("ParseManifest = %v, want an error starting with %s: and containing %q", err, ManifestFile, tc.want)
			}
		})
	}
}

// FuzzParseManifest: ParseManifest never panics, and what it accepts survives a round trip. The seed corpus is
// testdata/fuzz/FuzzParseManifest plus the cases above.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(validManifest))
	f.Add([]byte(`{"format":1,"platform":"linux/arm64/v8","images":[{"ref":"postgres@sha256:` + strings.Repeat("0", 64) + `","repository":"index.docker.io/library/postgres","digest":"sha256:` + strings.Repeat("0", 64) + `","size":0,"registry":"index.docker.io"}]}`))
	f.Add([]byte(strings.Replace(validManifest, `"registry": "ghcr.io"`, `"registry": "ghcr.io", "source": "pull-mirror proxy.corp.example/ghcr"`, 1)))
	f.Add([]byte(strings.Replace(validManifest, `"registry": "ghcr.io"`, `"registry": "ghcr.io", "source": "archive own.tar"`, 1)))
	f.Add([]byte(`{"format":1,"images":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			return
		}
		back, err := m.marshal()
		if err != nil {
			t.Fatalf("marshal of an accepted manifest: %v", err)
		}
		again, err := ParseManifest(back)
		if err != nil {
			t.Fatalf("an accepted manifest does not parse after a round trip: %v\n%s", err, back)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("round trip changed the manifest:\n%+v\n%+v", m, again)
		}
	})
}
