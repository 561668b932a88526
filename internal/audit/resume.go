package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// ownCheckpoint reads the checkpoint Open must hold the log to: the file at Checkpoints.Path, when the Log has a
// verifier for it and the file exists.
func (l *Log) ownCheckpoint() (*Checkpoint, error) {
	c := l.opts.checkpoints
	switch {
	case c == nil:
		return nil, nil
	case c.Path == "":
		return nil, fmt.Errorf("opening audit log %s: checkpoints need a path", l.path)
	case c.Signer != nil && c.Verifier == nil:
		return nil, fmt.Errorf("opening audit log %s: signing checkpoints needs the verifier too, "+
			"to check the checkpoint it replaces", l.path)
	case c.Verifier == nil:
		return nil, nil
	}
	cp, _, err := ReadCheckpoint(c.Path, c.Verifier)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("opening audit log %s: %w (move it away to start a new log with a new key)", l.path, err)
	}
	return &cp, nil
}

// verifyExisting verifies the log from its resume state when that state is usable, else from the start. A problem
// found after the state is checked again by a full pass, so that a wrong state never makes Open refuse a good log.
func (l *Log) verifyExisting(anchor *Anchor, cp *Checkpoint) (*verifier, error) {
	st, reason := l.usableState(anchor, cp)
	if reason == "" {
		v := newVerifier(l.path, anchor)
		v.cp = cp
		err := v.startAt(st)
		if err == nil {
			err = l.runFrom(v, st.bytes)
		}
		if err == nil || errors.Is(err, ErrTornTail) {
			l.opts.logger.Debug("audit log: resumed from its saved state", "file", l.path, "state", st.size,
				"verified", v.sum.Records-st.size)
			return v, err
		}
		reason = fmt.Sprintf("the lines after the saved state do not verify (%v)", err)
	}
	if reason != "new" {
		l.opts.logger.Info("audit log: verifying the whole log", "file", l.path, "reason", reason)
	}
	v := newVerifier(l.path, anchor)
	v.cp = cp
	return v, l.runFrom(v, 0)
}

func (l *Log) runFrom(v *verifier, offset int64) error {
	if _, err := l.f.Seek(offset, io.SeekStart); err != nil {
		return fmt.Errorf("reading %s: %w", l.path, err)
	}
	return v.run(newLineReader(l.f))
}

// usableState returns the resume state, or why it cannot be used ("new" for an empty log without one).
func (l *Log) usableState(anchor *Anchor, cp *Checkpoint) (treeState, string) {
	size, err := fileSize(l.f)
	if err != nil {
		return treeState{}, err.Error()
	}
	st, ok, err := readState(StatePath(l.path))
	switch {
	case err != nil:
		return st, fmt.Sprintf("the resume state is unreadable: %v", err)
	case !ok && size == 0:
		return st, "new"
	case !ok:
		return st, "no resume state"
	}
	if err := matchState(l.f, size, st); err != nil {
		return st, fmt.Sprintf("the resume state does not match the log: %v", err)
	}
	if anchor != nil && anchor.Seq < st.size {
		if err := matchAnchor(l.f, st.bytes, anchor); err != nil {
			return st, fmt.Sprintf("the log before the resume state does not match the anchor: %v", err)
		}
		anchor = nil
	}
	return st, stateAgrees(st, anchor, cp)
}

// matchAnchor checks an anchor older than the resume state: the line with the anchor's seq, found by binary search
// over the first end bytes (seq grows with the offset), must have the anchor's hash.
func matchAnchor(f io.ReaderAt, end int64, a *Anchor) error {
	start, err := searchLines(f, end, func(text []byte) (bool, error) {
		var l struct {
			Seq uint64 `json:"seq"`
		}
		err := json.Unmarshal(text, &l)
		return l.Seq >= a.Seq, err
	})
	if err != nil {
		return err
	}
	_, text, err := lineAfter(f, start, end)
	if err != nil {
		return err
	}
	stored, computed, ok := bodyDigest(text)
	if !ok || stored != computed || stored.String() != a.Hash {
		return fmt.Errorf("the line of seq %d does not have the anchor's hash %s", a.Seq, a.Hash)
	}
	return nil
}

// stateAgrees says why a state that matches the file cannot be used with the anchor and checkpoint, or "".
func stateAgrees(st treeState, anchor *Anchor, cp *Checkpoint) string {
	switch {
	case anchor != nil && anchor.Seq == st.size && anchor.Hash != st.head.String():
		return "the resume state does not match the anchor"
	case cp != nil && cp.Size < st.size:
		return "the checkpoint is older than the resume state"
	}
	if cp != nil && cp.Size == st.size {
		r, err := st.rangeOf()
		if err != nil || !sameRoot(rootOf(r), cp.Root) {
			return "the resume state does not match the checkpoint's root"
		}
	}
	return ""
}
