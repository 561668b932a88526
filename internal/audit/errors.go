package audit

import (
	"errors"
	"fmt"
)

// Problems Verify reports, wrapped in an *Error; branch with errors.Is.
var (
	// ErrTornTail: the file ends with bytes after its last newline — a line a crash interrupted. Such a line was
	// never acknowledged (Append returns only after the newline is durable); Open removes it.
	ErrTornTail = errors.New("torn last line (a crash mid-write)")
	// ErrInvalidJSON: the line is not a JSON object of the expected shape.
	ErrInvalidJSON = errors.New("invalid JSON")
	// ErrUnknownVersion: the line's "v" is not Version.
	ErrUnknownVersion = errors.New("unknown format version")
	// ErrMalformed: valid JSON, but "hash" is not the last member in the exact form the format requires.
	ErrMalformed = errors.New("malformed line")
	// ErrLineTooLong: the line is longer than MaxLineBytes.
	ErrLineTooLong = errors.New("line too long")
	// ErrHashMismatch: the line's bytes do not hash to its "hash": the line was edited.
	ErrHashMismatch = errors.New("hash mismatch: the line was edited")
	// ErrSeqGap: seq jumps forward: lines before this one were deleted (or moved later).
	ErrSeqGap = errors.New("seq gap: lines are missing")
	// ErrOutOfOrder: seq goes back or repeats: lines were moved or duplicated.
	ErrOutOfOrder = errors.New("seq out of order: a line was moved or duplicated")
	// ErrChainBroken: seq is right but "prev" is not the previous line's hash: a line was replaced by another that
	// hashes correctly on its own.
	ErrChainBroken = errors.New("chain broken: prev is not the previous line's hash")
	// ErrTruncated: the anchor names a seq the log no longer reaches: lines were removed from the end.
	ErrTruncated = errors.New("log is shorter than its anchor: lines were removed from the end")
	// ErrAnchorMismatch: the line at the anchor's seq has another hash than the anchor records.
	ErrAnchorMismatch = errors.New("line does not match the anchor")
	// ErrShorterThanCheckpoint: the log has fewer records than a signed checkpoint says it had: records were removed
	// from the end, or the log was cut to a prefix.
	ErrShorterThanCheckpoint = errors.New("log has fewer records than its checkpoint: records were removed from the end")
	// ErrRootMismatch: the log's first Size records do not hash to the checkpoint's root: a record up to the
	// checkpoint's size was edited, replaced, inserted or removed, even with every hash after it recomputed.
	ErrRootMismatch = errors.New("records do not match the checkpoint's root: the log was rewritten")
	// ErrUncovered: the log has records after its latest checkpoint, which no signature covers: appended after the
	// last checkpoint by the gateway (a live log) or by someone else (a forgery); nothing tells the two apart.
	ErrUncovered = errors.New("records after the checkpoint are not covered by it")
)

// Problems with checkpoints, export files and keys.
var (
	// ErrCheckpointMalformed: the file is not a checkpoint note in the format this package writes.
	ErrCheckpointMalformed = errors.New("not a signed audit checkpoint")
	// ErrCheckpointSignature: the checkpoint has no valid signature by the given key: it was signed by another key,
	// or edited after signing.
	ErrCheckpointSignature = errors.New("checkpoint signature does not verify")
	// ErrExportMalformed: the file is not an export in the format Export writes.
	ErrExportMalformed = errors.New("not an audit log export")
	// ErrExportProof: the export's records and proof do not hash to its checkpoint's root.
	ErrExportProof = errors.New("exported records do not match the checkpoint")
	// ErrKeyFile: the file is not a key of the expected kind.
	ErrKeyFile = errors.New("not an audit key file")
)

// Errors of a Log.
var (
	// ErrFailed: an earlier write or fsync failed; the Log accepts no more records.
	ErrFailed = errors.New("audit log failed")
	// ErrClosed: the Log was closed.
	ErrClosed = errors.New("audit log closed")
	// ErrLocked: another Log (in this process or another) holds the file's lock.
	ErrLocked = errors.New("audit log is locked by another writer")
)

// Error is the first problem Verify found. Err is one of the sentinels above.
type Error struct {
	File   string // "" when Verify read an io.Reader
	Line   int    // 1-based; 0 when the problem is not one line's (ErrTruncated)
	Seq    uint64 // the seq expected at Line, when known
	Err    error
	Detail string
}

func (e *Error) Error() string {
	where := e.File
	switch {
	case where != "" && e.Line > 0:
		where = fmt.Sprintf("%s:%d", where, e.Line)
	case e.Line > 0:
		where = fmt.Sprintf("line %d", e.Line)
	case where == "":
		where = "audit log"
	}
	msg := where + ": "
	if e.Seq > 0 {
		msg += fmt.Sprintf("seq %d: ", e.Seq)
	}
	msg += e.Err.Error()
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }
