package airgap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/agops/agops/internal/cluster"
)

// pinned is one reference resolved to the image manifest of the bundle's platform.
type pinned struct {
	given       string
	ref         name.Reference
	from        name.Reference // where a pulled image is fetched: ref, or its pull-through mirror
	img         v1.Image       // the image in hand (archive, helper binary); nil when pulled
	source      string         // Image.Source
	origin      string         // where it comes from, for messages; "" when pulled from ref
	indexDigest string
	desc        v1.Descriptor // of the image manifest
	raw         []byte        // the image manifest
	manifest    *v1.Manifest
}

// bundler carries one Bundle run.
type bundler struct {
	o        Options
	platform v1.Platform
	puller   *remote.Puller
	store    store
	mirrors  map[string]Mirror // by registry host
	held     map[string]held   // by reference as given
}

// Bundle resolves every reference in refs to a digest for one platform (Options.Platform; from a multi-platform
// index that platform's image, recording both digests; a reference pinned with @sha256: keeps its digest), pulls
// the images into the working folder out+".partial", and writes out: a tar archive of the OCI image layout,
// agops-bundle.json and SHA256SUMS. The archive appears at out complete or not at all. Blobs already in the
// working folder with the right content are not fetched or written again; the working folder is removed after
// success.
//
// Images can come from elsewhere than their registry (Image.Source records it):
//   - Options.Archives: a reference matching a RepoTag of a docker-archive is read from it (a tagged reference
//     by its tag, whatever its spelling; one pinned by digest only when the archive's image has that digest),
//     its digest being the one go-containerregistry's tarball package gives the archived image; a tag in two
//     archives is an error; images of the archives the project does not use are named on Options.Progress and
//     left out;
//   - Options.Helper: the helper image built from an agops binary;
//   - Options.Mirrors: a pulled image whose registry has a mirror is fetched from the mirror instead.
//
// An image in hand is bundled byte for byte (its raw manifest, config and compressed layers), so it has the digest
// a registry serving it would give, and its config must name the bundle's platform.
func Bundle(ctx context.Context, refs []string, out string, o Options) (Manifest, error) {
	b, parsed, err := newBundler(ctx, refs, out, o)
	if err != nil {
		return Manifest{}, err
	}
	m, err := b.run(ctx, parsed, out)
	if err != nil {
		if b.store.empty() {
			_ = os.RemoveAll(b.store.dir)
		}
		return Manifest{}, err
	}
	if err := os.RemoveAll(b.store.dir); err != nil {
		return m, fmt.Errorf("wrote %s, but removing the working folder: %w", out, err)
	}
	return m, nil
}

// newBundler checks every input before anything is fetched, and opens the working folder.
func newBundler(ctx context.Context, refs []string, out string, o Options) (*bundler, map[string]name.Reference, error) {
	platform, err := parsePlatform(o.Platform)
	if err != nil {
		return nil, nil, err
	}
	parsed, err := parseRefs(refs, o.Insecure)
	if err != nil {
		return nil, nil, err
	}
	if err := cluster.CheckMirrorPaths(refs); err != nil {
		return nil, nil, err
	}
	if err := checkOut(out); err != nil {
		return nil, nil, err
	}
	puller, err := remote.NewPuller(remoteOptions(ctx, o.Transport)...)
	if err != nil {
		return nil, nil, err
	}
	mirrors, err := mirrorsByHost(o.Mirrors)
	if err != nil {
		return nil, nil, err
	}
	st, err := openStore(out + ".partial")
	if err != nil {
		return nil, nil, err
	}
	return &bundler{o: o, platform: platform, puller: puller, store: st, mirrors: mirrors}, parsed, nil
}

// parseRefs parses every reference, reporting every malformed one at once.
func parseRefs(refs []string, insecure bool) (map[string]name.Reference, error) {
	if len(refs) == 0 {
		return nil, errors.New("no images to bundle")
	}
	parsed := map[string]name.Reference{}
	var errs []error
	for _, s := range refs {
		r, err := name.ParseReference(s, nameOptions(insecure)...)
		if err != nil {
			errs = append(errs, fmt.Errorf("image %q: %w", s, err))
			continue
		}
		parsed[s] = r
	}
	return parsed, errors.Join(errs...)
}

// run decides where each image comes from, resolves every image, then fetches each, then writes the archive.
func (b *bundler) run(ctx context.Context, parsed map[string]name.Reference, out string) (Manifest, error) {
	var err error
	if b.held, err = b.assign(parsed); err != nil {
		return Manifest{}, err
	}
	images, err := b.resolveAll(ctx, parsed)
	if err != nil {
		return Manifest{}, err
	}
	for _, p := range images {
		if err := b.fetch(ctx, p); err != nil {
			return Manifest{}, err
		}
	}
	created := b.o.Created
	if created.IsZero() {
		created = time.Now()
	}
	m := Manifest{Format: FormatVersion, Created: created.UTC().Truncate(time.Second), Platform: b.platform.String()}
	for _, p := range images {
		m.Images = append(m.Images, p.image())
	}
	return m, writeBundle(b.store, out, m, b.indexOf(images))
}

// resolveAll resolves every reference, reporting every failure at once; the result is sorted by reference.
func (b *bundler) resolveAll(ctx context.Context, parsed map[string]name.Reference) ([]*pinned, error) {
	var out []*pinned
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(parsed)) {
		p, err := b.resolve(ctx, k, parsed[k])
		if err != nil {
			errs = append(errs, fmt.Errorf("image %s: %w", k, err))
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

// resolve reads the manifest of an image in hand, or fetches the one ref names (from its registry or its
// mirror).
func (b *bundler) resolve(ctx context.Context, given string, ref name.Reference) (*pinned, error) {
	if h, ok := b.held[given]; ok {
		return b.resolveHeld(ctx, given, ref, h)
	}
	p := &pinned{given: given, ref: ref, from: ref}
	m, mirrored := b.mirrors[ref.Context().RegistryStr()]
	if mirrored {
		from, err := mirrorRef(ref, m, b.o.Insecure)
		if err != nil {
			return nil, err
		}
		p.from, p.source, p.origin = from, m.source(), "pull-mirror "+from.String()
	}
	if err := b.resolveRemote(ctx, p); err != nil {
		if mirrored {
			return nil, fmt.Errorf("through %s: %w", p.origin, err)
		}
		return nil, err
	}
	return p, nil
}

// resolveRemote fetches the manifest p.from names; from an index, the manifest of the bundle's platform.
func (b *bundler) resolveRemote(ctx context.Context, p *pinned) error {
	d, err := b.puller.Get(ctx, p.from)
	if err != nil {
		return err
	}
	if d.MediaType.IsIndex() {
		p.indexDigest = d.Digest.String()
		child, err := pickPlatform(d.Manifest, b.platform)
		if err != nil {
			return err
		}
		if d, err = b.puller.Get(ctx, p.from.Context().Digest(child.String())); err != nil {
			return err
		}
	}
	return b.setManifest(ctx, p, d.MediaType, d.Manifest, v1.Descriptor{MediaType: d.MediaType, Size: d.Size, Digest: d.Digest})
}

// resolveHeld reads the manifest of an image in hand as it is (RawManifest), so that the bundle holds the bytes
// and the digest a registry serving that image would give.
func (b *bundler) resolveHeld(ctx context.Context, given string, ref name.Reference, h held) (*pinned, error) {
	p := &pinned{given: given, ref: ref, img: h.img, source: h.source, origin: h.origin}
	raw, err := h.img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("%s: reading manifest: %w", h.origin, err)
	}
	mt, err := h.img.MediaType()
	if err != nil {
		return nil, fmt.Errorf("%s: reading media type: %w", h.origin, err)
	}
	digest, size, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if d, ok := ref.(name.Digest); ok && d.DigestStr() != digest.String() {
		return nil, fmt.Errorf("%s has digest %s, but the reference pins %s", h.origin, digest, d.DigestStr())
	}
	if err := b.setManifest(ctx, p, mt, raw, v1.Descriptor{MediaType: mt, Size: size, Digest: digest}); err != nil {
		return nil, fmt.Errorf("%s: %w", h.origin, err)
	}
	return p, nil
}

// setManifest records p's image manifest and brings its config into the store.
func (b *bundler) setManifest(ctx context.Context, p *pinned, mt types.MediaType, raw []byte, desc v1.Descriptor) error {
	if !mt.IsImage() {
		return fmt.Errorf("media type %s is not an image manifest (schema 1 and nested indexes are not supported)", mt)
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("reading manifest: %w", err)
	}
	p.manifest, p.raw, p.desc = m, raw, desc
	return b.config(ctx, p)
}

// pickPlatform chooses the image of platform from an index's manifest.
func pickPlatform(raw []byte, platform v1.Platform) (v1.Hash, error) {
	idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return v1.Hash{}, fmt.Errorf("reading index: %w", err)
	}
	var have []string
	for _, d := range idx.Manifests {
		if d.Platform == nil {
			continue
		}
		if d.Platform.Satisfies(platform) && d.MediaType.IsImage() {
			return d.Digest, nil
		}
		have = append(have, d.Platform.String())
	}
	return v1.Hash{}, fmt.Errorf("no %s image in its index (it has: %s)", platform, strings.Join(have, ", "))
}

// image is p's entry in agops-bundle.json.
func (p *pinned) image() Image {
	size := p.desc.Size + p.manifest.Config.Size
	for _, l := range p.manifest.Layers {
		size += l.Size
	}
	return Image{
		Ref: p.given, Repository: p.ref.Context().Name(), Digest: p.desc.Digest.String(),
		IndexDigest: p.indexDigest, Size: size, Registry: p.ref.Context().RegistryStr(), Source: p.source,
	}
}

// indexOf is the layout's index: one entry per image, keeping the reference in RefAnnotation.
func (b *bundler) indexOf(images []*pinned) v1.IndexManifest {
	idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	for _, p := range images {
		d := p.desc
		platform := b.platform
		d.Platform = &platform
		d.Annotations = map[string]string{RefAnnotation: p.given}
		idx.Manifests = append(idx.Manifests, d)
	}
	return idx
}
