package audit

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/transparency-dev/merkle/compact"
)

// Log appends records to one file. It is safe for concurrent use; create it with Open.
type Log struct {
	path string
	f    *os.File
	w    file // f, or a test's wrapper of it
	opts options

	// Owned by the writer goroutine once Open returns.
	size  int64 // bytes of complete, synced lines
	batch []*request
	buf   []byte

	wake    chan struct{} // an Append or Close has something for the writer; capacity 1
	stopped chan struct{} // closed when the writer returns

	mu      sync.Mutex
	pending []*request // accepted, not yet taken by the writer, in acceptance order
	closing bool
	failed  error  // wraps ErrFailed; set once
	seq     uint64 // last synced seq
	head    digest // its hash

	tree *compact.Range // the Merkle tree of the synced lines; owned by the writer goroutine once Open returns
	ckpt *checkpointer
}

// file is what the writer needs of the log file; tests wrap it to inject failures or to pause the writer.
type file interface {
	Write(b []byte) (int, error)
	Sync() error
	Truncate(size int64) error
}

// Option configures Open.
type Option func(*options)

type options struct {
	logger   *slog.Logger
	maxBatch int
	anchor   bool
	// checkpoints is nil without WithCheckpoints.
	checkpoints *Checkpoints
	// For tests: wrap the file the writer uses; observe each record as it is accepted (under the Log's lock).
	wrap     func(file) file
	accepted func(Record)
}

// WithLogger sets where Open and the writer report a removed torn tail and a failure. The default discards.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithMaxBatch bounds the records one write and fsync carries (default 1024; values below 1 mean 1).
func WithMaxBatch(n int) Option { return func(o *options) { o.maxBatch = max(n, 1) } }

// WithAnchor makes the Log write the anchor file AnchorPath(path) after each group commit. It costs a second fsync
// per batch. Open checks an existing anchor file whatever this option says.
func WithAnchor(on bool) Option { return func(o *options) { o.anchor = on } }

// Open opens the log at path for appending, creating it (mode 0600) when missing; the parent directory must exist.
// An existing log is verified first and continued from its last line. When the resume state StatePath(path), which
// the Log keeps up to date, matches the file (its last line is where the state says, with the state's seq and hash;
// and it agrees with the anchor and the checkpoint), only the lines after it are read, so the cost of Open does not
// grow with the log; otherwise the whole log is verified in one streaming pass, and the logger says why. A torn last
// line (bytes after the last newline, left by a crash mid-write, never acknowledged) is removed and reported to the
// logger; any other problem in the lines read, a log shorter than its anchor or checkpoint, or a log that does not
// match its checkpoint's root makes Open fail: a broken chain is never appended to. Open takes an exclusive lock on
// the file and fails with ErrLocked while another Log holds it.
func Open(path string, opts ...Option) (*Log, error) {
	o := options{logger: slog.New(slog.DiscardHandler), maxBatch: 1024}
	for _, opt := range opts {
		opt(&o)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening audit log: %w", err)
	}
	l := &Log{path: path, f: f, w: f, opts: o, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	if err := l.resume(); err != nil {
		f.Close()
		return nil, err
	}
	if o.wrap != nil {
		l.w = o.wrap(f)
	}
	l.ckpt = newCheckpointer(path, o.checkpoints, o.logger)
	l.ckpt.offer(treeState{size: l.seq, bytes: l.size, head: l.head, tree: slices.Clone(l.tree.Hashes())})
	go l.run()
	return l, nil
}

// resume locks the file, verifies it, removes a torn tail and sets the chain state from the last line.
func (l *Log) resume() error {
	if fi, err := l.f.Stat(); err != nil {
		return fmt.Errorf("opening audit log: %w", err)
	} else if !fi.Mode().IsRegular() {
		return fmt.Errorf("opening audit log %s: not a regular file", l.path)
	}
	if err := lockFile(l.f); err != nil {
		return fmt.Errorf("opening audit log %s: %w", l.path, err)
	}
	anchor, err := readAnchor(AnchorPath(l.path))
	if err != nil {
		return fmt.Errorf("opening audit log %s: %w", l.path, err)
	}
	cp, err := l.ownCheckpoint()
	if err != nil {
		return err
	}
	v, err := l.verifyExisting(anchor, cp)
	sum := v.summary()
	if err != nil && !errors.Is(err, ErrTornTail) {
		return fmt.Errorf("opening audit log: refusing to append to a log that does not verify: %w", err)
	}
	if sum.TornBytes > 0 {
		if err := l.removeTornTail(sum, v.torn); err != nil {
			return err
		}
	}
	// The file's name must be as durable as the lines acknowledged in it.
	if err := syncDir(filepath.Dir(l.path)); err != nil {
		return fmt.Errorf("opening audit log %s: %w", l.path, err)
	}
	l.seq, l.size, l.head, l.tree = sum.Records, sum.Bytes, v.prev, v.tree
	return nil
}

func (l *Log) removeTornTail(sum Summary, torn []byte) error {
	if err := l.f.Truncate(sum.Bytes); err != nil {
		return fmt.Errorf("opening audit log: removing a torn last line: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("opening audit log: removing a torn last line: %w", err)
	}
	l.opts.logger.Warn("audit log: removed a torn last line left by a crash mid-write; it was never acknowledged",
		"file", l.path, "line", sum.Records+1, "bytes", sum.TornBytes, "start", string(torn))
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// Head returns the seq and hash of the last line known to be on disk (0 and Genesis for an empty log).
func (l *Log) Head() (seq uint64, hash string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.head.String()
}

// Close writes and syncs every record accepted before it, stops the writer and closes the file, releasing the lock.
// Appends after Close fail with ErrClosed. Close returns the Log's failure, if it failed, and ErrClosed when called
// again.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		return fmt.Errorf("closing %s: %w", l.path, ErrClosed)
	}
	l.closing = true
	l.mu.Unlock()
	l.signal()
	<-l.stopped
	l.ckpt.close()
	err := l.f.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	return errors.Join(l.failed, err)
}
