package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"

	"github.com/transparency-dev/merkle/compact"
)

// treeState is a log's state after a group commit: what a checkpoint signs and what Open needs to continue the log
// without reading it.
type treeState struct {
	size  uint64   // records, the last seq
	bytes int64    // length of the complete lines
	head  digest   // hash of line size
	tree  [][]byte // the compact range [0, size): roots of perfect subtrees, left to right
}

// rangeOf returns the state's compact range.
func (s treeState) rangeOf() (*compact.Range, error) {
	return rangeFactory.NewRange(0, s.size, slices.Clone(s.tree))
}

// stateFile is the resume state's file: one JSON object.
type stateFile struct {
	V     int      `json:"v"`
	Size  uint64   `json:"size"`
	Bytes int64    `json:"bytes"`
	Head  string   `json:"head"`
	Tree  [][]byte `json:"tree"` // base64
}

// StatePath is the resume state file of the log at logPath: logPath + ".state". It is a cache that Open checks
// against the log and ignores (verifying the whole log instead) when it does not match.
func StatePath(logPath string) string { return logPath + ".state" }

// writeState replaces the state file. It is not synced: a state lost or older after a crash only makes the next
// Open verify more of the log.
func writeState(path string, s treeState) error {
	b, err := json.Marshal(stateFile{V: Version, Size: s.size, Bytes: s.bytes, Head: s.head.String(), Tree: s.tree})
	if err != nil {
		return fmt.Errorf("writing audit resume state: %w", err)
	}
	return writeFileAtomic(path, append(b, '\n'), 0o600, false)
}

// readState reads the state file at path; missing is ok false with no error.
func readState(path string) (s treeState, ok bool, err error) {
	b, err := readSmallFile(path, 64<<10)
	if errors.Is(err, fs.ErrNotExist) {
		return s, false, nil
	}
	if err != nil {
		return s, false, err
	}
	s, err = parseState(b)
	if err != nil {
		return s, false, fmt.Errorf("%s: %w", path, err)
	}
	return s, true, nil
}

// parseState reads a state file's content.
func parseState(b []byte) (treeState, error) {
	var s treeState
	var sf stateFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sf); err != nil {
		return s, err
	}
	head, err := parseDigest(sf.Head)
	if err != nil || sf.V != Version || sf.Bytes < 0 {
		return s, fmt.Errorf("not a version %d state", Version)
	}
	s = treeState{size: sf.Size, bytes: sf.Bytes, head: head, tree: sf.Tree}
	if _, err := s.rangeOf(); err != nil {
		return s, fmt.Errorf("tree: %w", err)
	}
	for _, h := range s.tree {
		if len(h) != hasher.Size() {
			return s, fmt.Errorf("tree: a hash of %d bytes", len(h))
		}
	}
	return s, nil
}

// matchState checks that the log f (of fileSize bytes) has the state's line at the state's offset: line s.size
// ends exactly at s.bytes, and is a valid line with seq s.size and hash s.head. It reads that one line.
func matchState(f io.ReaderAt, fileSize int64, s treeState) error {
	switch {
	case s.bytes > fileSize:
		return fmt.Errorf("the state ends at byte %d, the log at %d", s.bytes, fileSize)
	case s.size == 0 && s.bytes == 0 && s.head == digest{}:
		return nil
	case s.size == 0 || s.bytes == 0:
		return fmt.Errorf("the state says %d records in %d bytes", s.size, s.bytes)
	}
	ln, err := lineEndingAt(f, s.bytes)
	if err != nil {
		return err
	}
	var l struct {
		Seq uint64 `json:"seq"`
	}
	stored, computed, ok := bodyDigest(ln)
	if !ok || stored != computed || json.Unmarshal(ln, &l) != nil || l.Seq != s.size || stored != s.head {
		return fmt.Errorf("the line before byte %d is not seq %d with hash %s", s.bytes, s.size, s.head)
	}
	return nil
}

// lineEndingAt returns the line (without newline) whose newline is the byte before end.
func lineEndingAt(f io.ReaderAt, end int64) ([]byte, error) {
	start := max(0, end-MaxLineBytes-1)
	buf := make([]byte, min(end-start, 64<<10))
	for {
		from := end - int64(len(buf))
		if _, err := f.ReadAt(buf, from); err != nil {
			return nil, fmt.Errorf("reading the line before byte %d: %w", end, err)
		}
		if buf[len(buf)-1] != '\n' {
			return nil, fmt.Errorf("byte %d is not the end of a line", end)
		}
		if i := bytes.LastIndexByte(buf[:len(buf)-1], '\n'); i >= 0 {
			return buf[i+1 : len(buf)-1], nil
		}
		if from == start {
			if from == 0 {
				return buf[:len(buf)-1], nil
			}
			return nil, fmt.Errorf("the line before byte %d is longer than %d bytes", end, MaxLineBytes)
		}
		buf = make([]byte, min(2*len(buf), int(end-start)))
	}
}

// fileSize returns the size of f.
func fileSize(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
