package airgap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// FormatVersion is the version of agops-bundle.json this package writes and reads.
const FormatVersion = 1

// Manifest is agops-bundle.json: what a bundle holds and where each image came from.
type Manifest struct {
	// Format is FormatVersion.
	Format int `json:"format"`
	// Created is when the bundle was made (UTC).
	Created time.Time `json:"created"`
	// Platform is the one platform bundled, os/arch[/variant].
	Platform string `json:"platform"`
	// Images are sorted by Ref.
	Images []Image `json:"images"`
}

// Image is one bundled image.
type Image struct {
	// Ref is the reference as given (`postgres:16`, `ghcr.io/example/app:1.4`, `app@sha256:...`).
	Ref string `json:"ref"`
	// Repository is the resolved repository (`index.docker.io/library/postgres`).
	Repository string `json:"repository"`
	// Digest is the image manifest's digest: what the bundle holds and what Push makes addressable.
	Digest string `json:"digest"`
	// IndexDigest is the multi-platform index Ref resolved to, when the registry served one.
	IndexDigest string `json:"indexDigest,omitempty"`
	// Size is the bytes of the image manifest, config and layers.
	Size int64 `json:"size"`
	// Registry is the source registry host (`index.docker.io`, `ghcr.io`).
	Registry string `json:"registry"`
	// Source says where the image came from: empty when pulled from Registry; `pull-mirror REG/prefix` when fetched
	// from that pull-through cache; `archive FILE` (the base name) when read from a docker-archive; `built from
	// agops binary` for the helper image made on this machine.
	Source string `json:"source,omitempty"`
}

// ParseManifest reads agops-bundle.json strictly: unknown fields, a different format version, a malformed
// reference or digest, or a negative size are errors.
func ParseManifest(data []byte) (Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("%s: %w", ManifestFile, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Manifest{}, fmt.Errorf("%s: data after the JSON object", ManifestFile)
	}
	m.Created = m.Created.UTC()
	errs := m.validate()
	for i, err := range errs {
		errs[i] = fmt.Errorf("%s: %w", ManifestFile, err)
	}
	if len(errs) > 0 {
		return Manifest{}, errors.Join(errs...)
	}
	return m, nil
}

// validate checks every field and returns every problem.
func (m Manifest) validate() []error {
	var errs []error
	if m.Format != FormatVersion {
		errs = append(errs, fmt.Errorf("format %d: this agops reads format %d", m.Format, FormatVersion))
	}
	if _, err := parsePlatform(m.Platform); err != nil || m.Platform == "" {
		errs = append(errs, fmt.Errorf("platform %q: want os/arch[/variant]", m.Platform))
	}
	if len(m.Images) == 0 {
		errs = append(errs, errors.New("no images"))
	}
	seen := map[string]bool{}
	for i, img := range m.Images {
		if seen[img.Ref] {
			errs = append(errs, fmt.Errorf("image %q listed twice", img.Ref))
		}
		seen[img.Ref] = true
		if err := img.validate(); err != nil {
			errs = append(errs, fmt.Errorf("images[%d] (%s): %w", i, img.Ref, err))
		}
	}
	return errs
}

func (img Image) validate() error {
	var errs []error
	if _, err := name.ParseReference(img.Ref); err != nil {
		errs = append(errs, fmt.Errorf("ref: %w", err))
	}
	if _, err := name.NewRepository(img.Repository); err != nil || img.Repository == "" {
		errs = append(errs, fmt.Errorf("repository %q is not a repository", img.Repository))
	}
	if _, err := sha256Hash(img.Digest); err != nil {
		errs = append(errs, fmt.Errorf("digest: %w", err))
	}
	if _, err := sha256Hash(img.IndexDigest); img.IndexDigest != "" && err != nil {
		errs = append(errs, fmt.Errorf("indexDigest: %w", err))
	}
	if img.Size < 0 {
		errs = append(errs, fmt.Errorf("size %d is negative", img.Size))
	}
	if _, err := name.NewRegistry(img.Registry); err != nil || img.Registry == "" {
		errs = append(errs, fmt.Errorf("registry %q is not a registry host", img.Registry))
	}
	if err := validSource(img.Source); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// validSource accepts the values Bundle writes in Image.Source.
func validSource(s string) error {
	file, isArchive := strings.CutPrefix(s, sourceArchive)
	mirror, isMirror := strings.CutPrefix(s, sourceMirror)
	switch {
	case s == "" || s == SourceBuilt:
		return nil
	case isArchive && file != "" && file != "." && file != ".." && !strings.Contains(file, "/"):
		return nil
	case isMirror:
		if _, _, err := splitTarget(mirror); err == nil && !strings.HasSuffix(mirror, "/") {
			return nil
		}
	}
	return fmt.Errorf("source %q: want none, %q, %q or %q", s, sourceArchive+"FILE", sourceMirror+"REG[/prefix]", SourceBuilt)
}

// sha256Hash parses "sha256:<64 lowercase hex>"; other algorithms are refused, since the layout stores
// blobs under blobs/sha256.
func sha256Hash(s string) (v1.Hash, error) {
	h, err := v1.NewHash(s)
	if err != nil {
		return v1.Hash{}, err
	}
	if h.Algorithm != "sha256" {
		return v1.Hash{}, fmt.Errorf("%q: only sha256 digests are supported", s)
	}
	return h, nil
}

// marshal writes the manifest as indented JSON with a final newline.
func (m Manifest) marshal() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
