package audit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Checkpoints configure the signed checkpoints a Log writes (WithCheckpoints).
type Checkpoints struct {
	// Path is the file that holds the latest signed checkpoint, replaced atomically (a synced temporary file renamed
	// over it). Put it where the log's writer cannot rewrite history: another volume, or at least keep copies
	// elsewhere (Publisher).
	Path string
	// Signer signs each checkpoint (LoadKey, LoadOrCreateKey).
	Signer note.Signer
	// Verifier checks the checkpoint already at Path when Open starts; nil skips that check. Key.Verifier.
	Verifier note.Verifier
	// Origin names the log on the checkpoint's first line; default the signer's name.
	Origin string
	// Publisher, when set, is handed each checkpoint after it is written, for copies another principal keeps.
	Publisher Publisher
	// Interval is the least time between two checkpoints. 0: one after every group commit, except that commits
	// made while a checkpoint is being written share the next one.
	Interval time.Duration
	// PublishTimeout bounds one Publish call (default 10 s).
	PublishTimeout time.Duration
}

// Publisher hands a checkpoint (a signed note, as written to Checkpoints.Path) to somewhere else: a peer, a
// Kubernetes object, a write-once bucket. Publish runs on the checkpoint goroutine: a slow or failing Publisher
// delays later checkpoints (they are coalesced), never an Append. Failures are logged.
type Publisher interface {
	Publish(ctx context.Context, checkpoint []byte) error
}

// PublishFunc makes a function a Publisher.
type PublishFunc func(ctx context.Context, checkpoint []byte) error

// Publish calls f.
func (f PublishFunc) Publish(ctx context.Context, checkpoint []byte) error { return f(ctx, checkpoint) }

// WithCheckpoints makes the Log sign and write a checkpoint after its group commits, and makes Open check the
// checkpoint at c.Path (when c.Verifier is set and the file exists): the log must reach its size with its root.
func WithCheckpoints(c Checkpoints) Option {
	return func(o *options) { o.checkpoints = &c }
}

// stateInterval is the least time between two resume states when the Log signs no checkpoints.
const stateInterval = time.Second

// checkpointer writes the resume state and the signed checkpoint of the latest state the writer offers, on its own
// goroutine, so that neither the signature nor the checkpoint's fsync delays an Append.
type checkpointer struct {
	logPath string
	cfg     Checkpoints // Signer nil: the resume state only
	logger  *slog.Logger

	mu      sync.Mutex
	next    *treeState
	stateAt uint64 // size of the last state written
	last    Checkpoint
	lastErr error

	wake, closing, done chan struct{}
}

func newCheckpointer(logPath string, cfg *Checkpoints, logger *slog.Logger) *checkpointer {
	c := &checkpointer{logPath: logPath, logger: logger, stateAt: ^uint64(0),
		wake: make(chan struct{}, 1), closing: make(chan struct{}), done: make(chan struct{})}
	if cfg != nil {
		c.cfg = *cfg
	}
	if c.cfg.Signer != nil && c.cfg.Origin == "" {
		c.cfg.Origin = c.cfg.Signer.Name()
	}
	if c.cfg.Signer == nil {
		c.cfg.Interval = max(c.cfg.Interval, stateInterval)
	}
	c.cfg.PublishTimeout = cmpOr(c.cfg.PublishTimeout, 10*time.Second)
	go c.run()
	return c
}

func cmpOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// offer replaces the state waiting to be written; the writer never blocks on it.
func (c *checkpointer) offer(s treeState) {
	c.mu.Lock()
	c.next = &s
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// close writes the last state offered and stops the goroutine.
func (c *checkpointer) close() {
	close(c.closing)
	<-c.done
}

func (c *checkpointer) take() *treeState {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.next
	c.next = nil
	return s
}

func (c *checkpointer) run() {
	defer close(c.done)
	for {
		if s := c.take(); s != nil {
			c.write(*s)
			c.pause()
			continue
		}
		select {
		case <-c.wake:
		case <-c.closing:
			if s := c.take(); s != nil {
				c.write(*s)
			}
			return
		}
	}
}

// pause waits out the interval after a checkpoint, or until close.
func (c *checkpointer) pause() {
	if c.cfg.Interval <= 0 {
		return
	}
	t := time.NewTimer(c.cfg.Interval)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.closing:
	}
}

// write writes the resume state, then the signed checkpoint of the same state, then publishes it.
func (c *checkpointer) write(s treeState) {
	r, err := s.rangeOf()
	if err != nil { // the writer's own range: cannot happen
		c.record(Checkpoint{}, fmt.Errorf("audit checkpoint: %w", err))
		return
	}
	if s.size != c.stateAt {
		if err := writeState(StatePath(c.logPath), s); err != nil {
			c.logger.Warn("audit log: resume state not written; the next start verifies more of the log", "err", err)
		} else {
			c.stateAt = s.size
		}
	}
	if c.cfg.Signer == nil {
		return
	}
	cp := Checkpoint{Origin: c.cfg.Origin, Size: s.size, Root: rootOf(r), Head: s.head.String()}
	msg, err := SignCheckpoint(cp, c.cfg.Signer)
	if err == nil {
		err = writeFileAtomic(c.cfg.Path, msg, 0o644, true)
	}
	if err != nil {
		err = fmt.Errorf("audit checkpoint of seq %d: %w", s.size, err)
		c.logger.Error("audit log: checkpoint not written; records after the last one are not covered", "err", err)
		c.record(Checkpoint{}, err)
		return
	}
	c.record(cp, nil)
	c.publish(cp, msg)
}

func (c *checkpointer) publish(cp Checkpoint, msg []byte) {
	if c.cfg.Publisher == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.PublishTimeout)
	defer cancel()
	if err := c.cfg.Publisher.Publish(ctx, msg); err != nil {
		c.logger.Warn("audit log: checkpoint not published", "seq", cp.Size, "err", err)
	}
}

func (c *checkpointer) record(cp Checkpoint, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		c.last = cp
	}
	c.lastErr = err
}

// LastCheckpoint returns the latest checkpoint the Log wrote (zero before the first) and the error of the latest
// attempt (nil when it succeeded): for readiness probes and metrics. Without WithCheckpoints both are zero.
func (l *Log) LastCheckpoint() (Checkpoint, error) {
	l.ckpt.mu.Lock()
	defer l.ckpt.mu.Unlock()
	return l.ckpt.last, l.ckpt.lastErr
}
