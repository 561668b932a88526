package audit

import (
	"bufio"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/compact"
)

// Summary describes the lines that verified: all of the log when Verify returns nil, the prefix before the first
// problem otherwise.
type Summary struct {
	File    string // set by VerifyFile
	Records uint64 // lines that verified; also the last seq, since seq starts at 1 without gaps
	Head    string // the hash of the last verified line; Genesis when there is none
	Bytes   int64  // the length of the verified lines, newlines included
	// First and Last are the times of the first and the last verified record.
	First, Last time.Time
	// Events and Decisions count records by "event" and by non-empty "decision". After 64 distinct values, further
	// ones are counted under "(other)", so that a hostile file cannot grow them without bound.
	Events, Decisions map[string]uint64
	// TornBytes is the length of a torn last line (bytes after the last newline): the benign trace of a crash
	// mid-write. Verify then returns an error wrapping ErrTornTail (unless it found a worse problem).
	TornBytes int64
	// Anchor is the anchor VerifyFile compared the log with, nil when there was none.
	Anchor *Anchor
	// Root is the root of the Merkle tree of the verified lines (tree.go).
	Root []byte
	// Checkpoint is the signed checkpoint VerifyCheckpoint compared the log with, nil when there was none;
	// Uncovered counts the verified records after it.
	Checkpoint *Checkpoint
	Uncovered  uint64
}

// maxKinds bounds the distinct keys of Summary.Events and Summary.Decisions.
const maxKinds = 64

// String is the summary for `agops audit verify`: several lines, without a trailing newline.
func (s Summary) String() string {
	var b strings.Builder
	name := s.File
	if name == "" {
		name = "audit log"
	}
	fmt.Fprintf(&b, "%s: %d records", name, s.Records)
	if s.Records > 0 {
		fmt.Fprintf(&b, ", %s to %s", s.First.Format(time.RFC3339Nano), s.Last.Format(time.RFC3339Nano))
	}
	fmt.Fprintf(&b, "\nhead: seq %d %s", s.Records, s.Head)
	writeCounts(&b, "events", s.Events)
	writeCounts(&b, "decisions", s.Decisions)
	if s.Records > 0 {
		fmt.Fprintf(&b, "\nroot: %s", base64.StdEncoding.EncodeToString(s.Root))
	}
	if c := s.Checkpoint; c != nil {
		fmt.Fprintf(&b, "\ncheckpoint: %s, %d records, root %s", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root))
		if s.Uncovered > 0 {
			fmt.Fprintf(&b, "\nnot covered: %d records after the checkpoint", s.Uncovered)
		}
	}
	if s.Anchor != nil {
		fmt.Fprintf(&b, "\nanchor: seq %d %s", s.Anchor.Seq, s.Anchor.Hash)
	}
	if s.TornBytes > 0 {
		fmt.Fprintf(&b, "\ntorn tail: %d bytes after the last newline (a crash mid-write; the next Open removes them)",
			s.TornBytes)
	}
	return b.String()
}

func writeCounts(b *strings.Builder, label string, m map[string]uint64) {
	if len(m) == 0 {
		return
	}
	fmt.Fprintf(b, "\n%s:", label)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(b, " %s=%d", k, m[k])
	}
}

func (s *Summary) add(l *line) {
	if s.Events == nil { // the first line read (Open may start after lines it does not read)
		s.First = l.Time
		s.Events, s.Decisions = map[string]uint64{}, map[string]uint64{}
	}
	s.Records++
	s.Last = l.Time
	count(s.Events, l.Event)
	if l.Decision != "" {
		count(s.Decisions, l.Decision)
	}
}

func count(m map[string]uint64, k string) {
	if k == "" {
		k = "(none)"
	}
	if _, ok := m[k]; !ok && len(m) >= maxKinds {
		k = "(other)"
	}
	m[k]++
}

// Verify reads a whole log from r and returns its summary and the first problem, an *Error (or a read error).
// Memory does not grow with the number of lines.
func Verify(r io.Reader) (Summary, error) {
	v := newVerifier("", nil)
	err := v.run(newLineReader(r))
	return v.summary(), err
}

// VerifyFile verifies the log at path. When the anchor file AnchorPath(path) exists, the log must reach the anchor's
// seq with the anchor's hash there (ErrTruncated, ErrAnchorMismatch otherwise). On a log that a Log is writing, a
// batch in mid-write shows as a torn tail.
func VerifyFile(path string) (Summary, error) {
	// The anchor first: it is written after the log is synced, so the log read afterwards reaches it.
	anchor, err := readAnchor(AnchorPath(path))
	if err != nil {
		return Summary{File: path, Head: Genesis}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return Summary{File: path, Head: Genesis}, fmt.Errorf("verifying audit log: %w", err)
	}
	defer f.Close()
	v := newVerifier(path, anchor)
	err = v.run(newLineReader(f))
	return v.summary(), err
}

// verifier checks a log line by line. Open and the checkpoint checks set cp and may start it after a prefix
// (startAt) that it does not read.
type verifier struct {
	file   string
	anchor *Anchor
	cp     *Checkpoint // when set: the tree at cp.Size must have cp.Root, and the log must reach it
	sum    Summary
	line   int
	prev   digest
	tree   *compact.Range
	each   func(seq uint64, start int64, leaf []byte) // when set: called with each verified line
	torn   []byte                                     // the start of a torn tail (at most 256 bytes) for Open's log line
}

func newVerifier(file string, anchor *Anchor) *verifier {
	return &verifier{file: file, anchor: anchor, sum: Summary{File: file, Anchor: anchor},
		tree: rangeFactory.NewEmptyRange(0)}
}

// startAt makes the verifier continue after the state's lines, as if it had read them.
func (v *verifier) startAt(s treeState) error {
	r, err := s.rangeOf()
	if err != nil {
		return err
	}
	v.tree, v.prev, v.line = r, s.head, int(s.size)
	v.sum.Records, v.sum.Bytes = s.size, s.bytes
	return nil
}

// summary returns the summary so far, with the head and the tree's root.
func (v *verifier) summary() Summary {
	v.sum.Head = v.prev.String()
	v.sum.Root = rootOf(v.tree)
	return v.sum
}

// state returns the state of the lines verified so far.
func (v *verifier) state() treeState {
	return treeState{size: v.sum.Records, bytes: v.sum.Bytes, head: v.prev, tree: slices.Clone(v.tree.Hashes())}
}

func (v *verifier) run(lr *lineReader) error {
	for {
		ln, err := lr.next()
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading %s after line %d: %w", cmp.Or(v.file, "audit log"), v.line, err)
		}
		if ln.size == 0 {
			return v.finish()
		}
		if !ln.terminated {
			v.sum.TornBytes = ln.size
			v.torn = slices.Clone(ln.text[:min(len(ln.text), 256)])
			return v.finish()
		}
		if err := v.next(ln); err != nil {
			return err
		}
	}
}

func (v *verifier) finish() error {
	if v.cp != nil && v.sum.Records < v.cp.Size {
		return &Error{File: v.file, Err: ErrShorterThanCheckpoint, Detail: fmt.Sprintf(
			"the checkpoint of %s covers %d records, the log ends at seq %d", v.cp.Origin, v.cp.Size, v.sum.Records)}
	}
	if v.anchor != nil && v.sum.Records < v.anchor.Seq {
		return &Error{File: v.file, Err: ErrTruncated, Detail: fmt.Sprintf(
			"anchor %s records seq %d (%s), the log ends at seq %d",
			AnchorPath(v.file), v.anchor.Seq, v.anchor.Hash, v.sum.Records)}
	}
	if v.sum.TornBytes > 0 {
		return &Error{File: v.file, Line: v.line + 1, Seq: v.sum.Records + 1, Err: ErrTornTail,
			Detail: fmt.Sprintf("%d bytes after the last newline; the next Open removes them", v.sum.TornBytes)}
	}
	return nil
}

// next verifies one complete line and counts it.
func (v *verifier) next(ln rawLine) error {
	v.line++
	if err := v.check(ln); err != nil {
		return err
	}
	v.sum.Bytes += ln.size
	return nil
}

// check verifies one complete line and adds it to the summary.
func (v *verifier) check(ln rawLine) error {
	want := v.sum.Records + 1
	fail := func(err error, format string, args ...any) error {
		return &Error{File: v.file, Line: v.line, Seq: want, Err: err, Detail: fmt.Sprintf(format, args...)}
	}
	if ln.tooLong {
		return fail(ErrLineTooLong, "%d bytes, at most %d", ln.size-1, MaxLineBytes)
	}
	var l line
	if err := json.Unmarshal(ln.text, &l); err != nil {
		return fail(ErrInvalidJSON, "%v", err)
	}
	if l.V != Version {
		return fail(ErrUnknownVersion, "v is %d, this verifier reads %d", l.V, Version)
	}
	stored, computed, ok := bodyDigest(ln.text)
	if !ok {
		return fail(ErrMalformed, `the line must end with "hash":"sha256:<64 lowercase hex digits>"}`)
	}
	if stored != computed {
		return fail(ErrHashMismatch, "stored %s, computed %s", stored, computed)
	}
	switch {
	case l.Seq > want:
		return fail(ErrSeqGap, "found seq %d: %d line(s) missing before this one", l.Seq, l.Seq-want)
	case l.Seq < want:
		return fail(ErrOutOfOrder, "found seq %d", l.Seq)
	}
	if prev := v.prev.String(); l.Prev != prev {
		return fail(ErrChainBroken, "prev is %q, the previous line's hash is %s", l.Prev, prev)
	}
	if v.anchor != nil && l.Seq == v.anchor.Seq && stored.String() != v.anchor.Hash {
		return fail(ErrAnchorMismatch, "hash %s, anchor %s records %s", stored, AnchorPath(v.file), v.anchor.Hash)
	}
	v.prev = stored
	v.sum.add(&l)
	return v.grow(ln.text)
}

// grow adds a verified line to the tree and compares the root with the checkpoint's at its size.
func (v *verifier) grow(text []byte) error {
	leaf := leafHash(text)
	if err := v.tree.Append(leaf, nil); err != nil {
		return err
	}
	if v.each != nil {
		v.each(v.sum.Records, v.sum.Bytes, leaf)
	}
	if v.cp == nil || v.tree.End() != v.cp.Size {
		return nil
	}
	if root := rootOf(v.tree); !sameRoot(root, v.cp.Root) {
		return &Error{File: v.file, Line: v.line, Seq: v.cp.Size, Err: ErrRootMismatch, Detail: fmt.Sprintf(
			"the first %d records hash to %s, the checkpoint of %s says %s", v.cp.Size,
			base64.StdEncoding.EncodeToString(root), v.cp.Origin, base64.StdEncoding.EncodeToString(v.cp.Root))}
	}
	return nil
}

// rawLine is one line as read: text without the newline (nil when tooLong), size with it.
type rawLine struct {
	text       []byte
	size       int64
	terminated bool
	tooLong    bool
}

// lineReader splits a stream into lines, holding at most MaxLineBytes+1 bytes of one line.
type lineReader struct {
	r   *bufio.Reader
	buf []byte
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next line; size 0 means the end of the stream. The text is valid until the next call.
func (lr *lineReader) next() (rawLine, error) {
	var ln rawLine
	lr.buf = lr.buf[:0]
	for {
		chunk, err := lr.r.ReadSlice('\n')
		ln.size += int64(len(chunk))
		if len(lr.buf)+len(chunk) <= MaxLineBytes+1 {
			lr.buf = append(lr.buf, chunk...)
		} else {
			ln.tooLong = true
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == nil:
			ln.terminated = true
			if !ln.tooLong {
				ln.text = lr.buf[:len(lr.buf)-1]
			}
			return ln, nil
		default:
			ln.text = lr.buf
			return ln, err
		}
	}
}
