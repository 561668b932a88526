package airgap

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad inputs fail with a clear error and leave nothing at out. The working folder stays only when it holds
// something worth resuming from (the config of the image that did resolve).
func TestBundleBadInputs(t *testing.T) {
	t.Parallel()
	host := newRegistry(t)
	arm := randomImage(t, 256, 1, "linux/arm64")
	push(t, host+"/only/arm:1", arm)
	ok := host + "/ok/app:1"
	push(t, ok, randomImage(t, 256, 1, "linux/amd64"))
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		refs     []string
		out      string
		platform string
		want     []string
		keepWork bool
	}{
		{"invalid-unknown-image", []string{ok, host + "/nope/app:1"}, "unknown.tar", "", []string{"image " + host + "/nope/app:1: GET"}, true},
		{"invalid-two-unknown-images", []string{host + "/a:1", host + "/b:1"}, "two.tar", "", []string{"image " + host + "/a:1", "image " + host + "/b:1"}, false},
		{"invalid-malformed-reference", []string{"Bad//Ref:1", "also bad"}, "malformed.tar", "", []string{`image "Bad//Ref:1"`, `image "also bad"`}, false},
		{"invalid-no-images", nil, "none.tar", "", []string{"no images to bundle"}, false},
		{"invalid-platform", []string{ok}, "platform.tar", "amd64", []string{`platform "amd64"`}, false},
		{"invalid-wrong-architecture", []string{host + "/only/arm:1"}, "arch.tar", "", []string{"the image is for linux/arm64, not linux/amd64"}, false},
		{"invalid-output-folder-missing", []string{ok}, filepath.Join("missing", "b.tar"), "", []string{"does not exist"}, false},
		{"invalid-output-is-folder", []string{ok}, ".", "", []string{"is a folder"}, false},
		{"invalid-output-under-file", []string{ok}, filepath.Join("file", "b.tar"), "", []string{"creating working folder", "not a directory"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(dir, tc.out)
			_, err := Bundle(context.Background(), tc.refs, out, Options{Platform: tc.platform})
			if err == nil {
				t.Fatal("Bundle succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if st, serr := os.Stat(out); serr == nil && !st.IsDir() {
				t.Errorf("Bundle failed but wrote %s", out)
			}
			if exists(out+".partial") != tc.keepWork {
				t.Errorf("working folder %s.partial exists: %v, want %v", out, exists(out+".partial"), tc.keepWork)
			}
		})
	}
}
