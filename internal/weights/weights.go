// Package weights copies a model's weights out of its OCI artifact into a folder: what `agops model pull` does in the
// init container in front of a model server. Docker Model Runner distributes models (ai/<name> on Docker Hub) as OCI
// artifacts whose layer of media type application/vnd.docker.ai.gguf.v3 is the GGUF file llama.cpp loads.
package weights

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// GGUFMediaType is the media type of a GGUF layer in Docker's model artifacts.
const GGUFMediaType types.MediaType = "application/vnd.docker.ai.gguf.v3"

// Options are how Pull reaches the registry.
type Options struct {
	// Remote are extra options for the registry client (a transport, insecure registries).
	Remote []remote.Option
	// NameOptions parse the reference (name.Insecure for a plain-HTTP registry).
	NameOptions []name.Option
	// Progress, when set, is told how many bytes have been written so far.
	Progress func(written, total int64)
}

// Result says what Pull did.
type Result struct {
	Path    string
	Digest  v1.Hash
	Size    int64
	Skipped bool // the folder held these weights already
}

// Pull writes the GGUF layer of the model artifact ref to dir/file, unless the file there already is that layer
// (its digest is recorded beside it). The file appears whole or not at all: the layer is written to a temporary
// file, checked against its digest, synced and renamed.
func Pull(ctx context.Context, ref, dir, file string, o Options) (Result, error) {
	if file == "" || file != filepath.Base(file) || strings.HasPrefix(file, ".") {
		return Result{}, fmt.Errorf("weights file name %q: want a plain file name", file)
	}
	r, err := name.ParseReference(ref, o.NameOptions...)
	if err != nil {
		return Result{}, fmt.Errorf("model %q: %w", ref, err)
	}
	opts := append([]remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}, o.Remote...)
	img, err := remote.Image(r, opts...)
	if err != nil {
		return Result{}, fmt.Errorf("model %s: %w", r, err)
	}
	layer, err := ggufLayer(img)
	if err != nil {
		return Result{}, fmt.Errorf("model %s: %w", r, err)
	}
	digest, err := layer.Digest()
	if err != nil {
		return Result{}, fmt.Errorf("model %s: %w", r, err)
	}
	size, err := layer.Size()
	if err != nil {
		return Result{}, fmt.Errorf("model %s: %w", r, err)
	}
	res := Result{Path: filepath.Join(dir, file), Digest: digest, Size: size}
	if have(dir, file, digest, size) {
		res.Skipped = true
		return res, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, err
	}
	rc, err := layer.Compressed() // the blob as stored: GGUF layers are not compressed
	if err != nil {
		return Result{}, fmt.Errorf("model %s: %w", r, err)
	}
	defer rc.Close()
	if err := writeChecked(dir, file, rc, digest, size, o.Progress); err != nil {
		return Result{}, fmt.Errorf("model %s: %w", r, err)
	}
	return res, nil
}

// ggufLayer is the artifact's one GGUF layer.
func ggufLayer(img v1.Image) (v1.Layer, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	var found []v1.Layer
	for _, l := range layers {
		mt, err := l.MediaType()
		if err != nil {
			return nil, err
		}
		if mt == GGUFMediaType || strings.Contains(strings.ToLower(string(mt)), "gguf") {
			found = append(found, l)
		}
	}
	switch len(found) {
	case 0:
		return nil, errors.New("no GGUF layer: not a model artifact (want a layer of media type " + string(GGUFMediaType) + ")")
	case 1:
		return found[0], nil
	default:
		return nil, fmt.Errorf("%d GGUF layers: sharded models are not supported yet", len(found))
	}
}

// markerName is the file beside the weights that records their digest.
func markerName(file string) string { return "." + file + ".digest" }

// have tells whether dir/file already holds the layer: the recorded digest matches and the size too.
func have(dir, file string, digest v1.Hash, size int64) bool {
	b, err := os.ReadFile(filepath.Join(dir, markerName(file)))
	if err != nil || strings.TrimSpace(string(b)) != digest.String() {
		return false
	}
	fi, err := os.Stat(filepath.Join(dir, file))
	return err == nil && fi.Mode().IsRegular() && fi.Size() == size
}

// writeChecked copies r to dir/file through a temporary file, checking size and sha256 digest before the rename.
func writeChecked(dir, file string, r io.Reader, digest v1.Hash, size int64, progress func(int64, int64)) (err error) {
	if digest.Algorithm != "sha256" {
		return fmt.Errorf("digest %s: only sha256 is checked", digest)
	}
	tmp, err := os.CreateTemp(dir, "."+file+".part-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	var w io.Writer = io.MultiWriter(tmp, h)
	if progress != nil {
		w = &progressWriter{w: w, total: size, report: progress}
	}
	n, err := io.Copy(w, io.LimitReader(r, size+1))
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("the layer has %d bytes, want %d", n, size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != digest.Hex {
		return fmt.Errorf("the layer's digest is sha256:%s, want %s", got, digest)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// The old marker goes first, so that a crash between the renames leaves no marker naming other weights.
	if err := os.Remove(filepath.Join(dir, markerName(file))); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, file)); err != nil {
		return err
	}
	return writeMarker(dir, file, digest)
}

func writeMarker(dir, file string, digest v1.Hash) error {
	f, err := os.CreateTemp(dir, "."+file+".digest-")
	if err != nil {
		return err
	}
	if _, err := f.WriteString(digest.String() + "\n"); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, markerName(file))); err != nil {
		os.Remove(f.Name())
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

type progressWriter struct {
	w       io.Writer
	written int64
	total   int64
	report  func(int64, int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.written += int64(n)
	p.report(p.written, p.total)
	return n, err
}
