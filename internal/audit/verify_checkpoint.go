package audit

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/note"
)

// VerifyCheckpoint verifies the log at path like VerifyFile, and against a checkpoint signed by v's key: the
// checkpoint's signature first (ErrCheckpointSignature, ErrCheckpointMalformed), then the log must have at least
// the checkpoint's size (ErrShorterThanCheckpoint otherwise: records removed from the end, or a prefix kept) and its
// first Size records must hash to the checkpoint's root (ErrRootMismatch: edited, replaced or rewritten, whatever
// hashes were recomputed). Records after the checkpoint are counted in Summary.Uncovered and, when no other problem
// was found, reported as ErrUncovered: no signature vouches for them (on a live log, the records of the last moments;
// on a stopped gateway's log, which ends with a checkpoint of all its records, a forgery).
func VerifyCheckpoint(path string, checkpoint []byte, v note.Verifier) (Summary, error) {
	empty := Summary{File: path, Head: Genesis}
	cp, err := OpenCheckpoint(checkpoint, v)
	if err != nil {
		return empty, fmt.Errorf("verifying %s: %w", path, err)
	}
	anchor, err := readAnchor(AnchorPath(path))
	if err != nil {
		return empty, err
	}
	f, err := os.Open(path)
	if err != nil {
		return empty, fmt.Errorf("verifying audit log: %w", err)
	}
	defer f.Close()
	ver := newVerifier(path, anchor)
	ver.cp = &cp
	err = ver.run(newLineReader(f))
	sum := ver.summary()
	sum.Checkpoint = &cp
	if sum.Records > cp.Size {
		sum.Uncovered = sum.Records - cp.Size
	}
	if sum.Uncovered > 0 && (err == nil || errors.Is(err, ErrTornTail)) {
		err = &Error{File: path, Seq: cp.Size + 1, Err: ErrUncovered, Detail: fmt.Sprintf(
			"%d records after the checkpoint of %s (seq %d to %d); a stopped gateway leaves none",
			sum.Uncovered, cp.Origin, cp.Size+1, sum.Records)}
	}
	return sum, err
}
