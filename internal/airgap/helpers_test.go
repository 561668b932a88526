package airgap

import (
	"archive/tar"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// created is the fixed creation time of test bundles, so that two runs give the same archive.
var created = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// newRegistry starts an in-process registry and returns its host:port.
func newRegistry(tb testing.TB) string {
	tb.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	tb.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// randomImage is a random image of layers layers of size bytes, its config naming platform.
func randomImage(tb testing.TB, size, layers int64, platform string) v1.Image {
	tb.Helper()
	img, err := random.Image(size, layers)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := parsePlatform(platform)
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		tb.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

// pushImage writes img to ref.
func push(tb testing.TB, ref string, img v1.Image) v1.Hash {
	tb.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		tb.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		tb.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// pushIndex writes a two-platform index (linux/amd64, linux/arm64) to ref and returns it with its images.
func pushIndex(tb testing.TB, ref string) (v1.ImageIndex, map[string]v1.Image) {
	tb.Helper()
	images := map[string]v1.Image{}
	idx := v1.ImageIndex(empty.Index)
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		img := randomImage(tb, 1024, 2, p)
		images[p] = img
		pl, _ := parsePlatform(p)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &pl}})
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		tb.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		tb.Fatal(err)
	}
	return idx, images
}

// blobDigests are the config and layer digests of img.
func blobDigests(tb testing.TB, img v1.Image) []v1.Hash {
	tb.Helper()
	m, err := img.Manifest()
	if err != nil {
		tb.Fatal(err)
	}
	out := []v1.Hash{m.Config.Digest}
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	return out
}

// blobCounter is an HTTP transport that counts blob GETs by digest and upload requests, and fails every blob GET after the first
// failAfter ones when failAfter > 0.
type blobCounter struct {
	mu        sync.Mutex
	gets      map[string]int
	total     int
	failAfter int
	uploads   int
}

func newBlobCounter(failAfter int) *blobCounter {
	return &blobCounter{gets: map[string]int{}, failAfter: failAfter}
}

// errInterrupted is the failure blobCounter injects.
var errInterrupted = errors.New("connection lost (test)")

func (c *blobCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, "/blobs/uploads") {
		c.mu.Lock()
		c.uploads++
		c.mu.Unlock()
	}
	if _, digest, ok := strings.Cut(r.URL.Path, "/blobs/"); ok && r.Method == http.MethodGet {
		c.mu.Lock()
		c.total++
		n := c.total
		if c.failAfter == 0 || n <= c.failAfter {
			c.gets[digest]++
		}
		c.mu.Unlock()
		if c.failAfter > 0 && n > c.failAfter {
			return nil, errInterrupted
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

// rewriteTar copies the archive at src to a new file through edit, which returns the new content of each file
// and whether to keep it; add appends files. It returns the new archive's path.
func rewriteTar(tb testing.TB, src string, edit func(name string, data []byte) ([]byte, bool), add map[string][]byte) string {
	tb.Helper()
	in, err := os.Open(src)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	dst := filepath.Join(tb.TempDir(), "edited.tar")
	out, err := os.Create(dst)
	if err != nil {
		tb.Fatal(err)
	}
	tw := tar.NewWriter(out)
	tr := tar.NewReader(in)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			tb.Fatal(err)
		}
		keep := true
		if edit != nil {
			data, keep = edit(hdr.Name, data)
		}
		if keep {
			writeEntry(tb, tw, hdr.Name, data)
		}
	}
	names := make([]string, 0, len(add))
	for name := range add {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		writeEntry(tb, tw, name, add[name])
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := out.Close(); err != nil {
		tb.Fatal(err)
	}
	return dst
}

func writeEntry(tb testing.TB, tw *tar.Writer, name string, data []byte) {
	tb.Helper()
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data))}); err != nil {
		tb.Fatal(err)
	}
	if _, err := tw.Write(data); err != nil {
		tb.Fatal(err)
	}
}

// tarFiles reads every file of an archive into memory.
func tarFiles(tb testing.TB, path string) map[string][]byte {
	tb.Helper()
	files := map[string][]byte{}
	rewriteTar(tb, path, func(name string, data []byte) ([]byte, bool) {
		files[name] = data
		return nil, false
	}, nil)
	return files
}

// exists reports whether path exists.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func sha256Sum(data []byte) [32]byte { return sha256.Sum256(data) }

// hashOf is the sha256 digest of data.
func hashOf(data []byte) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sha256.Sum256(data))}
}

// writeArchiveOnly writes a tar with no entries at path.
func writeArchiveOnly(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := tar.NewWriter(f).Close(); err != nil {
		return err
	}
	return f.Close()
}
