package audit

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// request is one accepted Append waiting for the writer.
type request struct {
	rec   []byte // encodeRecord's output
	state requestState
	done  chan result // capacity 1: the writer never blocks on it
}

type requestState int

const (
	pending   requestState = iota // in Log.pending
	taken                         // in the batch being written: it will be chained
	withdrawn                     // its Append was cancelled first: the writer skips it
)

type result struct {
	seq uint64
	err error
}

var _ Appender = (*Log)(nil)

// Append adds r to the log and returns once its line is written and fsync'ed, with the lines of every Append accepted
// before it. A zero r.Time is set to the current time (UTC). Records are chained in the order their Appends are
// accepted, which is the order of entry for Appends that do not overlap.
//
// When ctx ends first, Append returns an error wrapping ctx.Err() and the chain stays whole either way: a record the
// writer has not taken yet is withdrawn and never written; a record already in the batch being written is written
// and chained like the others — the caller just stops waiting. An error therefore means "not acknowledged: do not
// forward the call"; it does not mean that the record is absent from the log.
//
// After a write or fsync error every Append returns an error wrapping ErrFailed; after Close, ErrClosed.
func (l *Log) Append(ctx context.Context, r Record) error {
	_, err := l.append(ctx, r)
	return err
}

// append is Append that also returns the record's seq.
func (l *Log) append(ctx context.Context, r Record) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("audit: record not appended: %w", err)
	}
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	rec, err := encodeRecord(r)
	if err != nil {
		return 0, err
	}
	if len(rec)+suffixLen+200 > MaxLineBytes {
		return 0, fmt.Errorf("audit: record of %d bytes is too large for a line of at most %d", len(rec), MaxLineBytes)
	}
	req := &request{rec: rec, done: make(chan result, 1)}
	if err := l.accept(req, r); err != nil {
		return 0, err
	}
	l.signal()
	select {
	case res := <-req.done:
		return res.seq, res.err
	case <-ctx.Done():
		return l.abandon(req, ctx.Err())
	}
}

func (l *Log) accept(req *request, r Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.failed != nil:
		return l.failed
	case l.closing:
		return fmt.Errorf("appending to %s: %w", l.path, ErrClosed)
	}
	l.pending = append(l.pending, req)
	if l.opts.accepted != nil {
		l.opts.accepted(r)
	}
	return nil
}

// abandon ends an Append whose ctx ended: it withdraws the request if the writer has not taken it.
func (l *Log) abandon(req *request, cause error) (uint64, error) {
	l.mu.Lock()
	wasPending := req.state == pending
	if wasPending {
		req.state = withdrawn
	}
	l.mu.Unlock()
	if wasPending {
		return 0, fmt.Errorf("audit: append cancelled before it was written; the record is not in the log: %w", cause)
	}
	select {
	case res := <-req.done:
		return res.seq, res.err
	default:
		return 0, fmt.Errorf("audit: append cancelled while its batch was being written; "+
			"the record will be in the log unless the write fails: %w", cause)
	}
}

// signal wakes the writer without blocking; one pending signal is enough, since the writer drains everything.
func (l *Log) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// run is the writer: it takes whatever is pending, writes it with one write and one fsync, releases the waiters, and
// repeats; it returns once closing with nothing pending.
func (l *Log) run() {
	defer close(l.stopped)
	for {
		batch, stop := l.take()
		switch {
		case len(batch) > 0:
			l.commit(batch)
		case stop:
			return
		default:
			<-l.wake
		}
	}
}

// take moves up to maxBatch pending requests, in order, into the batch. A failed Log fails them all instead.
func (l *Log) take() (batch []*request, stop bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed != nil {
		for _, r := range l.pending {
			r.done <- result{err: l.failed}
		}
		clear(l.pending)
		l.pending = l.pending[:0]
		return nil, l.closing
	}
	batch = l.batch[:0]
	i := 0
	for ; i < len(l.pending) && len(batch) < l.opts.maxBatch; i++ {
		if r := l.pending[i]; r.state == pending {
			r.state = taken
			batch = append(batch, r)
		}
	}
	n := copy(l.pending, l.pending[i:])
	clear(l.pending[n:])
	l.pending = l.pending[:n]
	l.batch = batch
	return batch, l.closing && n == 0
}

// commit chains, writes and syncs one batch, then releases its waiters.
func (l *Log) commit(batch []*request) {
	seq, head := l.seq, l.head
	buf, leaves := l.buf[:0], make([][]byte, 0, len(batch))
	for _, r := range batch {
		seq++
		start := len(buf)
		buf, head = appendLine(buf, seq, head, r.rec)
		leaves = append(leaves, leafHash(buf[start:len(buf)-1]))
	}
	l.buf = buf
	err := l.write(buf)
	if err == nil {
		l.size += int64(len(buf))
		l.grow(leaves, seq, head)
		if l.opts.anchor {
			// The batch is durable whatever happens to the anchor; a failed anchor fails the Log for later Appends.
			if aerr := writeAnchor(AnchorPath(l.path), Anchor{Seq: seq, Hash: head.String()}); aerr != nil {
				l.fail(aerr)
			}
		}
	} else {
		err = l.fail(err)
	}
	first := seq - uint64(len(batch)) + 1
	for i, r := range batch {
		if err != nil {
			r.done <- result{err: err}
		} else {
			r.done <- result{seq: first + uint64(i)}
		}
	}
	clear(batch)
}

// grow records a synced batch: the new head, its leaves in the tree, and the state offered to the checkpointer.
func (l *Log) grow(leaves [][]byte, seq uint64, head digest) {
	l.mu.Lock()
	l.seq, l.head = seq, head
	l.mu.Unlock()
	for _, h := range leaves {
		_ = l.tree.Append(h, nil) // a range from 0 grows without error
	}
	l.ckpt.offer(treeState{size: seq, bytes: l.size, head: head, tree: slices.Clone(l.tree.Hashes())})
}

// write writes and syncs buf. On error it tries to cut the file back to its last synced line, so that no record whose
// Append failed stays behind as a complete line; whether that works, the next Open verifies what is there.
func (l *Log) write(buf []byte) error {
	_, err := l.w.Write(buf)
	if err == nil {
		if err = l.w.Sync(); err != nil {
			err = fmt.Errorf("syncing %s: %w", l.path, err)
		}
	} else {
		err = fmt.Errorf("writing %s: %w", l.path, err)
	}
	if err != nil {
		if terr := l.w.Truncate(l.size); terr != nil {
			l.opts.logger.Error("audit log: could not remove a failed batch", "file", l.path, "err", terr)
		}
	}
	return err
}

// fail marks the Log failed (once) and returns the failure.
func (l *Log) fail(cause error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed == nil {
		l.failed = fmt.Errorf("%w: %w", ErrFailed, cause)
		l.opts.logger.Error("audit log failed; every later append fails", "file", l.path, "err", cause)
	}
	return l.failed
}
