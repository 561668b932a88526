package airgap

import (
	"bytes"
	"context"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// fetch brings p's layers into the store, skipping those already there (its config is there since resolve), then
// stores its manifest.
func (b *bundler) fetch(ctx context.Context, p *pinned) error {
	verb := "pull "
	if p.img != nil {
		verb = "load "
	}
	mt := newMeter(b.o.Progress, verb+p.given, p.image().Size)
	present := int64(0)
	for _, d := range p.manifest.Layers {
		if b.store.has(d.Digest, d.Size) {
			present += d.Size
			mt.add(d.Size)
			continue
		}
		if err := b.download(ctx, p, d, mt.add); err != nil {
			mt.end("failed")
			return fmt.Errorf("image %s: %w", p.given, err)
		}
	}
	mt.add(p.manifest.Config.Size)
	if b.store.has(p.desc.Digest, p.desc.Size) {
		mt.add(p.desc.Size)
	} else if err := b.store.put(p.desc.Digest, p.desc.Size, bytes.NewReader(p.raw), mt.add); err != nil {
		return fmt.Errorf("image %s: %w", p.given, err)
	}
	note := p.desc.Digest.String()
	if p.source != "" {
		note += " (" + p.source + ")"
	}
	if present > 0 {
		note += fmt.Sprintf(" (%s of layers already in the working folder)", human(present))
	}
	mt.end(note)
	return nil
}

// download fetches one blob of p into the store.
func (b *bundler) download(ctx context.Context, p *pinned, d v1.Descriptor, count func(int64)) error {
	rc, err := b.open(ctx, p, d)
	if err != nil {
		return fmt.Errorf("fetching blob %s: %w", d.Digest, err)
	}
	defer rc.Close()
	if err := b.store.put(d.Digest, d.Size, rc, count); err != nil {
		return fmt.Errorf("fetching blob %s: %w", d.Digest, err)
	}
	return nil
}

// config brings p's config into the store, unless an earlier run did. An image whose config names another
// platform than the bundle's (a single-platform image built for another architecture) is refused before anything
// of it is stored.
func (b *bundler) config(ctx context.Context, p *pinned) error {
	d := p.manifest.Config
	if d.Size > maxMetadata || d.Size < 0 {
		return fmt.Errorf("config %s: %d bytes, want at most %d", d.Digest, d.Size, maxMetadata)
	}
	if b.store.has(d.Digest, d.Size) {
		return nil
	}
	data, err := b.get(ctx, p, d)
	if err != nil {
		return err
	}
	if d.MediaType.IsConfig() { // else an artifact, not a runnable image
		if err := checkPlatform(data, b.platform); err != nil {
			return err
		}
	}
	return b.store.put(d.Digest, d.Size, bytes.NewReader(data), nil)
}

// open streams one blob of p as it is stored (compressed layers as they are): from the image in hand, or from
// the repository p is fetched from.
func (b *bundler) open(ctx context.Context, p *pinned, d v1.Descriptor) (io.ReadCloser, error) {
	if p.img != nil {
		if d.Digest == p.manifest.Config.Digest {
			data, err := p.img.RawConfigFile()
			return io.NopCloser(bytes.NewReader(data)), err
		}
		layer, err := p.img.LayerByDigest(d.Digest)
		if err != nil {
			return nil, err
		}
		return layer.Compressed()
	}
	layer, err := b.puller.Layer(ctx, p.from.Context().Digest(d.Digest.String()))
	if err != nil {
		return nil, err
	}
	return layer.Compressed()
}

// get fetches a small blob into memory and checks its size and digest.
func (b *bundler) get(ctx context.Context, p *pinned, d v1.Descriptor) ([]byte, error) {
	rc, err := b.open(ctx, p, d)
	if err != nil {
		return nil, fmt.Errorf("fetching blob %s: %w", d.Digest, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, d.Size+1))
	if err != nil {
		return nil, fmt.Errorf("fetching blob %s: %w", d.Digest, err)
	}
	if h, _, _ := v1.SHA256(bytes.NewReader(data)); h != d.Digest || int64(len(data)) != d.Size {
		return nil, fmt.Errorf("blob %s: received %d bytes with digest %s, want %d bytes", d.Digest, len(data), h, d.Size)
	}
	return data, nil
}

// checkPlatform compares a config's os/architecture/variant, where it names them, with platform.
func checkPlatform(config []byte, platform v1.Platform) error {
	cfg, err := v1.ParseConfigFile(bytes.NewReader(config))
	if err != nil {
		return fmt.Errorf("reading image config: %w", err)
	}
	have := v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
	if (have.OS != "" && have.OS != platform.OS) || (have.Architecture != "" && have.Architecture != platform.Architecture) ||
		(have.Variant != "" && platform.Variant != "" && have.Variant != platform.Variant) {
		return fmt.Errorf("the image is for %s, not %s", have, platform)
	}
	return nil
}
