package airgap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/agops/agops/internal/cluster"
)

// Push verifies the bundle at path, then pushes every image in it to target ("REG" or "REG/prefix"), keeping
// repository paths (see TargetRef): each image is tagged with its original tag and addressable by the same
// digest. Blobs the target already has are not sent again, so a push that was interrupted resumes by running it
// again. It returns each original reference → the pushed reference with its digest; on errors, the images that
// were pushed are still in the map.
func Push(ctx context.Context, path, target string, o PushOptions) (map[string]string, error) {
	if _, _, err := splitTarget(target); err != nil {
		return nil, err
	}
	m, err := Verify(path)
	if err != nil {
		return nil, err
	}
	refs := make([]string, len(m.Images))
	for i, img := range m.Images {
		refs[i] = img.Ref
	}
	if err := cluster.CheckMirrorPaths(refs); err != nil {
		return nil, err
	}
	a, err := openArchive(path)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	idx, err := readIndex(a)
	if err != nil {
		return nil, err
	}
	pushed := map[string]string{}
	var errs []error
	for _, img := range m.Images {
		dst, err := pushImage(ctx, a, idx[img.Ref], img.Ref, target, o)
		if err != nil {
			errs = append(errs, fmt.Errorf("pushing %s: %w", img.Ref, err))
			continue
		}
		pushed[img.Ref] = dst
	}
	return pushed, errors.Join(errs...)
}

// readIndex maps each reference in index.json to its entry.
func readIndex(a *archive) (map[string]v1.Descriptor, error) {
	data, err := a.read(IndexFile)
	if err != nil {
		return nil, err
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", IndexFile, err)
	}
	out := map[string]v1.Descriptor{}
	for _, d := range idx.Manifests {
		out[d.Annotations[RefAnnotation]] = d
	}
	return out, nil
}

// pushImage writes one image of the bundle to its place under target and returns "REF@digest".
func pushImage(ctx context.Context, a *archive, d v1.Descriptor, ref, target string, o PushOptions) (string, error) {
	dstName, err := TargetRef(ref, target)
	if err != nil {
		return "", err
	}
	dst, err := name.ParseReference(dstName, nameOptions(o.Insecure)...)
	if err != nil {
		return "", err
	}
	if _, byDigest := dst.(name.Digest); byDigest {
		// A reference pinned to an index digest: the bundle holds one platform's image, pushed by its own digest.
		dst = dst.Context().Digest(d.Digest.String())
	}
	img, err := archiveImage(a, d)
	if err != nil {
		return "", err
	}
	mt := newMeter(o.Progress, "push "+ref, 0)
	updates, watched := watch(mt)
	err = remote.Write(dst, img, append(remoteOptions(ctx, o.Transport), remote.WithProgress(updates))...)
	<-watched // remote.Write closes updates whatever happens once its options are valid, and ours are
	if err != nil {
		mt.end("failed")
		return "", err
	}
	pushedAs := dst.Context().Name() + "@" + d.Digest.String()
	if t, ok := dst.(name.Tag); ok {
		pushedAs = t.Name() + "@" + d.Digest.String()
	}
	mt.end(pushedAs)
	return pushedAs, nil
}

// watch returns a channel for remote.WithProgress whose updates move mt, and a channel closed once the first is
// closed and drained.
func watch(mt *meter) (chan v1.Update, <-chan struct{}) {
	ch, done := make(chan v1.Update, 64), make(chan struct{})
	go func() {
		defer close(done)
		for u := range ch {
			if u.Error == nil {
				mt.set(u.Complete, u.Total)
			}
		}
	}()
	return ch, done
}

// TargetRef maps an image reference into target ("REG" or "REG/prefix"), keeping the repository path and the tag
// (or, for a reference with a digest only, the digest; Push then uses the bundled image's digest, which differs
// when the reference pinned a multi-platform index):
//
//	docker.io/library/postgres:16, postgres:16 → REG/prefix/library/postgres:16
//	ghcr.io/example/app:1.4                    → REG/prefix/example/app:1.4
//	quay.io/org/tool@sha256:…                  → REG/prefix/org/tool@sha256:…
//	registry.local:5000/team/app:2 (any host)  → REG/prefix/team/app:2
//
// The source registry's host is dropped: two registries with the same repository path land on the same target
// repository.
func TargetRef(ref, target string) (string, error) {
	reg, prefix, err := splitTarget(target)
	if err != nil {
		return "", err
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", ref, err)
	}
	repo := r.Context().RepositoryStr()
	if prefix != "" {
		repo = prefix + "/" + repo
	}
	out := reg + "/" + repo
	if tag := tagOf(ref); tag != "" {
		out += ":" + tag
	} else {
		out += "@" + r.Identifier()
	}
	if _, err := name.ParseReference(out); err != nil {
		return "", fmt.Errorf("target %q for %s: %w", out, ref, err)
	}
	return out, nil
}

// tagOf is ref's tag: explicit, "latest" when ref has neither tag nor digest, "" for a digest-only reference.
func tagOf(ref string) string {
	base, _, pinned := strings.Cut(ref, "@")
	slash := strings.LastIndex(base, "/")
	if colon := strings.LastIndex(base, ":"); colon > slash {
		return base[colon+1:]
	}
	if pinned {
		return ""
	}
	return name.DefaultTag
}

// splitTarget splits "REG[/prefix]" and checks that REG looks like a registry host (it has a dot or a port, or is
// localhost), so that a bare prefix is not taken for Docker Hub.
func splitTarget(target string) (reg, prefix string, err error) {
	if strings.Contains(target, "://") {
		return "", "", fmt.Errorf("registry %q: give host[:port][/prefix], without a scheme", target)
	}
	target = strings.TrimSuffix(target, "/")
	reg, prefix, _ = strings.Cut(target, "/")
	if !isHost(reg) {
		return "", "", fmt.Errorf("registry %q: want host[:port][/prefix], like registry.local:5000/mirror", target)
	}
	if _, err := name.NewRegistry(reg); err != nil {
		return "", "", fmt.Errorf("registry %q: %w", target, err)
	}
	if prefix != "" {
		if _, err := name.NewRepository(target); err != nil {
			return "", "", fmt.Errorf("registry %q: prefix %q: %w", target, prefix, err)
		}
	}
	return reg, prefix, nil
}

// isHost reports whether s looks like a registry host rather than a path segment: it has a dot or a port, or is
// localhost (the rule docker uses to tell `registry.local/app` from `library/app`).
func isHost(s string) bool {
	return s != "" && (strings.ContainsAny(s, ".:") || s == "localhost")
}
