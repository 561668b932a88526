// Package image owns the agops helper image: a single-layer image holding the static agops binary alone, which
// init containers run as `agops wait ...`. It builds the image without Docker, reproducibly (the same binary
// gives the same digest), and pushes it to a registry.
package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// Path is where the binary sits in the image, and the image's entrypoint.
	Path = "/agops"
	// User is the image's user: an unprivileged uid:gid, as in distroless "nonroot".
	User = "65532:65532"
	// TitleLabel is the OCI label naming the image.
	TitleLabel = "org.opencontainers.image.title"
)

// epoch is the fixed time of every timestamp in the image, so that its digest depends on the binary only.
var epoch = time.Unix(0, 0).UTC()

// Option tunes Build or Push.
type Option func(*options)

type options struct {
	insecure bool
}

// Insecure lets Push talk plain HTTP to the registry (name.Insecure).
func Insecure() Option {
	return func(o *options) { o.insecure = true }
}

func makeOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Build makes the helper image from the agops binary at binaryPath, which must be a statically linked Linux ELF
// executable for amd64 or arm64. The image is empty but for that binary at Path; the same binary always gives
// the same image digest. No option changes the build yet; opts are accepted so that a caller can hand Build and
// Push the same set.
func Build(binaryPath string, opts ...Option) (v1.Image, error) {
	return Pack(binaryPath, Spec{Path: Path, User: User, Title: "agops", CreatedBy: "agops image push"})
}

// Spec describes an image of one static binary.
type Spec struct {
	Path      string   // where the binary sits; it is the entrypoint
	Args      []string // after Path in the entrypoint
	User      string   // uid:gid; empty for root
	Title     string   // the org.opencontainers.image.title label
	CreatedBy string   // the layer's history
}

// Pack makes an image holding only the static Linux binary at binaryPath, at spec.Path (as Build does for agops):
// test beds pack their pause process, CoreDNS and test servers this way. The same binary and spec give the same
// digest.
func Pack(binaryPath string, spec Spec) (v1.Image, error) {
	if !strings.HasPrefix(spec.Path, "/") || len(spec.Path) < 2 {
		return nil, fmt.Errorf("image path %q: want an absolute file path", spec.Path)
	}
	bin, err := os.ReadFile(binaryPath)
	if err != nil {
		return nil, fmt.Errorf("reading agops binary: %w", err)
	}
	arch, err := inspect(binaryPath, bin)
	if err != nil {
		return nil, err
	}
	layer, err := binaryLayer(bin, spec.Path)
	if err != nil {
		return nil, fmt.Errorf("building layer of %s: %w", binaryPath, err)
	}
	img, err := assemble(layer, arch, spec)
	if err != nil {
		return nil, fmt.Errorf("building image of %s: %w", binaryPath, err)
	}
	return img, nil
}

// assemble puts layer on an empty OCI image and writes the config around it.
func assemble(layer v1.Layer, arch string, spec Spec) (v1.Image, error) {
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: spec.CreatedBy, Comment: "the " + spec.Title + " binary"},
	})
	if err != nil {
		return nil, fmt.Errorf("appending layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.Created = v1.Time{Time: epoch}
	cfg.OS = "linux"
	cfg.Architecture = arch
	cfg.Config.Entrypoint = append([]string{spec.Path}, spec.Args...)
	cfg.Config.User = spec.User
	cfg.Config.Labels = map[string]string{TitleLabel: spec.Title}
	return mutate.ConfigFile(img, cfg)
}

// binaryLayer is a gzipped tar holding bin at path, mode 0755, owned 0:0, with a fixed mtime.
func binaryLayer(bin []byte, path string) (v1.Layer, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression) // BestCompression: 3× the time for 1% less
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     path[1:], // tar paths are relative to the root
		Mode:     0o755,
		Size:     int64(len(bin)),
		ModTime:  epoch,
		Format:   tar.FormatUSTAR,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("writing tar header: %w", err)
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, fmt.Errorf("writing tar: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("closing tar: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("closing gzip: %w", err)
	}
	gz := buf.Bytes()
	opener := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(gz)), nil }
	return tarball.LayerFromOpener(opener, tarball.WithMediaType(types.OCILayer))
}
