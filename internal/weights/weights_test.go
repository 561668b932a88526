package weights

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// serve starts go-containerregistry's registry on loopback and returns its host.
func serve(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(registry.New())
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// push writes a model artifact (a config and the given layers) under ref.
func push(t *testing.T, ref string, layers ...v1.Layer) {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, "application/vnd.docker.ai.model.config.v0.1+json")
	img, err := mutate.AppendLayers(img, layers...)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
}

func gguf(content string) v1.Layer { return static.NewLayer([]byte("GGUF"+content), GGUFMediaType) }

func pull(t *testing.T, ref, dir string) (Result, error) {
	t.Helper()
	return Pull(context.Background(), ref, dir, "model.gguf", Options{NameOptions: []name.Option{name.Insecure}})
}

// TestPullWritesOnceAndFollowsTheArtifact: the GGUF layer lands whole in the folder; a second pull of the same artifact
// writes nothing; a new artifact under the tag replaces the weights.
func TestPullWritesOnceAndFollowsTheArtifact(t *testing.T) {
	host := serve(t)
	ref := host + "/ai/tiny:latest"
	push(t, ref, gguf("weights-1"))
	dir := t.TempDir()
	res, err := pull(t, ref, dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped {
		t.Error("first pull skipped")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "model.gguf")); err != nil || string(b) != "GGUFweights-1" {
		t.Fatalf("weights = %q, %v", b, err)
	}
	again, err := pull(t, ref, dir)
	if err != nil || !again.Skipped || again.Digest != res.Digest {
		t.Fatalf("second pull = %+v, %v; want skipped with the same digest", again, err)
	}
	push(t, ref, gguf("weights-2"))
	third, err := pull(t, ref, dir)
	if err != nil || third.Skipped || third.Digest == res.Digest {
		t.Fatalf("pull after a new artifact = %+v, %v; want new weights written", third, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "model.gguf")); string(b) != "GGUFweights-2" {
		t.Errorf("weights = %q, want the new artifact's", b)
	}
	assertNoTemp(t, dir)
}

// TestPullEditedWeightsAreReplaced: weights changed in the folder (same size, marker kept) are not trusted blindly
// by size alone — a different size is caught, and the digest marker is the artifact's.
func TestPullEditedWeightsAreReplaced(t *testing.T) {
	host := serve(t)
	ref := host + "/ai/tiny:1"
	push(t, ref, gguf("weights"))
	dir := t.TempDir()
	if _, err := pull(t, ref, dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.gguf"), []byte("truncated"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := pull(t, ref, dir)
	if err != nil || res.Skipped {
		t.Fatalf("pull over truncated weights = %+v, %v; want them written again", res, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "model.gguf")); string(b) != "GGUFweights" {
		t.Errorf("weights = %q", b)
	}
}

// TestPullRefusesWhatIsNotAModel: an image without a GGUF layer, a sharded model, a bad reference and a file name
// that is a path are clear errors that write nothing.
func TestPullRefusesWhatIsNotAModel(t *testing.T) {
	host := serve(t)
	push(t, host+"/library/app:1", static.NewLayer([]byte("tar"), types.OCILayer))
	push(t, host+"/ai/sharded:1", gguf("a"), gguf("b"))
	for _, tc := range []struct {
		ref, file, want string
	}{
		{host + "/library/app:1", "model.gguf", "no GGUF layer"},
		{host + "/ai/sharded:1", "model.gguf", "sharded"},
		{host + "/ai/absent:1", "model.gguf", "ai/absent"},
		{"Not A Reference", "model.gguf", "model"},
		{host + "/ai/tiny:1", "../escape.gguf", "plain file name"},
		{host + "/ai/tiny:1", ".hidden", "plain file name"},
	} {
		dir := t.TempDir()
		_, err := Pull(context.Background(), tc.ref, dir, tc.file, Options{NameOptions: []name.Option{name.Insecure}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Pull(%s, %s) = %v, want an error about %q", tc.ref, tc.file, err, tc.want)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("Pull(%s) left %d files", tc.ref, len(entries))
		}
	}
}

// TestWriteCheckedRefusesAlteredBytes: bytes that do not hash to the layer's digest, or fall short of its size, never
// become the weights file, and no temporary file stays.
func TestWriteCheckedRefusesAlteredBytes(t *testing.T) {
	good := []byte("GGUFgood")
	digest, size, err := v1.SHA256(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range [][]byte{[]byte("GGUFbad!"), []byte("GGUF"), []byte("GGUFgood-and-more")} {
		dir := t.TempDir()
		err := writeChecked(dir, "model.gguf", bytes.NewReader(body), digest, size, nil)
		if err == nil {
			t.Errorf("writeChecked(%q) succeeded", body)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("writeChecked(%q) left %d files", body, len(entries))
		}
	}
	dir := t.TempDir()
	var seen int64
	if err := writeChecked(dir, "model.gguf", bytes.NewReader(good), digest, size, func(n, _ int64) { seen = n }); err != nil {
		t.Fatal(err)
	}
	if !have(dir, "model.gguf", digest, size) || seen != size {
		t.Errorf("good bytes: have = false or progress %d of %d", seen, size)
	}
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".part-") || strings.Contains(e.Name(), ".digest-") {
			t.Errorf("temporary file %s left", e.Name())
		}
	}
}
