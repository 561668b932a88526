package audit

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Checkpoint is a signed statement of a log's state in the checkpoint format of transparency logs: the log's
// origin (its name), its size (records, which is also the last seq) and the root of the Merkle tree of its lines
// (tree.go), plus the chain head — the hash of line Size, Genesis for an empty log — as an extension line, so that
// a chain-only verifier can compare its head with a signed one. The text a note.Signer signs is
//
//	<origin>
//	<size>
//	<root, standard base64>
//	chain sha256:<64 lowercase hex>
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   []byte // 32 bytes
	Head   string // "sha256:<hex>"
}

// maxCheckpointBytes bounds a checkpoint file: its text and a few signatures.
const maxCheckpointBytes = 16 << 10

// chainPrefix starts the checkpoint's extension line.
const chainPrefix = "chain "

// Text is the checkpoint's body: the text a note signs.
func (c Checkpoint) Text() string {
	return fmt.Sprintf("%s\n%d\n%s\n%s%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root), chainPrefix, c.Head)
}

// parseCheckpointText reads a checkpoint's body, exactly as Text writes it.
func parseCheckpointText(text string) (Checkpoint, error) {
	var c Checkpoint
	ls := strings.Split(text, "\n")
	if len(ls) != 5 || ls[4] != "" {
		return c, fmt.Errorf("%w: want 4 lines (origin, size, root, chain head), have %d", ErrCheckpointMalformed, len(ls)-1)
	}
	if ls[0] == "" || !isPrintable(ls[0]) {
		return c, fmt.Errorf("%w: origin %q is empty or not printable", ErrCheckpointMalformed, ls[0])
	}
	size, err := strconv.ParseUint(ls[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != ls[1] {
		return c, fmt.Errorf("%w: size %q is not a decimal number", ErrCheckpointMalformed, ls[1])
	}
	root, err := base64.StdEncoding.Strict().DecodeString(ls[2])
	if err != nil || len(root) != hasher.Size() {
		return c, fmt.Errorf("%w: root %q is not %d bytes in base64", ErrCheckpointMalformed, ls[2], hasher.Size())
	}
	head, ok := strings.CutPrefix(ls[3], chainPrefix)
	if _, err := parseDigest(head); !ok || err != nil {
		return c, fmt.Errorf("%w: line 4 %q is not %q followed by a sha256: hash", ErrCheckpointMalformed, ls[3], chainPrefix)
	}
	return Checkpoint{Origin: ls[0], Size: size, Root: root, Head: head}, nil
}

func isPrintable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return false
		}
	}
	return true
}

// SignCheckpoint returns c as a signed note: its Text, a blank line, and the signer's signature line.
func SignCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	if _, err := parseCheckpointText(c.Text()); err != nil {
		return nil, fmt.Errorf("signing audit checkpoint: %w", err)
	}
	msg, err := note.Sign(&note.Note{Text: c.Text()}, s)
	if err != nil {
		return nil, fmt.Errorf("signing audit checkpoint: %w", err)
	}
	return msg, nil
}

// OpenCheckpoint checks that msg is a checkpoint signed by v's key and returns it. A checkpoint that is not one
// wraps ErrCheckpointMalformed; one without a valid signature by v (signed by another key, or edited after
// signing) wraps ErrCheckpointSignature.
func OpenCheckpoint(msg []byte, v note.Verifier) (Checkpoint, error) {
	if len(msg) > maxCheckpointBytes {
		return Checkpoint{}, fmt.Errorf("%w: %d bytes, at most %d", ErrCheckpointMalformed, len(msg), maxCheckpointBytes)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &unverified):
		return Checkpoint{}, fmt.Errorf("%w: no signature by %s+%08x (signed by %s)",
			ErrCheckpointSignature, v.Name(), v.KeyHash(), signerNames(unverified.Note))
	case errors.As(err, &invalid):
		return Checkpoint{}, fmt.Errorf("%w: the signature of %s does not match the text: the checkpoint was edited",
			ErrCheckpointSignature, invalid.Name)
	case err != nil:
		return Checkpoint{}, fmt.Errorf("%w: %w", ErrCheckpointMalformed, err)
	}
	return parseCheckpointText(n.Text)
}

func signerNames(n *note.Note) string {
	var names []string
	for _, s := range n.UnverifiedSigs {
		names = append(names, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
	}
	if len(names) == 0 {
		return "no key"
	}
	return strings.Join(names, ", ")
}

// ReadCheckpoint reads and opens the checkpoint file at path (OpenCheckpoint); it returns the file's bytes too.
func ReadCheckpoint(path string, v note.Verifier) (Checkpoint, []byte, error) {
	msg, err := readSmallFile(path, maxCheckpointBytes)
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("reading audit checkpoint: %w", err)
	}
	c, err := OpenCheckpoint(msg, v)
	if err != nil {
		return Checkpoint{}, msg, fmt.Errorf("audit checkpoint %s: %w", path, err)
	}
	return c, msg, nil
}

// readSmallFile reads a file of at most limit bytes.
func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return b, nil
}

// writeFileAtomic replaces path with data: a temporary file in the same directory, synced when sync is set, then
// renamed over path, so that a reader sees the old content or the new one, never a part.
func writeFileAtomic(path string, data []byte, perm os.FileMode, sync bool) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// sameRoot reports whether two roots are equal.
func sameRoot(a, b []byte) bool { return bytes.Equal(a, b) }
