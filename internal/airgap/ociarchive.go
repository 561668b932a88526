package airgap

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations of an OCI layout's index.json naming an entry's image.
const (
	ociRefName       = "org.opencontainers.image.ref.name" // a full reference (skopeo, podman) or only a tag (Docker, buildx)
	containerdRefKey = "io.containerd.image.name"          // the full reference, beside a bare-tag ref.name
)

// tarEntry is where one regular file's data lies in a tar file.
type tarEntry struct {
	offset, size int64
}

// tarIndex maps the names of an archive's regular files (cleaned: "blobs/sha256/…", never "./…") to their data.
type tarIndex map[string]tarEntry

// indexTar scans an uncompressed tar file once, recording where each regular file's data starts: archive/tar reads
// headers straight from the file (seeking over data), so the file's offset after Next is the data's first byte.
func indexTar(file string) (tarIndex, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	idx := tarIndex{}
	links := map[string]string{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // TypeRegA: old writers
			off, err := f.Seek(0, io.SeekCurrent)
			if err != nil {
				return nil, err
			}
			idx[cleanTarName(hdr.Name)] = tarEntry{offset: off, size: hdr.Size}
		case tar.TypeLink:
			links[cleanTarName(hdr.Name)] = cleanTarName(hdr.Linkname)
		}
	}
	for name, target := range links {
		if e, ok := idx[target]; ok {
			idx[name] = e
		}
	}
	return idx, nil
}

func cleanTarName(n string) string {
	return strings.TrimPrefix(path.Clean("/"+n), "/")
}

// isOCIArchive tells an OCI archive (an OCI image layout in a tar) from a docker-archive: an archive with both
// manifest.json and index.json (Docker 25 and later) is read through manifest.json.
func (t tarIndex) isOCIArchive() bool {
	_, manifest := t["manifest.json"]
	_, index := t["index.json"]
	_, layout := t["oci-layout"]
	return !manifest && index && layout
}

// ociArchive is an OCI archive whose blobs are read straight from the tar file.
type ociArchive struct {
	file  string
	files tarIndex
}

// open streams one file of the archive.
func (a *ociArchive) open(name string) (io.ReadCloser, error) {
	e, ok := a.files[name]
	if !ok {
		return nil, fmt.Errorf("%s is missing from the archive", name)
	}
	f, err := os.Open(a.file)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, e.offset, e.size), f}, nil
}

// blobName is a blob's path in the layout.
func ociBlobName(h v1.Hash) string { return path.Join("blobs", h.Algorithm, h.Hex) }

// blob opens the blob named by h.
func (a *ociArchive) blob(h v1.Hash) (io.ReadCloser, error) {
	rc, err := a.open(ociBlobName(h))
	if err != nil {
		return nil, fmt.Errorf("blob %s is missing from image archive %s", h, a.file)
	}
	return rc, nil
}

// bytes reads a small blob whole (manifests, indexes, configs) and checks its digest, and its size when known
// (size < 0: unknown).
func (a *ociArchive) bytes(h v1.Hash, size int64) ([]byte, error) {
	if e, ok := a.files[ociBlobName(h)]; ok && e.size > maxMetadata {
		return nil, fmt.Errorf("blob %s: %d bytes, want at most %d", h, e.size, maxMetadata)
	}
	rc, err := a.blob(h)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", h, err)
	}
	got, n, _ := v1.SHA256(bytes.NewReader(data))
	if got != h || (size >= 0 && n != size) {
		return nil, fmt.Errorf("blob %s in image archive %s is corrupt: %d bytes with digest %s", h, a.file, n, got)
	}
	return data, nil
}

// index reads the archive's index.json.
func (a *ociArchive) index() (*v1.IndexManifest, error) {
	if e, ok := a.files["index.json"]; ok && e.size > maxMetadata {
		return nil, fmt.Errorf("index.json: %d bytes, want at most %d", e.size, maxMetadata)
	}
	rc, err := a.open("index.json")
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	idx, err := v1.ParseIndexManifest(rc)
	if err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	return idx, nil
}

// ociName is the full reference an index.json entry names, from org.opencontainers.image.ref.name when it is one,
// else from io.containerd.image.name. bare is a tag alone (ref.name "1"), which names no repository.
func ociName(d v1.Descriptor) (ref, bare string) {
	refName, ctrd := d.Annotations[ociRefName], d.Annotations[containerdRefKey]
	if fullRef(refName) {
		return refName, ""
	}
	if fullRef(ctrd) {
		return ctrd, ""
	}
	return "", refName
}

// fullRef tells a reference (ghcr.io/x/y:1, postgres:17.2) from a tag alone (1, latest).
func fullRef(s string) bool { return strings.ContainsAny(s, ":/@") }

// ociImage is one index.json entry of an OCI archive: an image manifest, or an index holding one.
type ociImage struct {
	archive *ociArchive
	desc    v1.Descriptor
}

// image reads the entry's image: the manifest it names or, for a nested index (buildx's, with attestations),
// its only runnable image. An index of several platforms is refused: the archive's reader does not know the
// bundle's platform.
func (o *ociImage) image() (v1.Image, error) {
	d := o.desc
	switch {
	case d.MediaType.IsImage():
	case d.MediaType.IsIndex():
		raw, err := o.archive.bytes(d.Digest, d.Size)
		if err != nil {
			return nil, err
		}
		idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", d.Digest, err)
		}
		var images []v1.Descriptor
		var have []string
		for _, c := range idx.Manifests {
			if !c.MediaType.IsImage() || (c.Platform != nil && c.Platform.OS == "unknown") {
				continue // an attestation or another artifact
			}
			images = append(images, c)
			if c.Platform != nil {
				have = append(have, c.Platform.String())
			} else {
				have = append(have, "no platform")
			}
		}
		if len(images) != 1 {
			return nil, fmt.Errorf("index %s holds %d images (%s); multi-platform indexes in OCI archives are not supported: save the bundle's platform alone",
				d.Digest, len(images), strings.Join(have, ", "))
		}
		d = images[0]
	default:
		return nil, fmt.Errorf("%s has media type %q, not an image manifest or index", d.Digest, d.MediaType)
	}
	raw, err := o.archive.bytes(d.Digest, d.Size)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&ociCore{archive: o.archive, desc: d, raw: raw})
}

// ociCore serves one image of an OCI archive as stored: manifest, config and compressed layers byte for byte.
type ociCore struct {
	archive *ociArchive
	desc    v1.Descriptor
	raw     []byte
}

var _ partial.CompressedImageCore = (*ociCore)(nil)

func (c *ociCore) RawManifest() ([]byte, error) { return c.raw, nil }

func (c *ociCore) MediaType() (types.MediaType, error) {
	if c.desc.MediaType != "" {
		return c.desc.MediaType, nil
	}
	m, err := c.manifest()
	if err != nil {
		return "", err
	}
	return m.MediaType, nil
}

func (c *ociCore) manifest() (*v1.Manifest, error) {
	m, err := v1.ParseManifest(bytes.NewReader(c.raw))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", c.desc.Digest, err)
	}
	return m, nil
}

func (c *ociCore) RawConfigFile() ([]byte, error) {
	m, err := c.manifest()
	if err != nil {
		return nil, err
	}
	return c.archive.bytes(m.Config.Digest, m.Config.Size)
}

func (c *ociCore) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	m, err := c.manifest()
	if err != nil {
		return nil, err
	}
	if h == m.Config.Digest {
		return &ociBlob{archive: c.archive, desc: m.Config}, nil
	}
	for _, d := range m.Layers {
		if d.Digest == h {
			return &ociBlob{archive: c.archive, desc: d}, nil
		}
	}
	return nil, fmt.Errorf("manifest %s has no layer %s", c.desc.Digest, h)
}

// ociBlob is one blob of an image in an OCI archive, streamed as stored. Its digest is checked where it is
// stored (the bundle's store checks size and digest).
type ociBlob struct {
	archive *ociArchive
	desc    v1.Descriptor
}

func (b *ociBlob) Digest() (v1.Hash, error)            { return b.desc.Digest, nil }
func (b *ociBlob) Size() (int64, error)                { return b.desc.Size, nil }
func (b *ociBlob) MediaType() (types.MediaType, error) { return b.desc.MediaType, nil }
func (b *ociBlob) Descriptor() (*v1.Descriptor, error) { return &b.desc, nil }

// Exists implements partial.Exists.
func (b *ociBlob) Exists() (bool, error) {
	_, ok := b.archive.files[ociBlobName(b.desc.Digest)]
	return ok, nil
}

// Compressed streams the blob, failing at its end when its content is not what its digest says.
func (b *ociBlob) Compressed() (io.ReadCloser, error) {
	rc, err := b.archive.blob(b.desc.Digest)
	if err != nil {
		return nil, err
	}
	return &checked{rc: rc, h: sha256.New(), want: b.desc.Digest, file: b.archive.file}, nil
}

// checked reads a blob, and reports at its end a content whose digest is not want.
type checked struct {
	rc   io.ReadCloser
	h    hash.Hash
	n    int64
	want v1.Hash
	file string
}

func (c *checked) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	if errors.Is(err, io.EOF) {
		if got := hex.EncodeToString(c.h.Sum(nil)); c.want.Algorithm != "sha256" || got != c.want.Hex {
			return n, fmt.Errorf("blob %s in image archive %s is corrupt: %d bytes with digest sha256:%s", c.want, c.file, c.n, got)
		}
	}
	return n, err
}

func (c *checked) Close() error { return c.rc.Close() }
