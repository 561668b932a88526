package gateway

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// keyJournal makes the key store's changes durable in groups. A change is first made to its entry's file without
// fsync (written to a temporary file and renamed, or removed), then appended to the journal; the append returns once
// the journal, with every change appended beside it, is fsync'ed. Concurrent calls share one fsync, like the audit
// log's records, where each entry file used to cost two (the file's and its directory's).
//
// The files and the store's memory are its state; the journal is what makes them survive a crash. A change since the
// last checkpoint is in the journal and in memory, not yet in a file (see keyStore.write). When the store opens, it
// applies the journal's changes to the files, in order, has the file system write everything out (syncfs), and
// empties the journal. It does the same while it runs, once the journal outgrows maxJournalBytes, after writing
// out the entries held in memory (materialize).
//
// A line is the CRC-32C of its JSON, in hex, a space, the JSON of a journalEntry, and a newline. Replay stops at the
// first line that is torn or does not match its CRC: the tail of a group whose fsync a crash cut short, which no
// caller was told was durable.
type keyJournal struct {
	dir, path string
	maxBytes  int64
	// materialize, if set, writes out the entries that only the journal holds, before a checkpoint empties it.
	materialize func() error

	mu      sync.Mutex
	cond    sync.Cond
	f       *os.File
	size    int64  // bytes in the journal
	pending []byte // lines of the group being gathered
	spare   []byte // the buffer of the last group written, reused
	gen     uint64 // the group that pending belongs to
	synced  uint64 // the last group that is durable
	writing bool   // a caller is writing a group
	err     error  // once a write failed, every later change fails: the store is closed to keyed calls
}

// journalEntry is one change: an entry written, or the entry Remove removed.
type journalEntry struct {
	Entry  *keyFile `json:"entry,omitempty"`
	Remove string   `json:"remove,omitempty"`
}

const (
	keyJournalName  = "journal"
	maxJournalBytes = 32 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// openKeyJournal replays the journal in dir onto the entry files, makes them durable and empties it.
func openKeyJournal(dir string, maxBytes int64) (*keyJournal, error) {
	j := &keyJournal{dir: dir, path: filepath.Join(dir, keyJournalName), maxBytes: maxBytes, gen: 1}
	j.cond.L = &j.mu
	f, err := os.OpenFile(j.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	applied, err := replayKeyJournal(f, dir)
	if err == nil && applied > 0 {
		err = j.checkpoint(f)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("idempotency journal: %w", err)
	}
	if st, serr := f.Stat(); serr == nil {
		j.size = st.Size()
	}
	j.f = f
	return j, nil
}

// replayKeyJournal applies the journal's changes, in order, to the entry files; a torn tail ends it.
func replayKeyJournal(f *os.File, dir string) (applied int, err error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		line, rerr := r.ReadBytes('\n')
		if rerr != nil { // io.EOF: a last line without its newline is torn
			if rerr == io.EOF {
				return applied, nil
			}
			return applied, rerr
		}
		e, ok := parseJournalLine(line)
		if !ok {
			return applied, nil
		}
		if err := applyJournalEntry(dir, e); err != nil {
			return applied, err
		}
		applied++
	}
}

// parseJournalLine reads one line, its newline included; ok is false for a torn or corrupt line.
func parseJournalLine(line []byte) (journalEntry, bool) {
	var e journalEntry
	line = bytes.TrimSuffix(line, []byte("\n"))
	sum, body, found := bytes.Cut(line, []byte(" "))
	if !found || len(sum) != 8 {
		return e, false
	}
	var want [4]byte
	if _, err := hex.Decode(want[:], sum); err != nil || binary.BigEndian.Uint32(want[:]) != crc32.Checksum(body, castagnoli) {
		return e, false
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return e, false
	}
	switch {
	case e.Entry != nil && e.Remove == "":
		return e, e.Entry.Version == 1
	case e.Entry == nil && isKeyName(e.Remove):
		return e, true
	}
	return e, false
}

func applyJournalEntry(dir string, e journalEntry) error {
	if e.Entry == nil {
		err := os.Remove(filepath.Join(dir, e.Remove+".json"))
		if errors.Is(err, os.ErrNotExist) {
			err = nil
		}
		return err
	}
	data, err := encodeKeyFile(*e.Entry)
	if err != nil {
		return err
	}
	return writeFileReplace(dir, e.Entry.name()+".json", ".key-*.tmp", data)
}

// journalLine encodes e as one journal line.
func journalLine(e journalEntry) ([]byte, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	line := make([]byte, 0, len(body)+10)
	line = hex.AppendEncode(line, binary.BigEndian.AppendUint32(nil, crc32.Checksum(body, castagnoli)))
	line = append(line, ' ')
	line = append(line, body...)
	return append(line, '\n'), nil
}

// append makes a change durable: it returns once the journal holding line is fsync'ed. The caller whose group is
// next writes it, so no goroutine is woken to do so.
func (j *keyJournal) append(line []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	j.pending = append(j.pending, line...)
	mine := j.gen
	for j.synced < mine && j.err == nil {
		if j.writing {
			j.cond.Wait()
			continue
		}
		j.writeGroup()
	}
	if j.synced >= mine {
		return nil
	}
	return j.err
}

// writeGroup writes and fsyncs the group being gathered; j.mu is held, and released while it writes.
func (j *keyJournal) writeGroup() {
	group, gen := j.pending, j.gen
	j.pending, j.spare = j.spare[:0], nil
	j.gen++
	j.writing = true
	j.mu.Unlock()
	_, err := j.f.Write(group)
	if err == nil {
		err = j.f.Sync()
	}
	size := j.size + int64(len(group))
	if err == nil && size > j.maxBytes {
		if j.materialize != nil {
			err = j.materialize()
		}
		if err == nil {
			err = j.checkpoint(j.f)
			size = 0
		}
	}
	j.mu.Lock()
	j.writing = false
	j.spare = group
	if err != nil {
		j.err = fmt.Errorf("idempotency journal: %w", err)
	} else {
		j.synced, j.size = gen, size
	}
	j.cond.Broadcast()
}

// checkpoint has the file system write out every entry file, then empties the journal: its changes are all in the
// files (each change is made to its file before it is appended).
func (j *keyJournal) checkpoint(f *os.File) error {
	if err := syncFileSystem(j.dir); err != nil {
		return err
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	return f.Sync()
}

func (j *keyJournal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.writing {
		j.cond.Wait()
	}
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	if j.err == nil {
		j.err = errors.New("idempotency journal: closed")
	}
	return err
}

// writeFileReplace replaces dir/name with data by a rename, without fsync: until the file system writes it out, a
// crash may leave the old file, the new one, or a torn one. The journal is what makes the change durable: the
// entries are journaled before their files are written, and replay writes them again.
func writeFileReplace(dir, name, pattern string, data []byte) error {
	return replaceFile(dir, name, pattern, data, false)
}
