package activities

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/agops/agops/internal/llm"
)

// TranscriptStore keeps agent transcripts outside the workflow history. Writes are positional, so that a retried
// activity overwrites what its dead predecessor wrote instead of appending twice.
type TranscriptStore interface {
	// Put stores msgs as messages from, from+1, … of transcript key, dropping any message after them. The
	// transcript must hold at least from messages.
	Put(ctx context.Context, key string, from int, msgs ...llm.Message) error
	// Get returns the first n messages of transcript key; fewer than n is an error.
	Get(ctx context.Context, key string, n int) ([]llm.Message, error)
}

// FileStore is a TranscriptStore in a directory: one JSON-lines file per transcript, replaced atomically (written
// to a temporary file, synced, renamed) on every Put. Several workers on one machine (or one shared volume) may use
// the same directory.
type FileStore struct {
	Dir string
	mu  sync.Mutex
}

var _ TranscriptStore = (*FileStore)(nil)

func (s *FileStore) path(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(s.Dir, hex.EncodeToString(sum[:16])+".jsonl")
}

// Put implements TranscriptStore.
func (s *FileStore) Put(_ context.Context, key string, from int, msgs ...llm.Message) error {
	if from < 0 {
		return fmt.Errorf("transcript %s: cannot store message %d", key, from)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.read(key)
	if err != nil {
		return err
	}
	if len(old) < from {
		return fmt.Errorf("transcript %s has %d messages; cannot store message %d", key, len(old), from)
	}
	var buf bytes.Buffer
	for _, m := range append(old[:from:from], msgs...) {
		b, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("transcript %s: %w", key, err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return writeAtomic(s.path(key), buf.Bytes())
}

// Get implements TranscriptStore.
func (s *FileStore) Get(_ context.Context, key string, n int) ([]llm.Message, error) {
	if n < 0 {
		return nil, fmt.Errorf("transcript %s: cannot get %d messages", key, n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	msgs, err := s.read(key)
	if err != nil {
		return nil, err
	}
	if len(msgs) < n {
		return nil, fmt.Errorf("transcript %s has %d messages, want %d", key, len(msgs), n)
	}
	return msgs[:n], nil
}

func (s *FileStore) read(key string) ([]llm.Message, error) {
	data, err := os.ReadFile(s.path(key))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("reading transcript %s: %w", key, err)
	}
	var msgs []llm.Message
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var m llm.Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("transcript %s, message %d: %w", key, len(msgs), err)
		}
		msgs = append(msgs, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading transcript %s: %w", key, err)
	}
	return msgs, nil
}

// writeAtomic replaces path with data: temporary file, fsync, rename.
func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".transcript-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
