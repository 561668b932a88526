package gateway

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func testEntry(i int, state string, now time.Time) keyFile {
	return keyFile{Version: 1, Agent: "team/agent", Server: "tools", Key: fmt.Sprintf("k-%d", i), Tool: "echo",
		ArgsDigest: "sha256:00", State: state, RequestID: fmt.Sprintf("req-%d", i), Created: now,
		Expires: now.Add(time.Hour), Response: []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"result":{"n":%d}}`, i))}
}

func openTestStore(t *testing.T, dir string) *keyStore {
	t.Helper()
	s, err := openKeyStore(dir, time.Hour, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// loseEntryFiles is what a crash may do to entry files written since the last checkpoint: none of them is fsync'ed,
// so each may be gone, or torn.
func loseEntryFiles(t *testing.T, dir string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for i, f := range files {
		var err error
		if i%2 == 0 {
			err = os.Remove(f)
		} else {
			err = os.WriteFile(f, []byte(`{"version":1,"agent":"te`), 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// Concurrent writes share fsyncs, and every write the store acknowledged survives a crash that loses the files: the
// store rebuilds them from the journal when it opens again. A started entry, which only the journal holds while its
// call runs, comes back as started: a retry is refused as of unknown outcome.
func TestKeyJournalSurvivesLostFiles(t *testing.T) {
	t.Parallel()
	dir, now := t.TempDir(), time.Now()
	s := openTestStore(t, dir)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			e := testEntry(i, keyStarted, now)
			if err := s.write(e.name(), e); err != nil {
				t.Error(err)
				return
			}
			if i%3 == 0 {
				if err := s.remove(e.name()); err != nil { // a call that was never sent frees its key
					t.Error(err)
				}
				return
			}
			if i%3 == 1 { // a call still running when the process is gone
				return
			}
			e.State = keyDone
			if err := s.write(e.name(), e); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// No close: the process is gone.
	loseEntryFiles(t, dir)
	s2 := openTestStore(t, dir)
	defer s2.close()
	for i := range 64 {
		e := testEntry(i, keyDone, now)
		got, found, err := s2.read(e.name())
		switch {
		case err != nil:
			t.Errorf("key %d: %v", i, err)
		case i%3 == 0 && found:
			t.Errorf("key %d was freed, but is back as %q", i, got.State)
		case i%3 == 1 && (!found || got.State != keyStarted):
			t.Errorf("key %d, whose call was running: found %v, state %q", i, found, got.State)
		case i%3 == 2 && (!found || got.State != keyDone || !bytes.Equal(got.Response, e.Response)):
			t.Errorf("key %d: found %v, state %q, response %s", i, found, got.State, got.Response)
		}
	}
	// Opening checkpointed the journal: the files are written out and the journal is empty.
	if st, err := os.Stat(filepath.Join(dir, keyJournalName)); err != nil || st.Size() != 0 {
		t.Errorf("journal after open: %v, %v", st, err)
	}
}

// A crash can cut the last group short. Replay applies every whole line before it and nothing from the first line
// that is torn or edited on: such a line was never acknowledged to a caller, and an edited one is not trusted.
func TestKeyJournalTornAndEditedLines(t *testing.T) {
	t.Parallel()
	now := time.Now()
	forged := testEntry(9, keyDone, now)
	forgedLine, err := journalLine(journalEntry{Entry: &forged})
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(forgedLine, []byte(`"n":9`), []byte(`"n":8`), 1)
	traversal, _ := journalLine(journalEntry{Remove: "../../etc/passwd"})
	for name, tail := range map[string][]byte{
		"torn":        forgedLine[:len(forgedLine)/2],
		"no newline":  bytes.TrimSuffix(forgedLine, []byte("\n")),
		"edited":      edited,
		"bad sum":     append([]byte("zzzzzzzz"), forgedLine[8:]...),
		"remove path": traversal,
		"both":        signedLine(`{"entry":{"version":1},"remove":"` + forged.name() + `"}`),
		"old version": signedLine(strings.Replace(string(forgedLine[9:len(forgedLine)-1]), `"version":1`, `"version":2`, 1)),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := openTestStore(t, dir)
			e := testEntry(1, keyDone, now)
			if err := s.write(e.name(), e); err != nil {
				t.Fatal(err)
			}
			after := testEntry(2, keyDone, now) // a whole line after the bad one is not applied either
			afterLine, _ := journalLine(journalEntry{Entry: &after})
			f, err := os.OpenFile(filepath.Join(dir, keyJournalName), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(append(append([]byte{}, tail...), afterLine...)); err != nil {
				t.Fatal(err)
			}
			f.Close()
			loseEntryFiles(t, dir)
			s2 := openTestStore(t, dir)
			defer s2.close()
			if got, found, err := s2.read(e.name()); err != nil || !found || got.State != keyDone {
				t.Errorf("the acknowledged entry: %v %v %v", got.State, found, err)
			}
			for _, k := range []keyFile{forged, after} {
				if _, found, err := s2.read(k.name()); found || err != nil {
					t.Errorf("%s: applied a line after the torn or edited one (%v)", k.Key, err)
				}
			}
		})
	}
}

// Past maxBytes the journal is checkpointed while the store runs: files written out, journal emptied, nothing lost.
func TestKeyJournalCheckpoints(t *testing.T) {
	t.Parallel()
	dir, now := t.TempDir(), time.Now()
	s := openTestStore(t, dir)
	s.journal.maxBytes = 4 << 10
	for i := range 40 {
		e := testEntry(i, keyDone, now)
		if err := s.write(e.name(), e); err != nil {
			t.Fatal(err)
		}
	}
	st, err := os.Stat(filepath.Join(dir, keyJournalName))
	if err != nil || st.Size() > 4<<10 {
		t.Fatalf("journal not checkpointed: %v %v", st, err)
	}
	// The entries the emptied journal held are in files now, and no longer held in memory.
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	s.mu.Lock()
	held := len(s.held)
	s.mu.Unlock()
	if len(files) == 0 || len(files)+held < 40 || held >= 40 {
		t.Errorf("after checkpoints: %d files, %d entries held in memory", len(files), held)
	}
	s.close()
	s2 := openTestStore(t, dir)
	defer s2.close()
	for i := range 40 {
		if _, found, err := s2.read(testEntry(i, keyDone, now).name()); !found || err != nil {
			t.Errorf("key %d lost across a checkpoint: %v", i, err)
		}
	}
}

// A key freed while a checkpoint writes the held entries out does not come back as a file.
func TestKeyJournalCheckpointKeepsFreedKeysFreed(t *testing.T) {
	t.Parallel()
	dir, now := t.TempDir(), time.Now()
	s := openTestStore(t, dir)
	defer s.close()
	freed := testEntry(0, keyStarted, now)
	if err := s.write(freed.name(), freed); err != nil {
		t.Fatal(err)
	}
	// The checkpoint's copy of the held entries is taken; then the key is freed; then the files are written.
	held := s.heldNow()
	if err := s.remove(freed.name()); err != nil {
		t.Fatal(err)
	}
	if err := s.writeFiles(held); err != nil {
		t.Fatal(err)
	}
	if err := s.forgetWritten(held); err != nil {
		t.Fatal(err)
	}
	if _, found, err := s.read(freed.name()); found || err != nil {
		t.Fatalf("the freed key is back: %v", err)
	}
}

// Once the journal cannot be written, no change is acknowledged again: keyed calls are refused, not run
// unprotected.
func TestKeyJournalFailsClosed(t *testing.T) {
	t.Parallel()
	dir, now := t.TempDir(), time.Now()
	s := openTestStore(t, dir)
	s.journal.f.Close() // the journal's file is gone from under the store
	e := testEntry(1, keyStarted, now)
	if err := s.write(e.name(), e); err == nil {
		t.Fatal("a write was acknowledged without its journal")
	}
	e2 := testEntry(2, keyStarted, now)
	if err := s.write(e2.name(), e2); err == nil || !strings.Contains(err.Error(), "journal") {
		t.Fatalf("the store went on after its journal failed: %v", err)
	}
	if err := s.write(testEntry(3, keyStarted, now).name(), e); err == nil {
		t.Fatal("an entry was written under another key's name")
	}
}

// signedLine is a journal line of body with a correct sum.
func signedLine(body string) []byte {
	return fmt.Appendf(nil, "%08x %s\n", crc32.Checksum([]byte(body), castagnoli), body)
}

func FuzzKeyJournalLine(f *testing.F) {
	e := testEntry(1, keyDone, time.Now())
	line, _ := journalLine(journalEntry{Entry: &e})
	f.Add(line)
	rm, _ := journalLine(journalEntry{Remove: e.name()})
	f.Add(rm)
	f.Add([]byte("00000000 {}\n"))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, ok := parseJournalLine(line)
		if !ok {
			return
		}
		if (e.Entry == nil) == (e.Remove == "") || e.Entry == nil && !isKeyName(e.Remove) {
			t.Fatalf("accepted %q", line)
		}
		again, err := journalLine(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := parseJournalLine(again); !ok {
			t.Fatalf("its own line refused: %q", again)
		}
	})
}
