// Package pin pins every image of a migrated project to a digest (`agops migrate --pin-digests`): each container
// image becomes `name:tag@sha256:…`, so that what runs is exactly what was checked, bundled and mirrored, whatever
// happens to the tag later. It resolves digests through a Resolver — the registry, or an air-gap bundle's manifest
// when there is no network — and records one Decision per image.
package pin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/agops/agops/internal/model"
)

// Resolver returns the digest ("sha256:…") an image reference stands for.
type Resolver interface {
	Digest(ctx context.Context, ref string) (string, error)
}

// Registry resolves references by asking their registries (a HEAD of the manifest). For an image with several
// platforms the digest is the index's, so the pinned reference still serves every platform.
type Registry struct {
	Insecure bool // plain HTTP registries (tests, local mirrors)
	Options  []remote.Option
}

// Digest implements Resolver.
func (r Registry) Digest(ctx context.Context, ref string) (string, error) {
	var opts []name.Option
	if r.Insecure {
		opts = append(opts, name.Insecure)
	}
	parsed, err := name.ParseReference(ref, opts...)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", ref, err)
	}
	desc, err := remote.Head(parsed, append([]remote.Option{remote.WithContext(ctx)}, r.Options...)...)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", ref, err)
	}
	return desc.Digest.String(), nil
}

// Pin rewrites every container and init container image of m to its reference plus the digest r gives, and records
// a Decision per service. A reference that already carries a digest is kept (and checked against r when it can
// answer). Every image that cannot be resolved is reported together; on error m is left unchanged.
func Pin(ctx context.Context, m *model.Project, r Resolver) error {
	digests, err := resolveAll(ctx, m.Images(), r)
	if err != nil {
		return err
	}
	for i := range m.Workloads {
		w := &m.Workloads[i]
		var pinned []string
		for _, cs := range [][]model.Container{w.Pod.InitContainers, w.Pod.Containers} {
			for j := range cs {
				ref := cs[j].Image
				cs[j].Image = withDigest(ref, digests[ref])
				pinned = append(pinned, cs[j].Image)
				if cs[j].ReadsImage {
					// The entrypoint the container reads is the pinned image's.
					for _, argv := range [][]string{cs[j].Command, cs[j].Args} {
						for k := 1; k < len(argv); k++ {
							if argv[k-1] == "--image" && argv[k] == ref {
								argv[k] = cs[j].Image
							}
						}
					}
				}
				if a := cs[j].Artifact; a != "" {
					cs[j].Artifact = withDigest(a, digests[a])
					for k, arg := range cs[j].Args {
						if arg == a {
							cs[j].Args[k] = cs[j].Artifact
						}
					}
					pinned = append(pinned, cs[j].Artifact)
				}
			}
		}
		m.Decisions = append(m.Decisions, model.Decision{Service: w.Service, Key: "image", Outcome: model.Mapped,
			Reason: "pinned by digest (--pin-digests): " + strings.Join(dedupe(pinned), ", ")})
	}
	m.HelperImage = withDigest(m.HelperImage, digests[m.HelperImage])
	model.SortDecisions(m.Decisions)
	return nil
}

// resolveAll asks r for every reference, and reports every failure at once.
func resolveAll(ctx context.Context, refs []string, r Resolver) (map[string]string, error) {
	digests := map[string]string{}
	var errs []error
	for _, ref := range refs {
		// name:tag@digest: the tag must still resolve to the digest; name@digest must exist.
		ask := ref
		if base, _, ok := strings.Cut(ref, "@"); ok && hasTag(base) {
			ask = base
		}
		d, err := r.Digest(ctx, ask)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if have := digestOf(ref); have != "" && have != d {
			errs = append(errs, fmt.Errorf("image %s is pinned to %s, but it resolves to %s", ref, have, d))
			continue
		}
		digests[ref] = d
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("--pin-digests: %w", errors.Join(errs...))
	}
	return digests, nil
}

// withDigest is ref with digest d (ref's own digest, if any, is replaced; its tag is kept for people to read).
func withDigest(ref, d string) string {
	if d == "" {
		return ref
	}
	base, _, _ := strings.Cut(ref, "@")
	return base + "@" + d
}

func digestOf(ref string) string {
	_, d, _ := strings.Cut(ref, "@")
	return d
}

func dedupe(in []string) []string {
	sort.Strings(in)
	out := in[:0]
	for i, s := range in {
		if i == 0 || s != in[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// hasTag tells whether an image name (without digest) carries a tag: a colon after the last slash.
func hasTag(base string) bool {
	return strings.Contains(base[strings.LastIndex(base, "/")+1:], ":")
}
