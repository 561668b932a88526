package airgap

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// maxMetadata bounds what is read into memory from a bundle: index.json, agops-bundle.json, SHA256SUMS,
// manifests and configs.
const maxMetadata = 64 << 20

// archive is an opened bundle: where each file's content starts in the tar, so that files are read in place
// (io.SectionReader) without extracting anything.
type archive struct {
	f       *os.File
	entries map[string]entry
	names   []string // in archive order
}

// entry locates a file's content in the tar.
type entry struct {
	off, size int64
}

// openArchive indexes the tar at path. Anything but regular files and folders, unsafe or repeated names, are
// errors.
func openArchive(path string) (*archive, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening bundle: %w", err)
	}
	a := &archive{f: f, entries: map[string]entry{}}
	if err := a.index(); err != nil {
		f.Close()
		return nil, fmt.Errorf("reading bundle %s: %w", path, err)
	}
	return a, nil
}

// index walks the tar headers. tar.Reader reads the underlying file without buffering, so the file's offset right
// after Next is where the entry's content starts.
func (a *archive) index() error {
	tr := tar.NewReader(a.f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if err := a.add(hdr); err != nil {
			return err
		}
	}
	if len(a.names) == 0 {
		return errors.New("not a bundle: the archive holds no files")
	}
	return nil
}

// add records one header.
func (a *archive) add(hdr *tar.Header) error {
	name := strings.TrimPrefix(hdr.Name, "./")
	switch hdr.Typeflag {
	case tar.TypeDir:
		return nil
	case tar.TypeReg:
	default:
		return fmt.Errorf("%s: not a regular file (tar type %q)", hdr.Name, hdr.Typeflag)
	}
	if name == "" || path.Clean(name) != name || strings.HasPrefix(name, "/") || strings.HasPrefix(name, "../") {
		return fmt.Errorf("%q: unsafe file name", hdr.Name)
	}
	if _, dup := a.entries[name]; dup {
		return fmt.Errorf("%s: in the archive twice", name)
	}
	off, err := a.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	a.entries[name] = entry{off: off, size: hdr.Size}
	a.names = append(a.names, name)
	return nil
}

// open reads one file in place.
func (a *archive) open(name string) (*io.SectionReader, bool) {
	e, ok := a.entries[name]
	if !ok {
		return nil, false
	}
	return io.NewSectionReader(a.f, e.off, e.size), true
}

// read returns a small file's content.
func (a *archive) read(name string) ([]byte, error) {
	r, ok := a.open(name)
	if !ok {
		return nil, fmt.Errorf("%s is missing", name)
	}
	if r.Size() > maxMetadata {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d a metadata file may have", name, r.Size(), maxMetadata)
	}
	return io.ReadAll(r)
}

// Close closes the file.
func (a *archive) Close() error { return a.f.Close() }
