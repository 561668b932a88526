package airgap

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// sums rewrites SHA256SUMS for the given files, as someone covering their tracks would.
func sums(files map[string][]byte) []byte {
	names := make([]string, 0, len(files))
	for name := range files {
		if name != SumsFile {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, name := range names {
		fmt.Fprintf(&b, "%x  %s\n", sha256Sum(files[name]), name)
	}
	return b.Bytes()
}

func TestVerifyTampered(t *testing.T) {
	t.Parallel()
	src := newSource(t)
	out, m := bundle(t, src.refs, Options{})
	files := tarFiles(t, out)
	var pg Image // a tagged image whose digest differs from the first image's
	for _, img := range m.Images {
		if strings.Contains(img.Ref, "postgres") {
			pg = img
		}
	}
	layer := blobName(blobDigests(t, src.images[src.refs[0]])[1])
	flip := func(data []byte) []byte {
		c := slices.Clone(data)
		c[len(c)/2] ^= 0x01
		return c
	}
	cases := []struct {
		name string
		edit func(name string, data []byte) ([]byte, bool)
		add  map[string][]byte
		want []string
	}{
		{"invalid-flipped-byte-in-layer", func(n string, d []byte) ([]byte, bool) {
			if n == layer {
				return flip(d), true
			}
			return d, true
		}, nil, []string{layer + ": content has sha256", layer + ": sha256"}},
		{"invalid-removed-blob", func(n string, d []byte) ([]byte, bool) { return d, n != layer }, nil,
			[]string{layer + ": listed in SHA256SUMS but missing", "image " + src.refs[0] + ": layer sha256:" + strings.TrimPrefix(layer, blobDir) + " is missing"}},
		{"invalid-edited-manifest", func(n string, d []byte) ([]byte, bool) {
			if n == ManifestFile {
				return bytes.Replace(d, []byte(pg.Digest), []byte(m.Images[0].Digest), 1), true
			}
			return d, true
		}, nil, []string{ManifestFile + ": sha256", "image " + pg.Ref + ": agops-bundle.json says digest " + m.Images[0].Digest}},
		{"invalid-edited-manifest-and-sums", func(n string, d []byte) ([]byte, bool) {
			if n == ManifestFile || n == SumsFile {
				edited := maps.Clone(files)
				edited[ManifestFile] = bytes.Replace(files[ManifestFile], []byte(`"size": `), []byte(`"size": 1`), 1)
				if n == SumsFile {
					return sums(edited), true
				}
				return edited[ManifestFile], true
			}
			return d, true
		}, nil, []string{"agops-bundle.json says 1"}},
		{"invalid-extra-file", func(_ string, d []byte) ([]byte, bool) { return d, true },
			map[string][]byte{"notes.txt": []byte("hi")}, []string{"notes.txt: not listed in SHA256SUMS", "notes.txt: extra file"}},
		{"invalid-extra-blob-listed-in-sums", func(n string, d []byte) ([]byte, bool) {
			if n == SumsFile {
				return sums(withFile(files, blobName(hashOf([]byte("x"))), []byte("x"))), true
			}
			return d, true
		}, map[string][]byte{blobName(hashOf([]byte("x"))): []byte("x")}, []string{blobName(hashOf([]byte("x"))) + ": extra file"}},
		{"invalid-no-sums", func(n string, d []byte) ([]byte, bool) { return d, n != SumsFile }, nil, []string{"SHA256SUMS is missing"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Verify(rewriteTar(t, out, tc.edit, tc.add))
			if err == nil {
				t.Fatal("Verify accepted a tampered bundle")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if _, perr := Push(context.Background(), rewriteTar(t, out, tc.edit, tc.add), newRegistry(t), PushOptions{}); perr == nil {
				t.Errorf("Push accepted a tampered bundle")
			}
		})
	}
}

func withFile(m map[string][]byte, name string, data []byte) map[string][]byte {
	c := maps.Clone(m)
	c[name] = data
	return c
}

func TestVerifyNotABundle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct {
		name, path, want string
	}{
		{"invalid-missing", filepath.Join(dir, "nope.tar"), "opening bundle"},
		{"invalid-empty-tar", rewriteTar(t, emptyTar(t), func(string, []byte) ([]byte, bool) { return nil, false }, nil), "holds no files"},
		{"invalid-unsafe-name", rewriteTar(t, emptyTar(t), nil, map[string][]byte{"../evil": []byte("x")}), "unsafe file name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := Verify(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Verify(%s) = %v, want an error with %q", tc.path, err, tc.want)
			}
		})
	}
}

// emptyTar writes an archive with no entries.
func emptyTar(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "empty.tar")
	if err := writeArchiveOnly(path); err != nil {
		t.Fatal(err)
	}
	return path
}
