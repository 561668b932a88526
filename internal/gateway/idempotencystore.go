package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// keyFile is the on-disk form of one idempotency key: <IdempotencyDir>/<keyName>.json, replaced by a rename and made
// durable by the store's journal (keyJournal), which groups the fsyncs of concurrent calls. States: started (written before the call is
// forwarded) → done (the tool server's answer is kept) | unknown (the call was sent, its answer was lost). A started
// entry whose call never left the gateway is removed. Entries are removed once past Expires.
type keyFile struct {
	Version    int       `json:"version"` // 1
	Agent      string    `json:"agent"`
	Server     string    `json:"server"`
	Key        string    `json:"key"` // the Idempotency-Key as sent
	Tool       string    `json:"tool,omitempty"`
	Method     string    `json:"method,omitempty"` // plain HTTP
	Path       string    `json:"path,omitempty"`
	ArgsDigest string    `json:"argsDigest"`
	State      string    `json:"state"`
	RequestID  string    `json:"requestId"` // the call that ran
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires"`
	// Response is, once done, the tool server's JSON-RPC response to an MCP call, its id as the call had it.
	Response json.RawMessage `json:"response,omitempty"`
	// HTTP is, once done, the answer to a plain HTTP call.
	HTTP *HTTPAnswer `json:"http,omitempty"`
	// TooLarge marks a done call whose answer was over Options.MaxResponseBytes: it is not kept.
	TooLarge bool `json:"tooLarge,omitempty"`
}

// The states of a key; keyNone is only ever an answer of GET /keys/{name}: there is no entry.
const (
	keyNone    = "none"
	keyStarted = "started"
	keyDone    = "done"
	keyUnknown = "unknown"
)

// name is the name of e's file.
func (e keyFile) name() string { return keyName(e.Agent, e.Server, e.Key) }

func encodeKeyFile(e keyFile) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(e)
	return buf.Bytes(), err
}

// fingerprint is what a key is bound to: a retry must make the same call.
type fingerprint struct{ tool, method, path, digest string }

func (f fingerprint) of(e keyFile) bool {
	return f == fingerprint{e.Tool, e.Method, e.Path, e.ArgsDigest}
}

// keyName names the entry of key for agent on server: sha256 of the three, so that agents cannot share entries.
func keyName(agent, server, key string) string {
	h := sha256.New()
	for _, s := range []string{agent, server, key} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// keyStore keeps the keys in a directory, and the keyed calls running in this process in memory.
type keyStore struct {
	dir     string
	journal *keyJournal
	ttl     time.Duration
	now     func() time.Time

	mu      sync.Mutex
	flights map[string]*flight // by keyName
	// held are the entries written since the journal's last checkpoint: the journal has them, their files are
	// written at the next checkpoint (a started entry's never: a checkpoint writes it only if its call has not
	// settled by then). Creating a file per call cost more than the journal's fsyncs.
	held  map[string]heldEntry
	seq   uint64 // of the last held entry
	swept time.Time
}

// heldEntry is an entry only the journal and memory hold, and the order it was written in.
type heldEntry struct {
	e   keyFile
	seq uint64
}

// flight is a keyed call running in this process, from before it is judged until its entry is settled.
type flight struct {
	name    string
	fp      fingerprint
	done    chan struct{} // closed when the call is over
	waiters int           // retries waiting for it (tests read it)
}

// claim is what a keyed call finds: its own new flight, another one running, or a stored entry.
type claim struct {
	flight *flight
	own    bool
	entry  keyFile
}

func openKeyStore(dir string, ttl time.Duration, now func() time.Time) (*keyStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("idempotency store: %w", err)
	}
	j, err := openKeyJournal(dir, maxJournalBytes)
	if err != nil {
		return nil, err
	}
	s := &keyStore{dir: dir, journal: j, ttl: ttl, now: now, flights: map[string]*flight{}, held: map[string]heldEntry{}}
	j.materialize = s.writeHeld
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.sweep(true); err != nil {
		return nil, fmt.Errorf("idempotency store: %w", err)
	}
	return s, nil
}

// claim returns the flight of name if one runs here, else its stored entry, else a new flight that the caller owns
// until release.
func (s *keyStore) claim(name string, fp fingerprint) (claim, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := s.now(); now.Sub(s.swept) > min(s.ttl, time.Hour) {
		_ = s.sweep(false) // lazily; an entry that cannot be read is refused when it is asked for
	}
	if f, ok := s.flights[name]; ok {
		return claim{flight: f}, nil
	}
	e, found, err := s.read(name)
	if err != nil || found {
		return claim{entry: e}, err
	}
	f := &flight{name: name, fp: fp, done: make(chan struct{})}
	s.flights[name] = f
	return claim{flight: f, own: true}, nil
}

// peek returns what this process knows of name without claiming it: its stored entry, if any, and whether a
// flight of name runs here.
func (s *keyStore) peek(name string) (e keyFile, found, inFlight bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, inFlight = s.flights[name]
	e, found, err = s.read(name)
	return e, found, inFlight, err
}

// release ends a flight: whatever its entry holds now is what retries find.
func (s *keyStore) release(f *flight) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.flights, f.name)
	close(f.done)
}

// wait blocks until f is over, until deadline, or until stop is closed; it reports whether f is over.
func (s *keyStore) wait(f *flight, deadline <-chan time.Time, stop <-chan struct{}) bool {
	s.mu.Lock()
	f.waiters++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		f.waiters--
		s.mu.Unlock()
	}()
	select {
	case <-f.done:
		return true
	case <-deadline:
	case <-stop:
	}
	return false
}

// waiting counts the retries waiting for a flight.
func (s *keyStore) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.flights {
		n += f.waiters
	}
	return n
}

// read returns the entry of name; an expired entry is removed and reads as absent.
func (s *keyStore) read(name string) (keyFile, bool, error) {
	if h, ok := s.held[name]; ok {
		if !s.now().Before(h.e.Expires) {
			delete(s.held, name)
			return h.e, false, s.expire(name)
		}
		return h.e, true, nil
	}
	var e keyFile
	data, err := os.ReadFile(filepath.Join(s.dir, name+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return e, false, nil
	}
	if err == nil {
		err = json.Unmarshal(data, &e)
	}
	if err == nil && (e.Version != 1 || keyName(e.Agent, e.Server, e.Key) != name) {
		err = errors.New("not a version 1 entry of that key")
	}
	if err != nil {
		return e, false, fmt.Errorf("idempotency key %s: %w", name, err)
	}
	if !s.now().Before(e.Expires) {
		return e, false, s.expire(name)
	}
	return e, true, nil
}

// write replaces the entry of name, durably; only the flight of name writes it. The entry is held in memory and
// journaled; its file is written at the journal's next checkpoint (writeHeld), or by the replay after a crash.
func (s *keyStore) write(name string, e keyFile) error {
	if e.name() != name {
		return fmt.Errorf("writing idempotency key %s: the entry is another key's", name)
	}
	line, err := journalLine(journalEntry{Entry: &e})
	if err == nil {
		s.mu.Lock()
		s.seq++
		s.held[name] = heldEntry{e: e, seq: s.seq}
		s.mu.Unlock()
		err = s.journal.append(line)
	}
	if err != nil {
		return fmt.Errorf("writing idempotency key %s: %w", name, err)
	}
	return nil
}

// writeHeld writes the file of every entry held in memory, before the journal that holds them is emptied. It runs
// while the journal writes a group, so every entry whose change is in the journal is held by then; an entry
// written again meanwhile stays held.
func (s *keyStore) writeHeld() error {
	held := s.heldNow()
	if err := s.writeFiles(held); err != nil {
		return err
	}
	return s.forgetWritten(held)
}

// heldNow is a copy of the entries held in memory.
func (s *keyStore) heldNow() map[string]heldEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.held)
}

func (s *keyStore) writeFiles(held map[string]heldEntry) error {
	for name, h := range held {
		data, err := encodeKeyFile(h.e)
		if err == nil {
			err = writeFileReplace(s.dir, name+".json", ".key-*.tmp", data)
		}
		if err != nil {
			return fmt.Errorf("writing idempotency key %s: %w", name, err)
		}
	}
	return nil
}

// forgetWritten stops holding the entries whose files writeFiles wrote, unless they were written again since; a key
// freed (or expired) meanwhile loses the file that writeFiles brought back.
func (s *keyStore) forgetWritten(held map[string]heldEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, h := range held {
		switch cur, ok := s.held[name]; {
		case !ok:
			if err := os.Remove(filepath.Join(s.dir, name+".json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("removing idempotency key %s: %w", name, err)
			}
		case cur.seq == h.seq:
			delete(s.held, name)
		}
	}
	return nil
}

// remove frees the key name, durably: its entry is gone, also after a crash.
func (s *keyStore) remove(name string) error {
	s.mu.Lock()
	delete(s.held, name)
	s.mu.Unlock()
	err := os.Remove(filepath.Join(s.dir, name+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	var line []byte
	if err == nil {
		line, err = journalLine(journalEntry{Remove: name})
	}
	if err == nil {
		err = s.journal.append(line)
	}
	if err != nil {
		return fmt.Errorf("removing idempotency key %s: %w", name, err)
	}
	return nil
}

// expire removes an expired entry. It is not journaled: an expired entry that a crash brings back expires again.
func (s *keyStore) expire(name string) error {
	err := os.Remove(filepath.Join(s.dir, name+".json"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing idempotency key %s: %w", name, err)
	}
	return nil
}

func (s *keyStore) close() error { return s.journal.close() }

// sweep removes expired entries, leaving alone the entries of flights, and at start the temporary files of writes a
// crash cut short (later, they may be writes in progress); s.mu is held.
func (s *keyStore) sweep(start bool) error {
	s.swept = s.now()
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, de := range entries {
		n := de.Name()
		switch name, ok := strings.CutSuffix(n, ".json"); {
		case start && strings.HasPrefix(n, ".key-") && strings.HasSuffix(n, ".tmp"):
			_ = os.Remove(filepath.Join(s.dir, n))
		case ok && s.flights[name] == nil:
			_, _, _ = s.read(name) // removes it when expired
		}
	}
	return nil
}
