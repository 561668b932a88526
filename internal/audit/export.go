package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"
)

// An export is a range of a log's records that proves itself against a signed checkpoint, for handing to someone
// who should see those records and no others. Its first line is a JSON header (exportHeader), then come the
// records from seq From to seq To, byte for byte as in the log. The header's Left and Right are the compact ranges
// of the tree left and right of the exported lines: the roots of the perfect subtrees covering leaves [0, From-1)
// and [To, Size), O(log Size) hashes. A verifier hashes the exported lines into the middle range, merges the three,
// and must get the checkpoint's root: that proves every exported line is, at its position, in the log the
// checkpoint signed.

// exportFormat names the format in the header.
const exportFormat = "agops-audit-export"

type exportHeader struct {
	V          int      `json:"v"`
	Format     string   `json:"format"`
	From       uint64   `json:"from"`
	To         uint64   `json:"to"`
	Size       uint64   `json:"size"`
	Left       [][]byte `json:"left"`
	Right      [][]byte `json:"right"`
	Checkpoint string   `json:"checkpoint"`
}

// Exported is what VerifyExport found: the range, the checkpoint it proved against, and the records' summary.
type Exported struct {
	From, To   uint64
	Checkpoint Checkpoint
	Summary    Summary
}

// Export writes to w the records from seq from to seq to (inclusive) of the log at path, with the proof that they
// are in the log that checkpoint (signed by v's key) covers. The log is verified against the checkpoint first
// (VerifyCheckpoint's errors, except that records after the checkpoint are allowed), in one pass; a second pass
// copies the lines.
func Export(w io.Writer, path string, from, to uint64, checkpoint []byte, v note.Verifier) error {
	cp, err := OpenCheckpoint(checkpoint, v)
	if err != nil {
		return fmt.Errorf("exporting %s: %w", path, err)
	}
	if from < 1 || from > to || to > cp.Size {
		return fmt.Errorf("exporting %s: records %d to %d: want 1 <= from <= to <= %d (the checkpoint's size)", path, from, to, cp.Size)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("exporting audit log: %w", err)
	}
	defer f.Close()
	h, start, end, err := exportProof(f, path, from, to, &cp)
	if err != nil {
		return fmt.Errorf("exporting %s: %w", path, err)
	}
	h.Checkpoint = string(checkpoint)
	hb, err := json.Marshal(h)
	if err == nil {
		_, err = w.Write(append(hb, '\n'))
	}
	if err == nil {
		_, err = io.Copy(w, io.NewSectionReader(f, start, end-start))
	}
	if err != nil {
		return fmt.Errorf("exporting %s: %w", path, err)
	}
	return nil
}

// exportProof verifies the log in f against cp and returns the header's ranges and the byte span of the lines.
func exportProof(f *os.File, path string, from, to uint64, cp *Checkpoint) (exportHeader, int64, int64, error) {
	h := exportHeader{V: Version, Format: exportFormat, From: from, To: to, Size: cp.Size}
	left, right := rangeFactory.NewEmptyRange(0), rangeFactory.NewEmptyRange(to)
	var start, end int64
	ver := newVerifier(path, nil)
	ver.cp = cp
	ver.each = func(seq uint64, offset int64, leaf []byte) {
		switch {
		case seq < from:
			_ = left.Append(leaf, nil)
		case seq == from:
			start = offset
		case seq > to && seq <= cp.Size:
			_ = right.Append(leaf, nil)
		}
		if seq == to {
			end = offset // the offset before this line; fixed below
		}
	}
	err := ver.run(newLineReader(f))
	if err != nil && !errors.Is(err, ErrTornTail) {
		return h, 0, 0, err
	}
	endLine, err := lineEndOffset(f, end)
	h.Left, h.Right = left.Hashes(), right.Hashes()
	return h, start, endLine, err
}

// lineEndOffset returns the offset after the line that starts at start.
func lineEndOffset(f *os.File, start int64) (int64, error) {
	ln, err := newLineReader(io.NewSectionReader(f, start, MaxLineBytes+2)).next()
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	return start + ln.size, nil
}

// VerifyExport reads an export and checks it against its checkpoint, which must be signed by v's key: the header,
// the checkpoint's signature (ErrCheckpointSignature), each line's hash, seq and chain (as Verify does), and the
// proof (ErrExportProof). Other problems with the file wrap ErrExportMalformed.
func VerifyExport(r io.Reader, v note.Verifier) (Exported, error) {
	lr := newLineReader(r)
	h, cp, left, right, err := readExportHeader(lr, v)
	if err != nil {
		return Exported{}, err
	}
	ver, err := verifyExportLines(lr, h, left)
	if err != nil {
		return Exported{}, err
	}
	if err := ver.tree.AppendRange(right, nil); err != nil {
		return Exported{}, fmt.Errorf("%w: %w", ErrExportMalformed, err)
	}
	if root := rootOf(ver.tree); !bytes.Equal(root, cp.Root) {
		return Exported{}, fmt.Errorf("%w: records %d to %d and the proof do not hash to the root of the checkpoint of %s",
			ErrExportProof, h.From, h.To, cp.Origin)
	}
	sum := ver.summary()
	sum.Checkpoint = &cp
	return Exported{From: h.From, To: h.To, Checkpoint: cp, Summary: sum}, nil
}

// readExportHeader reads and checks the header line and the checkpoint in it.
func readExportHeader(lr *lineReader, v note.Verifier) (exportHeader, Checkpoint, *compact.Range, *compact.Range, error) {
	var h exportHeader
	fail := func(format string, args ...any) (exportHeader, Checkpoint, *compact.Range, *compact.Range, error) {
		return h, Checkpoint{}, nil, nil, fmt.Errorf("%w: %s", ErrExportMalformed, fmt.Sprintf(format, args...))
	}
	ln, err := lr.next()
	if err != nil || !ln.terminated || ln.tooLong {
		return fail("no header line")
	}
	dec := json.NewDecoder(bytes.NewReader(ln.text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return fail("header: %v", err)
	}
	if h.V != Version || h.Format != exportFormat {
		return fail("header: want format %q version %d", exportFormat, Version)
	}
	cp, err := OpenCheckpoint([]byte(h.Checkpoint), v)
	if err != nil {
		return h, cp, nil, nil, fmt.Errorf("export: %w", err)
	}
	if h.Size != cp.Size || h.From < 1 || h.From > h.To || h.To > cp.Size {
		return fail("records %d to %d of %d, checkpoint of %d", h.From, h.To, h.Size, cp.Size)
	}
	left, err := rangeFactory.NewRange(0, h.From-1, h.Left)
	if err != nil {
		return fail("left proof: %v", err)
	}
	right, err := rangeFactory.NewRange(h.To, h.Size, h.Right)
	if err != nil {
		return fail("right proof: %v", err)
	}
	return h, cp, left, right, nil
}

// verifyExportLines checks the exported lines as a log that starts at seq h.From, after the left range.
func verifyExportLines(lr *lineReader, h exportHeader, left *compact.Range) (*verifier, error) {
	ver := newVerifier("", nil)
	ver.tree, ver.line, ver.sum.Records = left, int(h.From-1), h.From-1
	for seq := h.From; seq <= h.To; seq++ {
		ln, err := lr.next()
		if err != nil || !ln.terminated {
			return nil, fmt.Errorf("%w: the export ends before record %d of %d to %d", ErrExportMalformed, seq, h.From, h.To)
		}
		if seq == h.From {
			ver.prev = claimedPrev(ln.text)
		}
		if err := ver.next(ln); err != nil {
			return nil, err
		}
	}
	if ln, _ := lr.next(); ln.size != 0 {
		return nil, fmt.Errorf("%w: data after record %d", ErrExportMalformed, h.To)
	}
	return ver, nil
}

// claimedPrev is the "prev" a line claims (the zero digest when it claims none): the first exported line's
// predecessor is not exported, so the chain starts from what that line says; the proof vouches for it.
func claimedPrev(text []byte) digest {
	var l struct {
		Prev string `json:"prev"`
	}
	_ = json.Unmarshal(text, &l)
	d, _ := parseDigest(l.Prev)
	return d
}
