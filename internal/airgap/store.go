package airgap

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// store is Bundle's working folder: an OCI image layout (oci-layout, blobs/sha256/...) that fills up blob by blob,
// so that an interrupted run resumes where it stopped. A blob reaches its final name only once its content has
// been checked against its digest; downloads in progress live in tmp/.
type store struct {
	dir string
}

// openStore creates (or reopens) the working folder.
func openStore(dir string) (store, error) {
	s := store{dir: dir}
	for _, d := range []string{s.path(blobDir), s.path("tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return store{}, fmt.Errorf("creating working folder: %w", err)
		}
	}
	if err := os.WriteFile(s.path(LayoutFile), []byte(layoutJSON), 0o644); err != nil {
		return store{}, fmt.Errorf("creating working folder: %w", err)
	}
	return s, nil
}

func (s store) path(name string) string { return filepath.Join(s.dir, filepath.FromSlash(name)) }

// blobName is a blob's path inside a layout or a bundle.
func blobName(h v1.Hash) string { return blobDir + h.Hex }

// has reports whether the blob is already in the store with the right size and content. A blob that is there but
// wrong is removed, so that it is fetched again.
func (s store) has(h v1.Hash, size int64) bool {
	p := s.path(blobName(h))
	st, err := os.Stat(p)
	if err != nil {
		return false
	}
	if st.Size() == size && fileSHA256(p) == h.Hex {
		return true
	}
	_ = os.Remove(p)
	return false
}

// put writes the blob from r to tmp/, checks its size and digest, and only then moves it to its name. count, when
// not nil, is told the bytes as they are written.
func (s store) put(h v1.Hash, size int64, r io.Reader, count func(int64)) error {
	tmp, err := os.CreateTemp(s.path("tmp"), h.Hex+"-*")
	if err != nil {
		return fmt.Errorf("writing blob %s: %w", h, err)
	}
	defer os.Remove(tmp.Name())
	hasher := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, hasher, countWriter(count)), r)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing blob %s: %w", h, err)
	}
	if got := hex.EncodeToString(hasher.Sum(nil)); got != h.Hex || (size >= 0 && n != size) {
		return fmt.Errorf("blob %s: received %d bytes with sha256:%s, want %d bytes with that digest", h, n, got, size)
	}
	return os.Rename(tmp.Name(), s.path(blobName(h)))
}

// empty reports whether no blob has been stored yet.
func (s store) empty() bool {
	entries, err := os.ReadDir(s.path(blobDir))
	return err != nil || len(entries) == 0
}

// fileSHA256 is the hex sha256 of a file's content, or "" when it cannot be read.
func fileSHA256(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// countWriter turns a byte counter into a writer; nil counts nothing.
type countWriter func(int64)

func (c countWriter) Write(p []byte) (int, error) {
	if c != nil {
		c(int64(len(p)))
	}
	return len(p), nil
}

// checkOut refuses an output path that cannot become the archive: a folder, or a path in a missing folder.
func checkOut(out string) error {
	if out == "" {
		return errors.New("no output path for the bundle")
	}
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		return fmt.Errorf("output %s is a folder, want a file path", out)
	}
	if _, err := os.Stat(filepath.Dir(out)); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("output %s: folder %s does not exist", out, filepath.Dir(out))
	}
	return nil
}
