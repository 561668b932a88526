package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// t0 is the time of the first test record; later ones follow a second apart.
var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// testRecord is the i-th record of a test log, varied enough to exercise every field.
func testRecord(i int) Record {
	r := Record{
		Time:      t0.Add(time.Duration(i) * time.Second),
		Event:     "decision",
		RequestID: fmt.Sprintf("req-%d", i),
		Caller:    "ai-lab/agent-worker",
		Remote:    "10.0.0.7:51234",
		Server:    "github",
		Tool:      "create_issue",
		Method:    "tools/call",
		Decision:  []string{"allow", "deny", "approval"}[i%3],
		Rule:      fmt.Sprintf("agents[ai-lab/agent-worker].grants[%d]", i%4),
		Reason:    "granted <tools> & \"quotes\" é",
	}
	if i%3 == 1 {
		r.Event, r.Decision, r.Status, r.DurationMS, r.Tokens = "result", "", "ok", 12.5, 321
	}
	return r
}

// newLogFile writes a log of n test records and returns its path and bytes.
func newLogFile(t *testing.T, n int, opts ...Option) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	l := mustOpen(t, path, opts...)
	for i := 1; i <= n; i++ {
		if err := l.Append(context.Background(), testRecord(i)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path, readFile(t, path)
}

func mustOpen(t *testing.T, path string, opts ...Option) *Log {
	t.Helper()
	l, err := Open(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// lines splits a log into its lines, newlines kept (a torn tail is the last element).
func lines(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n') + 1
		if i == 0 {
			i = len(data)
		}
		out = append(out, data[:i:i])
		data = data[i:]
	}
	return out
}

func join(ls [][]byte) []byte { return bytes.Join(ls, nil) }

// rehash gives a line (newline included) the hash of its own body, as a forger would.
func rehash(ln []byte) []byte {
	body := append(bytes.Clone(ln[:len(ln)-1-suffixLen]), '}')
	sum := sha256.Sum256(body)
	return fmt.Appendf(body[:len(body)-1], `%s%s"}`+"\n", hashKey, hex.EncodeToString(sum[:]))
}

// wantProblem checks that err is an *Error wrapping want, at line (when line > 0).
func wantProblem(t *testing.T, err, want error, line int) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, want) {
		t.Fatalf("error %v, want an *Error wrapping %q", err, want)
	}
	if line > 0 && e.Line != line {
		t.Fatalf("error %v at line %d, want line %d", err, e.Line, line)
	}
}

// hookFile wraps the writer's file: it counts fsyncs and lets a test fail or pause writes and fsyncs.
type hookFile struct {
	file
	syncs   atomic.Int64
	onWrite func(f file, b []byte) (int, error) // nil: write through
	onSync  func(n int64) error                 // called before each fsync with its 1-based number
}

func (h *hookFile) Write(b []byte) (int, error) {
	if h.onWrite != nil {
		return h.onWrite(h.file, b)
	}
	return h.file.Write(b)
}

func (h *hookFile) Sync() error {
	n := h.syncs.Add(1)
	if h.onSync != nil {
		if err := h.onSync(n); err != nil {
			return err
		}
	}
	return h.file.Sync()
}

// withHook makes Open use h around its file.
func withHook(h *hookFile) Option {
	return func(o *options) {
		o.wrap = func(f file) file {
			h.file = f
			return h
		}
	}
}

// withAccepted makes Open call fn with each record as it is accepted, under the Log's lock.
func withAccepted(fn func(Record)) Option {
	return func(o *options) { o.accepted = fn }
}

// pausedWriter returns a hook whose first fsync waits until release is closed; entered is closed when it starts.
func pausedWriter() (h *hookFile, entered, release chan struct{}) {
	entered, release = make(chan struct{}), make(chan struct{})
	h = &hookFile{onSync: func(n int64) error {
		if n == 1 {
			close(entered)
			<-release
		}
		return nil
	}}
	return h, entered, release
}

// refRoot is RFC 6962's Merkle tree hash of a log's lines (newlines stripped), computed from the RFC's recursive
// definition, independently of the compact ranges the package uses: MTH({}) = SHA-256(""), MTH({d}) =
// SHA-256(0x00 || d), MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])) for the largest power of two k < n.
func refRoot(ls [][]byte) []byte {
	switch len(ls) {
	case 0:
		s := sha256.Sum256(nil)
		return s[:]
	case 1:
		s := sha256.Sum256(append([]byte{0}, bytes.TrimSuffix(ls[0], []byte("\n"))...))
		return s[:]
	}
	k := 1
	for k*2 < len(ls) {
		k *= 2
	}
	s := sha256.Sum256(append(append([]byte{1}, refRoot(ls[:k])...), refRoot(ls[k:])...))
	return s[:]
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
