package airgap

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// saved indexes the images of docker-archives (`docker save`, `podman save`) by their RepoTags, and those of OCI
// archives (`podman save --format oci-archive`, `skopeo copy … oci-archive:`) by their index.json names.
type saved struct {
	byTag  map[string]savedTag // full tag name (index.docker.io/library/postgres:17.2) → its image
	images []*savedImage       // in archive order
}

// savedImage is one image of an archive (one entry of its manifest.json, or of an OCI archive's index.json).
type savedImage struct {
	file string
	tags []string  // RepoTags as written
	oci  *ociImage // set for an OCI archive's image
	used bool
}

// savedTag is one RepoTag, parsed.
type savedTag struct {
	tag   name.Tag
	image *savedImage
}

// readArchives reads every archive's manifest.json. A tag offered twice, by two archives or twice by one, is an
// error: which image to bundle would be a guess.
func readArchives(files []string, insecure bool) (*saved, error) {
	s := &saved{byTag: map[string]savedTag{}}
	var errs []error
	seen := map[string]bool{}
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err == nil && seen[abs] {
			continue // the same archive given twice
		}
		seen[abs] = true
		errs = append(errs, s.read(f, insecure)...)
	}
	return s, errors.Join(errs...)
}

// read adds one archive's images: an OCI archive's (index.json and oci-layout, no manifest.json), else a
// docker-archive's.
func (s *saved) read(file string, insecure bool) []error {
	if files, err := indexTar(file); err == nil && files.isOCIArchive() {
		return s.readOCI(&ociArchive{file: file, files: files}, insecure)
	}
	m, err := tarball.LoadManifest(opener(file))
	if err != nil {
		return []error{fmt.Errorf("image archive %s: not a docker-archive (docker save, podman save) nor an OCI archive: %w", file, err)}
	}
	var errs []error
	for _, d := range m {
		img := &savedImage{file: file}
		s.images = append(s.images, img)
		for _, t := range d.RepoTags {
			errs = append(errs, s.add(img, t, insecure)...)
		}
	}
	return errs
}

// readOCI adds the images of an OCI archive, each named by the full reference its index.json entry's annotations
// give. An entry named by a tag alone is an error: its repository is unknown.
func (s *saved) readOCI(a *ociArchive, insecure bool) []error {
	idx, err := a.index()
	if err != nil {
		return []error{fmt.Errorf("image archive %s: %w", a.file, err)}
	}
	var errs []error
	for i, d := range idx.Manifests {
		ref, bare := ociName(d)
		if ref == "" && bare != "" {
			errs = append(errs, fmt.Errorf("image archive %s: index.json entry %d (%s) is named only by the tag %q (%s), not a full reference: its repository is unknown; save it under its full name (skopeo copy … oci-archive:%s:REGISTRY/REPOSITORY:TAG)",
				a.file, i, d.Digest, bare, ociRefName, filepath.Base(a.file)))
			continue
		}
		img := &savedImage{file: a.file, oci: &ociImage{archive: a, desc: d}}
		s.images = append(s.images, img)
		if ref != "" {
			errs = append(errs, s.add(img, ref, insecure)...)
		}
	}
	return errs
}

// add offers img under the tag t (as written).
func (s *saved) add(img *savedImage, t string, insecure bool) []error {
	tag, err := name.NewTag(t, nameOptions(insecure)...)
	if err != nil {
		return []error{fmt.Errorf("image archive %s: tag %q: %w", img.file, t, err)}
	}
	if prev, dup := s.byTag[tag.Name()]; dup {
		return []error{fmt.Errorf("image %s is offered twice: by image archive %s and by %s", t, prev.image.file, img.file)}
	}
	s.byTag[tag.Name()] = savedTag{tag: tag, image: img}
	img.tags = append(img.tags, t)
	return nil
}

// opener opens an archive for tarball, which reads it once per file it needs.
func opener(file string) tarball.Opener {
	return func() (io.ReadCloser, error) { return os.Open(file) }
}

// match finds the archive image for ref (given as written). A tagged reference matches the RepoTag naming the same
// tag (postgres:17.2 is docker.io/library/postgres:17.2); repo:tag@digest matches repo:tag, whose image must have
// that digest; repo@digest matches the image of repo with that digest when the archives hold repo, and is an error
// when none of their images of repo has it. ok is false when no archive offers ref, which is then pulled.
func (s *saved) match(given string, ref name.Reference) (h held, ok bool, err error) {
	pinned, byDigest := ref.(name.Digest)
	if !byDigest {
		st, ok := s.byTag[ref.Name()]
		if !ok {
			return held{}, false, nil
		}
		h, err := st.load()
		return h, err == nil, err
	}
	if tag := tagOf(given); tag != "" {
		st, ok := s.byTag[ref.Context().Tag(tag).Name()]
		if !ok {
			return held{}, false, nil
		}
		h, err := st.load()
		return h, err == nil, err // resolveHeld compares the digests
	}
	return s.matchDigest(pinned)
}

// matchDigest finds the image of ref's repository whose digest ref pins.
func (s *saved) matchDigest(ref name.Digest) (held, bool, error) {
	var have []string
	for _, k := range slices.Sorted(maps.Keys(s.byTag)) {
		st := s.byTag[k]
		if st.tag.Context().Name() != ref.Context().Name() {
			continue
		}
		h, err := st.load()
		if err != nil {
			return held{}, false, err
		}
		d, err := h.img.Digest()
		if err != nil {
			return held{}, false, fmt.Errorf("%s: %w", h.origin, err)
		}
		if d.String() == ref.DigestStr() {
			return h, true, nil
		}
		have = append(have, fmt.Sprintf("tag %s in %s has %s", st.tag.TagStr(), st.image.file, d))
	}
	if len(have) == 0 {
		return held{}, false, nil
	}
	return held{}, false, fmt.Errorf("the reference pins %s, but the image archives' images of %s have other digests: %s",
		ref.DigestStr(), ref.Context().Name(), strings.Join(have, "; "))
}

// load opens the image behind one tag and marks it used.
func (st savedTag) load() (held, error) {
	origin := "image archive " + st.image.file
	var img v1.Image
	var err error
	if st.image.oci != nil {
		img, err = st.image.oci.image()
	} else {
		img, err = tarball.Image(opener(st.image.file), &st.tag)
	}
	if err != nil {
		return held{}, fmt.Errorf("%s: %w", origin, err)
	}
	st.image.used = true
	return held{img: img, source: sourceArchive + filepath.Base(st.image.file), origin: origin}, nil
}

// notice names, on w, every archive image the project does not use; they are left out of the bundle.
func (s *saved) notice(w io.Writer) {
	if w == nil {
		return
	}
	for _, img := range s.images {
		if img.used {
			continue
		}
		what := "an untagged image"
		if len(img.tags) > 0 {
			what = strings.Join(slices.Sorted(slices.Values(img.tags)), ", ")
		}
		fmt.Fprintf(w, "image archive %s: %s not used by this project, left out\n", img.file, what)
	}
}
