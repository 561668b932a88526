package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Anchor is a head of the log recorded outside it: the seq and hash of a line the log must still contain. A Log
// opened WithAnchor(true) writes one to AnchorPath after each group commit; Open and VerifyFile check it when the
// file exists. It catches lines removed cleanly from the end, which the chain alone cannot; it proves nothing
// against someone who can rewrite the anchor file too (docs/audit.md).
type Anchor struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// anchorFile is the anchor file's single line.
type anchorFile struct {
	V int `json:"v"`
	Anchor
}

// AnchorPath is the anchor file of the log at logPath: logPath + ".head".
func AnchorPath(logPath string) string { return logPath + ".head" }

// readAnchor returns the anchor at path, nil when there is no such file.
func readAnchor(path string) (*Anchor, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading audit anchor: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, fmt.Errorf("reading audit anchor %s: %w", path, err)
	}
	var a anchorFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("reading audit anchor %s: %w", path, err)
	}
	if a.V != Version || a.Seq == 0 {
		return nil, fmt.Errorf("reading audit anchor %s: want v %d and seq > 0, have v %d seq %d", path, Version, a.V, a.Seq)
	}
	if _, err := parseDigest(a.Hash); err != nil {
		return nil, fmt.Errorf("reading audit anchor %s: hash: %w", path, err)
	}
	return &a.Anchor, nil
}

// writeAnchor replaces the anchor at path: a synced temporary file renamed over it, so that a reader sees the old
// anchor or the new one. The directory is not synced: after a crash the anchor may be an older one, which the log
// still satisfies.
func writeAnchor(path string, a Anchor) error {
	b, err := json.Marshal(anchorFile{V: Version, Anchor: a})
	if err != nil {
		return fmt.Errorf("writing audit anchor: %w", err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("writing audit anchor: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("writing audit anchor %s: %w", path, err)
	}
	return nil
}
