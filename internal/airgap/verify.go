package airgap

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// verifier collects every problem of one bundle.
type verifier struct {
	a        *archive
	sums     map[string]string // name → hex sha256 of the content
	expected map[string]bool   // files the layout and manifest account for
	problems []error
}

// Verify checks a bundle offline: every SHA256SUMS entry matches, every blob's sha256 matches its name, every
// manifest, config and layer index.json refers to is present with the right size, agops-bundle.json agrees with
// index.json, and no file is missing or extra. Each problem is one line naming the file or image. The manifest
// is returned whenever it could be read.
func Verify(path string) (Manifest, error) {
	a, err := openArchive(path)
	if err != nil {
		return Manifest{}, err
	}
	defer a.Close()
	v := &verifier{a: a, sums: map[string]string{}, expected: map[string]bool{}}
	if err := v.hashAll(); err != nil {
		return Manifest{}, fmt.Errorf("reading bundle %s: %w", path, err)
	}
	v.checkSums()
	v.checkLayout()
	idx := v.walkIndex()
	m := v.checkManifest(idx)
	v.checkExtras()
	if len(v.problems) > 0 {
		return m, fmt.Errorf("bundle %s is not intact (%d problems):\n%w", path, len(v.problems), errors.Join(v.problems...))
	}
	return m, nil
}

func (v *verifier) problem(format string, args ...any) {
	v.problems = append(v.problems, fmt.Errorf(format, args...))
}

// hashAll reads every file once; a blob whose content does not match its name is a problem.
func (v *verifier) hashAll() error {
	for _, name := range v.a.names {
		r, _ := v.a.open(name)
		h := sha256.New()
		if _, err := io.Copy(h, r); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		v.sums[name] = hex.EncodeToString(h.Sum(nil))
		if hexName, ok := strings.CutPrefix(name, blobDir); ok && hexName != v.sums[name] {
			v.problem("%s: content has sha256 %s, not the one its name says (corrupt or tampered)", name, v.sums[name])
		}
	}
	return nil
}

// checkSums compares SHA256SUMS with the files.
func (v *verifier) checkSums() {
	listed, err := v.readSums()
	if err != nil {
		v.problem("%s", err)
		return
	}
	names := make([]string, 0, len(listed))
	for name := range listed {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		sum := listed[name]
		have, ok := v.sums[name]
		switch {
		case !ok:
			v.problem("%s: listed in %s but missing from the bundle", name, SumsFile)
		case have != sum:
			v.problem("%s: sha256 %s does not match %s (%s)", name, have, SumsFile, sum)
		}
	}
	for _, name := range v.a.names {
		if _, ok := listed[name]; !ok && name != SumsFile {
			v.problem("%s: not listed in %s", name, SumsFile)
		}
	}
}

// readSums parses SHA256SUMS ("<hex>  <name>" lines, as sha256sum writes them).
func (v *verifier) readSums() (map[string]string, error) {
	data, err := v.a.read(SumsFile)
	if err != nil {
		return nil, err
	}
	listed := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if _, herr := hex.DecodeString(sum); !ok || len(sum) != 64 || herr != nil || name == "" {
			return nil, fmt.Errorf("%s line %d: want \"<sha256>  <file>\"", SumsFile, n)
		}
		if _, dup := listed[name]; dup {
			return nil, fmt.Errorf("%s line %d: %s listed twice", SumsFile, n, name)
		}
		listed[name] = sum
	}
	return listed, sc.Err()
}

// checkLayout checks the oci-layout marker.
func (v *verifier) checkLayout() {
	v.expected[LayoutFile], v.expected[SumsFile] = true, true
	data, err := v.a.read(LayoutFile)
	if err != nil {
		v.problem("%s", err)
		return
	}
	var l struct {
		Version string `json:"imageLayoutVersion"`
	}
	if err := json.Unmarshal(data, &l); err != nil || l.Version == "" {
		v.problem("%s: not an OCI layout marker", LayoutFile)
	}
}

// walkIndex reads index.json and checks every image it lists, blob by blob.
func (v *verifier) walkIndex() *v1.IndexManifest {
	v.expected[IndexFile] = true
	data, err := v.a.read(IndexFile)
	if err != nil {
		v.problem("%s", err)
		return nil
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(data))
	if err != nil {
		v.problem("%s: %v", IndexFile, err)
		return nil
	}
	for _, d := range idx.Manifests {
		v.walkImage(d)
	}
	return idx
}

// walkImage checks one index entry: its manifest, config and layers.
func (v *verifier) walkImage(d v1.Descriptor) {
	ref := d.Annotations[RefAnnotation]
	if !d.MediaType.IsImage() {
		v.problem("%s: image %s: media type %s is not an image manifest", IndexFile, ref, d.MediaType)
		return
	}
	if !v.blob(ref, "manifest", d) {
		return
	}
	data, _ := v.a.read(blobName(d.Digest))
	m, err := v1.ParseManifest(bytes.NewReader(data))
	if err != nil {
		v.problem("image %s: manifest %s: %v", ref, d.Digest, err)
		return
	}
	v.blob(ref, "config", m.Config)
	for _, l := range m.Layers {
		v.blob(ref, "layer", l)
	}
}

// blob checks that a referenced blob is present with the right size, and marks it expected.
func (v *verifier) blob(ref, what string, d v1.Descriptor) bool {
	name := blobName(d.Digest)
	v.expected[name] = true
	e, ok := v.a.entries[name]
	switch {
	case d.Digest.Algorithm != "sha256":
		v.problem("image %s: %s %s: only sha256 digests are supported", ref, what, d.Digest)
	case !ok:
		v.problem("image %s: %s %s is missing (%s)", ref, what, d.Digest, name)
	case e.size != d.Size:
		v.problem("image %s: %s %s has %d bytes, the manifest says %d", ref, what, name, e.size, d.Size)
	default:
		return true
	}
	return false
}

// checkExtras reports files nothing accounts for.
func (v *verifier) checkExtras() {
	for _, name := range v.a.names {
		if !v.expected[name] {
			v.problem("%s: extra file, not part of any bundled image", name)
		}
	}
}
