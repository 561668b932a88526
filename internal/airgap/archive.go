package airgap

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// archiveFile is one file to put in a bundle: bytes in memory, or a file of the working folder.
type archiveFile struct {
	name string
	data []byte
	path string
}

// writeBundle writes index.json and agops-bundle.json into the store, then the archive at out: the layout files,
// the manifest, every blob idx refers to (sorted), and SHA256SUMS last.
func writeBundle(st store, out string, m Manifest, idx v1.IndexManifest) error {
	indexJSON, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	manifestJSON, err := m.marshal()
	if err != nil {
		return err
	}
	files := []archiveFile{{name: LayoutFile, data: []byte(layoutJSON)}, {name: IndexFile, data: indexJSON}, {name: ManifestFile, data: manifestJSON}}
	for _, f := range files {
		if err := os.WriteFile(st.path(f.name), f.data, 0o644); err != nil {
			return fmt.Errorf("writing working folder: %w", err)
		}
	}
	for _, name := range referencedBlobs(st, idx) {
		files = append(files, archiveFile{name: name, path: st.path(name)})
	}
	return writeArchive(out, files, m.Created)
}

// referencedBlobs are the blob names idx's images use, sorted and without duplicates. The images' manifests are
// read from the store, where fetch put them.
func referencedBlobs(st store, idx v1.IndexManifest) []string {
	var names []string
	for _, d := range idx.Manifests {
		names = append(names, blobName(d.Digest))
		f, err := os.Open(st.path(blobName(d.Digest)))
		if err != nil {
			continue // writeArchive reports the missing file
		}
		m, err := v1.ParseManifest(f)
		f.Close()
		if err != nil {
			continue
		}
		names = append(names, blobName(m.Config.Digest))
		for _, l := range m.Layers {
			names = append(names, blobName(l.Digest))
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// writeArchive writes files and their SHA256SUMS as a tar to a temporary file next to out and renames it to out,
// so that out is either complete or untouched. A blob whose content no longer matches its name is an error.
func writeArchive(out string, files []archiveFile, mtime time.Time) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	tw := tar.NewWriter(tmp)
	var sums strings.Builder
	for _, f := range files {
		sum, err := addFile(tw, f, mtime)
		if err != nil {
			return fmt.Errorf("writing %s: %s: %w", out, f.name, err)
		}
		fmt.Fprintf(&sums, "%s  %s\n", sum, f.name)
	}
	if _, err := addFile(tw, archiveFile{name: SumsFile, data: []byte(sums.String())}, mtime); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := closeAll(tw, tmp); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	return os.Rename(tmp.Name(), out)
}

// closeAll finishes the tar and makes the file durable.
func closeAll(tw *tar.Writer, f *os.File) error {
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// addFile writes one tar entry and returns the hex sha256 of its content.
func addFile(tw *tar.Writer, f archiveFile, mtime time.Time) (string, error) {
	r, size, err := f.open()
	if err != nil {
		return "", err
	}
	defer r.Close()
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: size, ModTime: mtime, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(tw, io.TeeReader(r, h)); err != nil {
		return "", err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if strings.HasPrefix(f.name, blobDir) && path.Base(f.name) != sum {
		return "", fmt.Errorf("content has sha256 %s: the working folder was changed while bundling", sum)
	}
	return sum, nil
}

// open returns the file's content and size.
func (f archiveFile) open() (io.ReadCloser, int64, error) {
	if f.path == "" {
		return io.NopCloser(strings.NewReader(string(f.data))), int64(len(f.data)), nil
	}
	file, err := os.Open(f.path)
	if err != nil {
		return nil, 0, err
	}
	st, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, 0, err
	}
	return file, st.Size(), nil
}
