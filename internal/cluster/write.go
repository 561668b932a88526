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

	"github.com/agops/agops/internal/fsutil"
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
	if err := fsutil.Replaceable(dir, MarkerFile, "agops cluster init"); err != nil {
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

// writeTree writes t into dir atomically; only an empty folder or one init wrote is replaced.
func writeTree(dir string, t Tree) error {
	return fsutil.WriteFiles(dir, t, MarkerFile, "agops cluster init")
}
