package audit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// logBuffer collects a logger's lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func debugLogger(b *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// appendN appends test records from..to to the log at path and closes it.
func appendN(t *testing.T, path string, from, to int, opts ...Option) {
	t.Helper()
	l := mustOpen(t, path, opts...)
	for i := from; i <= to; i++ {
		if err := l.Append(context.Background(), testRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOpenResumesFromState: after a clean Close, Open reads none of the log's lines — shown by a line of the
// prefix spoiled on disk that Open does not notice (VerifyFile does) — and the tree continues across Opens: the
// checkpoint after more appends has the root of the whole file.
func TestOpenResumesFromState(t *testing.T) {
	t.Parallel()
	c := newCheckpointedLog(t, 20)
	spoiled := bytes.Replace(c.data, []byte("req-3\""), []byte("req-X\""), 1)
	writeFile(t, c.path, spoiled)
	var logs logBuffer
	opts := WithCheckpoints(Checkpoints{Path: c.cpPath, Signer: c.key.Signer, Verifier: c.key.Verifier})
	appendN(t, c.path, 21, 25, opts, WithLogger(debugLogger(&logs)))
	if !strings.Contains(logs.String(), "resumed from its saved state") || !strings.Contains(logs.String(), "verified=0") {
		t.Fatalf("Open did not resume from the state:\n%s", logs.String())
	}
	if _, err := VerifyFile(c.path); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("VerifyFile of the spoiled prefix: %v", err)
	}
	writeFile(t, c.path, bytes.Replace(readFile(t, c.path), []byte("req-X\""), []byte("req-3\""), 1))
	sum, err := VerifyCheckpoint(c.path, readFile(t, c.cpPath), c.key.Verifier)
	if err != nil || sum.Records != 25 || !bytes.Equal(sum.Root, refRoot(lines(readFile(t, c.path)))) {
		t.Fatalf("after resuming and appending: %d records, %v", sum.Records, err)
	}
}

// TestOpenWithoutUsableState: Open falls back to verifying the whole log, and says why, when the state is missing,
// unreadable, or does not match the log; a problem in the lines after a usable state is still refused.
func TestOpenWithoutUsableState(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, reason string
		spoil        func(t *testing.T, path string)
	}{
		{"missing", "no resume state", func(t *testing.T, path string) { os.Remove(StatePath(path)) }},
		{"garbage", "unreadable", func(t *testing.T, path string) { writeFile(t, StatePath(path), []byte("{")) }},
		{"log replaced", "does not match the log", func(t *testing.T, path string) {
			data := readFile(t, path)
			writeFile(t, path, join(rechain(lines(bytes.Replace(data, []byte("req-8\""), []byte("req-88\""), 1)), 7)))
		}},
		{"log shortened", "does not match the log", func(t *testing.T, path string) {
			writeFile(t, path, join(lines(readFile(t, path))[:9]))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path, _ := newLogFile(t, 10)
			tc.spoil(t, path)
			var logs logBuffer
			appendN(t, path, 11, 11, WithLogger(debugLogger(&logs)))
			if !strings.Contains(logs.String(), "verifying the whole log") || !strings.Contains(logs.String(), tc.reason) {
				t.Fatalf("want a full pass because of %q, logged:\n%s", tc.reason, logs.String())
			}
			if _, err := VerifyFile(path); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestOpenChecksLinesAfterState: a stale state (older than the log) makes Open read the lines after it, and a
// line spoiled there is refused.
func TestOpenChecksLinesAfterState(t *testing.T) {
	t.Parallel()
	path, _ := newLogFile(t, 5)
	old := readFile(t, StatePath(path))
	appendN(t, path, 6, 10)
	writeFile(t, StatePath(path), old)
	writeFile(t, path, bytes.Replace(readFile(t, path), []byte("req-7\""), []byte("req-X\""), 1))
	_, err := Open(path)
	wantProblem(t, err, ErrHashMismatch, 7)
}

// TestCheckpointsOfALiveLog: each checkpoint the Log writes covers what was synced, the publisher gets each one
// written, a failing publisher never fails an Append, and LastCheckpoint reports the latest.
func TestCheckpointsOfALiveLog(t *testing.T) {
	t.Parallel()
	key := testKey(t, "live")
	dir := t.TempDir()
	path, cpPath := filepath.Join(dir, "audit.log"), filepath.Join(t.TempDir(), "cp")
	var mu sync.Mutex
	var published [][]byte
	pub := PublishFunc(func(_ context.Context, cp []byte) error {
		mu.Lock()
		defer mu.Unlock()
		published = append(published, cp)
		return errors.New("peer unreachable")
	})
	var logs logBuffer
	l := mustOpen(t, path, WithLogger(debugLogger(&logs)),
		WithCheckpoints(Checkpoints{Path: cpPath, Signer: key.Signer, Verifier: key.Verifier, Origin: "example.org/gw-0", Publisher: pub}))
	for i := 1; i <= 40; i++ {
		if err := l.Append(context.Background(), testRecord(i)); err != nil {
			t.Fatal(err)
		}
		if i == 20 {
			// Any checkpoint taken while the log is live verifies against the log, with the rest uncovered.
			if sum, err := VerifyCheckpoint(path, readFile(t, cpPath), key.Verifier); err != nil && !errors.Is(err, ErrUncovered) {
				t.Fatalf("live checkpoint: %+v, %v", sum, err)
			}
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	last, err := l.LastCheckpoint()
	if err != nil || last.Size != 40 || last.Origin != "example.org/gw-0" {
		t.Fatalf("LastCheckpoint: %+v, %v", last, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(published) == 0 || !bytes.Equal(published[len(published)-1], readFile(t, cpPath)) {
		t.Fatalf("published %d checkpoints, the last not the file's", len(published))
	}
	if !strings.Contains(logs.String(), "peer unreachable") {
		t.Fatalf("publish failure not logged:\n%s", logs.String())
	}
}

// TestCheckpointWriteFailure: a checkpoint that cannot be written is logged and reported by LastCheckpoint; the
// records are still appended.
func TestCheckpointWriteFailure(t *testing.T) {
	t.Parallel()
	key := testKey(t, "k")
	path := filepath.Join(t.TempDir(), "audit.log")
	cpPath := filepath.Join(t.TempDir(), "missing-dir", "cp")
	appendN(t, path, 1, 3, WithCheckpoints(Checkpoints{Path: cpPath, Signer: key.Signer, Verifier: key.Verifier}))
	l := mustOpen(t, path, WithCheckpoints(Checkpoints{Path: cpPath, Signer: key.Signer, Verifier: key.Verifier}))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.LastCheckpoint(); err == nil {
		t.Fatal("LastCheckpoint: no error for a checkpoint that could not be written")
	}
	if sum, err := VerifyFile(path); err != nil || sum.Records != 3 {
		t.Fatalf("%d records, %v", sum.Records, err)
	}
	if _, err := Open(path, WithCheckpoints(Checkpoints{Path: cpPath, Signer: key.Signer})); err == nil {
		t.Fatal("Open signing checkpoints without a verifier")
	}
}

// TestOpenWithOldAnchor: an anchor older than the resume state (the anchor was turned off later) is checked by a
// binary search for its line, without a full pass; an anchor that does not match is still refused.
func TestOpenWithOldAnchor(t *testing.T) {
	t.Parallel()
	path, _ := newLogFile(t, 7, WithAnchor(true))
	appendN(t, path, 8, 40)
	var logs logBuffer
	appendN(t, path, 41, 41, WithLogger(debugLogger(&logs)))
	if !strings.Contains(logs.String(), "resumed from its saved state") {
		t.Fatalf("an old anchor forced a full pass:\n%s", logs.String())
	}
	data := readFile(t, AnchorPath(path))
	writeFile(t, AnchorPath(path), bytes.Replace(data, []byte(`"seq":7`), []byte(`"seq":6`), 1))
	_, err := Open(path, WithLogger(debugLogger(&logs)))
	wantProblem(t, err, ErrAnchorMismatch, 6)
	if !strings.Contains(logs.String(), "does not match the anchor") {
		t.Fatalf("the full pass's reason is not logged:\n%s", logs.String())
	}
}
