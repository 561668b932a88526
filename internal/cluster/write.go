package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Option configures Init.
type Option func(*initOptions)

type initOptions struct{ random io.Reader }

// WithRandom makes Init read the token's randomness from r instead of crypto/rand (tests).
func WithRandom(r io.Reader) Option { return func(o *initOptions) { o.random = r } }

// Init validates s, makes the k3s join token — or keeps the one an earlier init left in dir, so that re-running
// against a running cluster does not change it — and writes the whole tree into dir atomically: on any error dir is
// left as it was. An existing dir is replaced only if it is empty or an earlier init wrote it.
func Init(s Spec, dir string, opts ...Option) (Tree, error) {
	o := initOptions{random: rand.Reader}
	for _, opt := range opts {
		opt(&o)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := replaceable(dir); err != nil {
		return nil, err
	}
	token := ""
	if s.Distro == K3s {
		var err error
		if token, err = existingToken(dir); err == nil && token == "" {
			token, err = newToken(o.random)
		}
		if err != nil {
			return nil, err
		}
	}
	t, err := Generate(s, token)
	if err != nil {
		return nil, err
	}
	return t, writeTree(dir, t)
}

// newToken is 32 random bytes in hex.
func newToken(r io.Reader) (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("making the join token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// existingToken returns the token an earlier init wrote into dir, or "" if there is none.
func existingToken(dir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(TokenPath)))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the existing join token: %w", err)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" || strings.ContainsAny(tok, "\n\r") {
		return "", fmt.Errorf("%s in %s is not a one-line token; move it away to make a new one", TokenPath, dir)
	}
	return tok, nil
}

func replaceable(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("output folder %s: %w", dir, err)
	case len(entries) == 0:
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, MarkerFile)); err != nil {
		return fmt.Errorf("output folder %s is not empty and was not written by agops cluster init; choose another -o", dir)
	}
	return nil
}

// writeTree writes t into a temporary sibling of dir and swaps it into place. Folders are 0755, except those
// holding a private file (0700).
func writeTree(dir string, t Tree) (err error) {
	dir = filepath.Clean(dir)
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", parent, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".agops-*")
	if err != nil {
		return fmt.Errorf("creating a temporary folder beside %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	for _, name := range t.Paths() {
		if err := writeFile(tmp, name, t[name]); err != nil {
			return err
		}
	}
	return swap(tmp, dir)
}

func writeFile(root, name string, f File) error {
	if filepath.IsAbs(name) || strings.Contains("/"+name+"/", "/../") {
		return fmt.Errorf("refusing to write %q outside the output folder", name)
	}
	p := filepath.Join(root, filepath.FromSlash(name))
	dirMode := os.FileMode(0o755)
	if f.Mode&0o077 == 0 {
		dirMode = 0o700
	}
	if err := os.MkdirAll(filepath.Dir(p), dirMode); err != nil {
		return err
	}
	if err := os.WriteFile(p, f.Data, f.Mode); err != nil {
		return err
	}
	return os.Chmod(p, f.Mode) // WriteFile's mode passes through the umask
}

// swap moves tmp into place of dir, keeping the old dir until the new one is in place.
func swap(tmp, dir string) error {
	old := ""
	if _, err := os.Stat(dir); err == nil {
		old = tmp + ".old"
		if err := os.Rename(dir, old); err != nil {
			return fmt.Errorf("replacing %s: %w", dir, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if old != "" {
			_ = os.Rename(old, dir)
		}
		return fmt.Errorf("moving the output into %s: %w", dir, err)
	}
	if old != "" {
		return os.RemoveAll(old)
	}
	return nil
}
