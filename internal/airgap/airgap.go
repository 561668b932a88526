// Package airgap owns air-gap bundles: the list of images an agops output needs, a single tar archive holding
// those images pinned by digest for one platform (an OCI image layout, agops-bundle.json and SHA256SUMS), its
// offline verification, and pushing its images into a registry inside a site with no internet.
//
// Bundle pulls with go-containerregistry (or through a pull-through cache, or reads images built locally from
// docker-archives and the helper image from an agops binary) into a working folder next to the archive, so an
// interrupted run resumes where it stopped; Verify reads nothing but the archive; Push verifies, then writes every image under the target
// registry keeping repository paths (see TargetRef).
package airgap

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Names of the files in a bundle besides its blobs.
const (
	// LayoutFile marks the OCI image layout.
	LayoutFile = "oci-layout"
	// IndexFile is the layout's index: one entry per bundled image.
	IndexFile = "index.json"
	// ManifestFile is agops's account of the bundle (see Manifest).
	ManifestFile = "agops-bundle.json"
	// SumsFile holds the sha256 of every other file, in sha256sum's format.
	SumsFile = "SHA256SUMS"
	// blobDir is where the layout keeps blobs, by sha256.
	blobDir = "blobs/sha256/"
	// RefAnnotation on each index.json entry keeps the image reference as given.
	RefAnnotation = "org.opencontainers.image.ref.name"
	// DefaultPlatform is the platform bundled when Options.Platform is empty.
	DefaultPlatform = "linux/amd64"
	// layoutJSON is the content of LayoutFile.
	layoutJSON = `{"imageLayoutVersion":"1.0.0"}`
)

// Options tune Bundle.
type Options struct {
	// Platform is os/arch[/variant] of the images to bundle (default linux/amd64). From a multi-platform index only
	// this platform's image is bundled.
	Platform string
	// Insecure talks plain HTTP to registries.
	Insecure bool
	// Progress receives one progress line per image; nil is quiet.
	Progress io.Writer
	// Transport replaces the default HTTP transport (proxies, tests).
	Transport http.RoundTripper
	// Created is the bundle's creation time; zero means now.
	Created time.Time
	// Archives are `docker save` / `podman save` archives (docker-archive format). An image to bundle whose
	// reference matches a RepoTag of one of them is read from it instead of pulled; see Bundle for the rules.
	Archives []string
	// Helper, when not nil, is agops's helper image made on this machine instead of pulled.
	Helper *Helper
	// Mirrors send the pulls of whole registries to pull-through caches (ParseMirror); the bundle still records
	// each image's original reference, repository and registry.
	Mirrors []Mirror
}

// PushOptions tune Push.
type PushOptions struct {
	// Insecure talks plain HTTP to the target registry.
	Insecure bool
	// Progress receives one progress line per image; nil is quiet.
	Progress io.Writer
	// Transport replaces the default HTTP transport (proxies, tests).
	Transport http.RoundTripper
}

// remoteOptions are the go-containerregistry options shared by pulls and pushes: the default keychain (docker
// config and credential helpers), the context and the transport.
func remoteOptions(ctx context.Context, t http.RoundTripper) []remote.Option {
	opts := []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithContext(ctx)}
	if t != nil {
		opts = append(opts, remote.WithTransport(t))
	}
	return opts
}

// nameOptions are the options for parsing references.
func nameOptions(insecure bool) []name.Option {
	if insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

// parsePlatform reads os/arch[/variant]; an empty string is DefaultPlatform.
func parsePlatform(s string) (v1.Platform, error) {
	if s == "" {
		s = DefaultPlatform
	}
	p, err := v1.ParsePlatform(s)
	if err != nil || p.OS == "" || p.Architecture == "" {
		return v1.Platform{}, fmt.Errorf("platform %q: want os/arch[/variant], like linux/amd64", s)
	}
	return *p, nil
}
