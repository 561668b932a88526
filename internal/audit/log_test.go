package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	path, data := newLogFile(t, 3)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("log file mode: %v %v, want 0600", fi.Mode(), err)
	}
	prev := Genesis
	for i, ln := range lines(data) {
		var got line
		if err := json.Unmarshal(ln, &got); err != nil {
			t.Fatal(err)
		}
		if got.V != Version || got.Seq != uint64(i+1) || got.Prev != prev {
			t.Errorf("line %d: v %d seq %d prev %s, want v 1 seq %d prev %s", i+1, got.V, got.Seq, got.Prev, i+1, prev)
		}
		if want := testRecord(i + 1); got.Record != want {
			t.Errorf("line %d: record\n%+v\nwant\n%+v", i+1, got.Record, want)
		}
		prev = got.Hash
	}
	sum, err := VerifyFile(path)
	if err != nil || sum.Records != 3 || sum.Head != prev {
		t.Fatalf("VerifyFile: %d records head %s, %v; want 3 records head %s", sum.Records, sum.Head, err, prev)
	}

	// Resume: the chain goes on from the last line.
	l := mustOpen(t, path)
	if seq, head := l.Head(); seq != 3 || head != prev {
		t.Fatalf("Head after reopening: %d %s, want 3 %s", seq, head, prev)
	}
	if err := l.Append(context.Background(), testRecord(4)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if sum, err := VerifyFile(path); err != nil || sum.Records != 4 {
		t.Fatalf("after resuming: %d records, %v", sum.Records, err)
	}
	if got := readFile(t, path); !bytes.HasPrefix(got, data) {
		t.Fatal("resuming changed the existing lines")
	}
}

// TestLineIsEncodingJSON holds appendLine to its promise: the hashed body is encoding/json's output for the line
// struct without the hash, and the line is encoding/json's output with it.
func TestLineIsEncodingJSON(t *testing.T) {
	t.Parallel()
	type unhashed struct {
		V    int    `json:"v"`
		Seq  uint64 `json:"seq"`
		Prev string `json:"prev"`
		Record
	}
	marshal := func(v any) []byte {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	prev := digest{}
	for i := 1; i <= 6; i++ {
		rec, err := encodeRecord(testRecord(i))
		if err != nil {
			t.Fatal(err)
		}
		got, sum := appendLine(nil, uint64(i), prev, rec)
		body := marshal(unhashed{V: Version, Seq: uint64(i), Prev: prev.String(), Record: testRecord(i)})
		hashed := append(bytes.Clone(got[:len(got)-1-suffixLen]), '}', '\n')
		if !bytes.Equal(hashed, body) || digest(sha256.Sum256(body[:len(body)-1])) != sum {
			t.Fatalf("line %d: hashed body\n%s\nencoding/json\n%s", i, hashed, body)
		}
		full := marshal(line{V: Version, Seq: uint64(i), Prev: prev.String(), Record: testRecord(i), Hash: sum.String()})
		if !bytes.Equal(got, full) {
			t.Fatalf("line %d\n%s\nencoding/json\n%s", i, got, full)
		}
		prev = sum
	}
}

func TestZeroTimeIsStamped(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	l := mustOpen(t, path)
	if err := l.Append(context.Background(), Record{Event: "decision"}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	sum, err := VerifyFile(path)
	if err != nil || sum.First.IsZero() || sum.First.Location().String() != "UTC" {
		t.Fatalf("first time %v, %v; want the current time in UTC", sum.First, err)
	}
}

// TestConcurrentAppends: 64 goroutines; every record is in the log once, in the order the Appends were accepted.
func TestConcurrentAppends(t *testing.T) {
	t.Parallel()
	const goroutines, each = 64, 40
	var accepted []string // appended under the Log's lock
	hook := &hookFile{}
	path := filepath.Join(t.TempDir(), "audit.log")
	l := mustOpen(t, path, withHook(hook), withAccepted(func(r Record) { accepted = append(accepted, r.RequestID) }))
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				r := Record{Event: "decision", RequestID: fmt.Sprintf("g%d-%d", g, i)}
				if err := l.Append(context.Background(), r); err != nil {
					t.Errorf("append g%d-%d: %v", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	sum, err := VerifyFile(path)
	if err != nil || sum.Records != goroutines*each {
		t.Fatalf("VerifyFile: %d records, %v; want %d", sum.Records, err, goroutines*each)
	}
	var logged []string
	for _, ln := range lines(readFile(t, path)) {
		var l line
		if err := json.Unmarshal(ln, &l); err != nil {
			t.Fatal(err)
		}
		logged = append(logged, l.RequestID)
	}
	if len(accepted) != len(logged) {
		t.Fatalf("%d accepted, %d logged", len(accepted), len(logged))
	}
	seen := map[string]bool{}
	for i := range logged {
		if logged[i] != accepted[i] || seen[logged[i]] {
			t.Fatalf("line %d is %s, accepted %d-th was %s (or it repeats)", i+1, logged[i], i+1, accepted[i])
		}
		seen[logged[i]] = true
	}
	t.Logf("%d appends, %d fsyncs", len(logged), hook.syncs.Load())
}

// TestGroupCommit: Appends that arrive during an fsync share the next one, up to WithMaxBatch.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		maxBatch  int
		wantSyncs int64
	}{{1024, 2}, {4, 4}, {1, 11}} {
		t.Run(fmt.Sprintf("max-batch-%d", tc.maxBatch), func(t *testing.T) {
			t.Parallel()
			hook, entered, release := pausedWriter()
			acceptedCh := make(chan string, 20)
			l := mustOpen(t, filepath.Join(t.TempDir(), "audit.log"), withHook(hook), WithMaxBatch(tc.maxBatch),
				withAccepted(func(r Record) { acceptedCh <- r.RequestID }))
			var wg sync.WaitGroup
			appendAsync(t, &wg, l, context.Background(), "first")
			<-entered // the writer is in the first fsync
			for i := range 10 {
				appendAsync(t, &wg, l, context.Background(), fmt.Sprint(i))
			}
			for range 11 {
				<-acceptedCh
			}
			close(release)
			wg.Wait()
			if got := hook.syncs.Load(); got != tc.wantSyncs {
				t.Fatalf("%d fsyncs for 11 appends, want %d", got, tc.wantSyncs)
			}
		})
	}
}

func appendAsync(t *testing.T, wg *sync.WaitGroup, l *Log, ctx context.Context, id string) {
	wg.Go(func() {
		if err := l.Append(ctx, Record{Event: "decision", RequestID: id}); err != nil {
			t.Errorf("append %s: %v", id, err)
		}
	})
}

// requestIDs are the RequestIDs of a verified log, in order.
func requestIDs(t *testing.T, path string) []string {
	t.Helper()
	if _, err := VerifyFile(path); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ln := range lines(readFile(t, path)) {
		var l line
		if err := json.Unmarshal(ln, &l); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, l.RequestID)
	}
	return ids
}

// TestCancelPendingIsWithdrawn: an Append cancelled before the writer took it leaves no line, and no gap.
func TestCancelPendingIsWithdrawn(t *testing.T) {
	t.Parallel()
	hook, entered, release := pausedWriter()
	acceptedCh := make(chan string, 5)
	path := filepath.Join(t.TempDir(), "audit.log")
	l := mustOpen(t, path, withHook(hook), withAccepted(func(r Record) { acceptedCh <- r.RequestID }))
	var wg sync.WaitGroup
	appendAsync(t, &wg, l, context.Background(), "a")
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	errB := make(chan error, 1)
	go func() { errB <- l.Append(ctx, Record{Event: "decision", RequestID: "b"}) }()
	<-acceptedCh
	<-acceptedCh // a and b are accepted; b waits behind the paused fsync
	cancel()
	if err := <-errB; !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "not in the log") {
		t.Fatalf("cancelled append: %v", err)
	}
	appendAsync(t, &wg, l, context.Background(), "c")
	<-acceptedCh
	close(release)
	wg.Wait()
	l.Close()
	if ids := requestIDs(t, path); strings.Join(ids, ",") != "a,c" {
		t.Fatalf("log holds %v, want [a c]", ids)
	}
}

// TestCancelInFlightIsWritten: an Append cancelled while its batch is being written returns at once with an error,
// and its record is still written and chained.
func TestCancelInFlightIsWritten(t *testing.T) {
	t.Parallel()
	hook, entered, release := pausedWriter()
	path := filepath.Join(t.TempDir(), "audit.log")
	l := mustOpen(t, path, withHook(hook))
	ctx, cancel := context.WithCancel(context.Background())
	errA := make(chan error, 1)
	go func() { errA <- l.Append(ctx, Record{Event: "decision", RequestID: "a"}) }()
	<-entered // a's batch is in its fsync
	cancel()
	if err := <-errA; !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "will be in the log") {
		t.Fatalf("cancelled append: %v", err)
	}
	close(release)
	if err := l.Append(context.Background(), Record{Event: "decision", RequestID: "b"}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if ids := requestIDs(t, path); strings.Join(ids, ",") != "a,b" {
		t.Fatalf("log holds %v, want [a b]", ids)
	}
}

func TestCancelledBeforeAppend(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	l := mustOpen(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Append(ctx, testRecord(1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("append with a cancelled context: %v", err)
	}
	l.Close()
	if ids := requestIDs(t, path); len(ids) != 0 {
		t.Fatalf("log holds %v", ids)
	}
}

// TestWriteFailureFailsLog: after a failed fsync or write, the batch's Appends and every later one fail, the failed
// batch is cut off, and the log can be reopened.
func TestWriteFailureFailsLog(t *testing.T) {
	t.Parallel()
	injected := errors.New("injected: no space left on device")
	for name, hook := range map[string]*hookFile{
		"fsync": {onSync: func(n int64) error {
			if n == 3 {
				return injected
			}
			return nil
		}},
		"short-write": {onWrite: func(f file, b []byte) (int, error) {
			if bytes.Contains(b, []byte(`"requestId":"req-3"`)) {
				n, _ := f.Write(b[:len(b)/2])
				return n, injected
			}
			return f.Write(b)
		}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "audit.log")
			l, err := Open(path, withHook(hook))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for i := 1; i <= 2; i++ {
				if err := l.Append(ctx, testRecord(i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Append(ctx, testRecord(3)); !errors.Is(err, ErrFailed) || !errors.Is(err, injected) {
				t.Fatalf("append 3: %v, want ErrFailed and the cause", err)
			}
			for i := 4; i <= 5; i++ {
				if err := l.Append(ctx, testRecord(i)); !errors.Is(err, ErrFailed) {
					t.Fatalf("append %d after the failure: %v, want ErrFailed", i, err)
				}
			}
			if seq, _ := l.Head(); seq != 2 {
				t.Fatalf("Head seq %d, want 2", seq)
			}
			if err := l.Close(); !errors.Is(err, ErrFailed) {
				t.Fatalf("Close: %v, want ErrFailed", err)
			}
			if sum, err := VerifyFile(path); err != nil || sum.Records != 2 {
				t.Fatalf("after the failure: %d records, %v; want 2 and no torn tail", sum.Records, err)
			}
			l = mustOpen(t, path)
			if err := l.Append(ctx, testRecord(3)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLockPreventsSecondOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	l := mustOpen(t, path)
	if _, err := Open(path); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Fatalf("second Open: %v, want ErrLocked naming the file", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, path)
}

func TestClose(t *testing.T) {
	t.Parallel()
	l := mustOpen(t, filepath.Join(t.TempDir(), "audit.log"))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(context.Background(), testRecord(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

// TestAppendRefusesBadRecord: a record that cannot be a line is refused without failing the Log.
func TestAppendRefusesBadRecord(t *testing.T) {
	t.Parallel()
	l := mustOpen(t, filepath.Join(t.TempDir(), "audit.log"))
	if err := l.Append(context.Background(), Record{Reason: strings.Repeat("x", MaxLineBytes)}); err == nil {
		t.Fatal("a record over MaxLineBytes was appended")
	}
	if err := l.Append(context.Background(), Record{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Fatal("a record with a time JSON cannot hold was appended")
	}
	if err := l.Append(context.Background(), testRecord(1)); err != nil {
		t.Fatalf("a refused record failed the log: %v", err)
	}
}

// TestOpenRemovesTornTail: a crash mid-write leaves bytes after the last newline; Open removes them, says so, and
// the chain goes on.
func TestOpenRemovesTornTail(t *testing.T) {
	t.Parallel()
	_, data := newLogFile(t, 4)
	ls := lines(data)
	for name, tail := range map[string][]byte{
		"partial-line":            ls[3][:40],
		"whole-line-but-newline":  ls[3][:len(ls[3])-1],
		"garbage-after-last-line": []byte("\x00\x00\x00"),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "audit.log")
			kept := join(ls[:3])
			writeFile(t, path, append(bytes.Clone(kept), tail...))
			if sum, err := VerifyFile(path); !errors.Is(err, ErrTornTail) || sum.TornBytes != int64(len(tail)) ||
				sum.Records != 3 {
				t.Fatalf("VerifyFile: %v, %d records, torn %d", err, sum.Records, sum.TornBytes)
			}
			var logs bytes.Buffer
			l := mustOpen(t, path, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			if !strings.Contains(logs.String(), "torn last line") || !strings.Contains(logs.String(), path) {
				t.Fatalf("Open logged %q", logs.String())
			}
			if got := readFile(t, path); !bytes.Equal(got, kept) {
				t.Fatalf("after Open the file is\n%s\nwant\n%s", got, kept)
			}
			if seq, _ := l.Head(); seq != 3 {
				t.Fatalf("Head seq %d, want 3", seq)
			}
			if err := l.Append(context.Background(), testRecord(4)); err != nil {
				t.Fatal(err)
			}
			l.Close()
			if got := readFile(t, path); !bytes.Equal(got, data) {
				t.Fatalf("after resuming the file is\n%s\nwant\n%s", got, data)
			}
		})
	}
}

// TestOpenRefusesBrokenLog: anything but a torn tail makes Open fail, naming the file and line, and leaves the file
// as it was.
func TestOpenRefusesBrokenLog(t *testing.T) {
	t.Parallel()
	_, data := newLogFile(t, 4)
	ls := lines(data)
	edited := bytes.Replace(ls[1], []byte("req-2"), []byte("req-9"), 1)
	for _, tc := range []struct {
		name string
		data []byte
		want error
		line int
	}{
		{"invalid-edited-line", join([][]byte{ls[0], edited, ls[2], ls[3]}), ErrHashMismatch, 2},
		{"invalid-deleted-line", join([][]byte{ls[0], ls[2], ls[3]}), ErrSeqGap, 2},
		{"invalid-last-line-with-newline", append(join(ls[:3]), "{\"v\":1,\"se\n"...), ErrInvalidJSON, 4},
		{"invalid-not-a-log", []byte("hello\n"), ErrInvalidJSON, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "audit.log")
			writeFile(t, path, tc.data)
			_, err := Open(path)
			wantProblem(t, err, tc.want, tc.line)
			if !strings.Contains(err.Error(), fmt.Sprintf("%s:%d:", path, tc.line)) {
				t.Fatalf("error %q does not name %s:%d", err, path, tc.line)
			}
			if got := readFile(t, path); !bytes.Equal(got, tc.data) {
				t.Fatal("a failed Open changed the file")
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, path := range map[string]string{
		"invalid-missing-parent": filepath.Join(dir, "missing", "audit.log"),
		"invalid-directory":      dir,
	} {
		if _, err := Open(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: Open(%s): %v, want an error naming it", name, path, err)
		}
	}
}
