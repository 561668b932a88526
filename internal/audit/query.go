package audit

import (
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"
)

// A Reader answers page queries over a log that a Log may still be appending to, for an operator's console. It keeps
// an index of the lines (offset, seq, time, and the filterable fields as small ids: 80 bytes a line) and reads the
// records of a page back from the file. Each query first reads the lines appended since the last one and verifies
// them as VerifyFile does, continuing the chain and the Merkle tree where it stopped; with a verifier key it also
// checks the latest signed checkpoint beside the log. A file changed other than by appending is noticed — by its
// identity, its size and time, the last line indexed, and every line read back for a page — and read and verified
// again from the start. A Reader is safe for concurrent use.
type Reader struct {
	path, cpPath string
	v            note.Verifier // nil: no checkpoint checks
	seed         maphash.Seed

	mu     sync.Mutex
	fi     os.FileInfo // at the last refresh; nil before the first
	end    int64       // offset after the last line indexed
	ents   []entry
	strs   strtab
	ver    *verifier
	leaf   []byte // the leaf hash of the line the verifier accepted last
	broken *Error // the first problem; nil while every line read verifies
	cov    coverage
	cpErr  error
}

// entry is one complete line of the log in the index.
type entry struct {
	off       int64
	time      int64             // Unix nanoseconds; math.MinInt64 for a line that is not a record
	seq       uint64            // as the line says
	fp        uint64            // the leading bytes of the line's leaf hash: whether the bytes at off are still these
	req, appr uint64            // hashes of RequestID and ApprovalID; 0 when empty
	size      uint32            // with the newline
	f         [numFields]uint32 // strtab ids of the filterable fields
}

// The filterable fields of an entry.
const (
	fEvent = iota
	fCaller
	fServer
	fTool
	fDecision
	fRule
	numFields
)

func (e *entry) isRecord() bool { return e.time != math.MinInt64 }

// strtab interns the values of the filterable fields; id 0 is "".
type strtab struct {
	ids map[string]uint32
	s   []string
}

func (t *strtab) id(s string) uint32 {
	if t.ids == nil {
		t.ids, t.s = map[string]uint32{"": 0}, []string{""}
	}
	id, ok := t.ids[s]
	if !ok {
		id = uint32(len(t.s))
		t.ids[s] = id
		t.s = append(t.s, s)
	}
	return id
}

// ReaderOption configures OpenReader.
type ReaderOption func(*Reader)

// WithCheckpointFile sets the file of the latest signed checkpoint; the default is the log's path + ".checkpoint",
// where the gateway writes it unless told otherwise.
func WithCheckpointFile(path string) ReaderOption { return func(r *Reader) { r.cpPath = path } }

// OpenReader opens the log at path for queries and reads it once, verifying it. With v (nil for none) each refresh
// also reads the checkpoint file (WithCheckpointFile): one that does not open with v is reported in
// Verified.CheckpointErr; a log that does not match one that does is Broken.
func OpenReader(path string, v note.Verifier, opts ...ReaderOption) (*Reader, error) {
	r := &Reader{path: path, cpPath: path + ".checkpoint", v: v, seed: maphash.MakeSeed()}
	for _, opt := range opts {
		opt(r)
	}
	r.reset()
	if err := r.Refresh(); err != nil {
		return nil, err
	}
	return r, nil
}

// reset forgets everything read.
func (r *Reader) reset() {
	r.fi, r.end, r.ents, r.strs, r.broken = nil, 0, nil, strtab{}, nil
	r.cov = coverage{file: r.path, tree: rangeFactory.NewEmptyRange(0)}
	r.ver = newVerifier(r.path, nil)
	r.ver.each = func(seq uint64, _ int64, leaf []byte) {
		r.leaf = leaf
		if r.v != nil {
			r.cov.add(seq, leaf)
		}
	}
}

// Refresh reads the lines appended since the last refresh. Queries refresh first; the console need not call it.
func (r *Reader) Refresh() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := r.refresh()
	if f != nil {
		f.Close()
	}
	return err
}

// refresh brings the index up to date and returns the log file, open, to read records back from.
func (r *Reader) refresh() (*os.File, error) {
	cp, msg := r.readCheckpoint() // the checkpoint and the anchor first: they are written after the lines they name
	anchor, err := readAnchor(AnchorPath(r.path))
	if err != nil {
		return nil, err
	}
	f, err := os.Open(r.path)
	if err != nil {
		return nil, fmt.Errorf("reading audit log: %w", err)
	}
	fi, err := f.Stat()
	if err == nil {
		if r.rewritten(f, fi) || !r.cov.aim(cp, msg) {
			r.reset()
			r.cov.aim(cp, msg)
		}
		r.ver.anchor = anchor
		err = r.readLines(f, fi.Size())
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading audit log %s: %w", r.path, err)
	}
	r.fi = fi
	r.checkEnd(anchor)
	return f, nil
}

// readCheckpoint reads the checkpoint file; nil when there is none or it does not open (r.cpErr says why).
func (r *Reader) readCheckpoint() (*Checkpoint, []byte) {
	r.cpErr = nil
	if r.v == nil {
		return nil, nil
	}
	cp, msg, err := ReadCheckpoint(r.cpPath, r.v)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			r.cpErr = err
		}
		return nil, nil
	}
	return &cp, msg
}

// rewritten reports whether the file changed other than by lines appended after the ones indexed.
func (r *Reader) rewritten(f *os.File, fi os.FileInfo) bool {
	switch {
	case r.fi == nil:
		return false
	case !os.SameFile(r.fi, fi), fi.Size() < r.end:
		return true
	case fi.Size() == r.fi.Size() && !fi.ModTime().Equal(r.fi.ModTime()):
		// Written without growing; or a write had just begun (its time is set before its bytes): then it has grown.
		again, err := f.Stat()
		return err != nil || again.Size() == fi.Size()
	case len(r.ents) == 0:
		return false
	}
	_, err := r.lineAt(f, &r.ents[len(r.ents)-1])
	return err != nil && !errors.Is(err, ErrLineTooLong) // a line too long to read back stays broken
}

// readLines indexes and verifies the complete lines between the last one indexed and size.
func (r *Reader) readLines(f *os.File, size int64) error {
	if size <= r.end {
		return nil
	}
	lr := newLineReader(io.NewSectionReader(f, r.end, size-r.end))
	for {
		ln, err := lr.next()
		if ln.size == 0 || !ln.terminated { // a torn tail, or a batch being written: read next time
			return nil
		}
		if err != nil {
			return err
		}
		r.add(ln)
	}
}

// add indexes one complete line, and verifies it unless the log broke before it.
func (r *Reader) add(ln rawLine) {
	r.leaf = nil
	if r.broken == nil {
		if err := r.ver.next(ln); err != nil {
			r.broken = asProblem(err)
		} else if r.cov.mismatch != nil {
			r.broken = r.cov.mismatch
		}
	}
	e := entry{off: r.end, size: uint32(ln.size), time: math.MinInt64}
	if leaf := r.leaf; !ln.tooLong {
		if leaf == nil {
			leaf = leafHash(ln.text)
		}
		e.fp = binary.BigEndian.Uint64(leaf)
	}
	var l indexed
	if !ln.tooLong && json.Unmarshal(ln.text, &l) == nil {
		e.time, e.seq = l.Time.UnixNano(), l.Seq
		e.req, e.appr = r.hash(l.RequestID), r.hash(l.ApprovalID)
		for i, s := range [numFields]string{l.Event, l.Caller, l.Server, l.Tool, l.Decision, l.Rule} {
			e.f[i] = r.strs.id(s)
		}
	}
	r.ents = append(r.ents, e)
	r.end += ln.size
}

// indexed is what the index keeps of a line's members.
type indexed struct {
	Seq        uint64    `json:"seq"`
	Time       time.Time `json:"time"`
	Event      string    `json:"event"`
	RequestID  string    `json:"requestId"`
	Caller     string    `json:"caller"`
	Server     string    `json:"server"`
	Tool       string    `json:"tool"`
	Decision   string    `json:"decision"`
	Rule       string    `json:"rule"`
	ApprovalID string    `json:"approvalId"`
}

// checkEnd reports a log that does not reach its anchor or its checkpoint.
func (r *Reader) checkEnd(anchor *Anchor) {
	if r.broken == nil && r.cov.mismatch != nil {
		r.broken = r.cov.mismatch
	}
	if r.broken != nil {
		return
	}
	n := r.ver.sum.Records
	if t := r.cov.target; t != nil && t.Size > n {
		r.broken = &Error{File: r.path, Err: ErrShorterThanCheckpoint, Detail: fmt.Sprintf(
			"the checkpoint of %s covers %d records, the log ends at seq %d", t.Origin, t.Size, n)}
	} else if anchor != nil && anchor.Seq > n {
		r.broken = &Error{File: r.path, Err: ErrTruncated, Detail: fmt.Sprintf(
			"anchor %s records seq %d (%s), the log ends at seq %d", AnchorPath(r.path), anchor.Seq, anchor.Hash, n)}
	}
}

func (r *Reader) hash(s string) uint64 {
	if s == "" {
		return 0
	}
	return maphash.String(r.seed, s) | 1
}

// asProblem returns err as an *Error: the verifier's problems are; a read error is wrapped.
func asProblem(err error) *Error {
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	return &Error{Err: err}
}

// errLineChanged: a line the index holds no longer has the bytes it was read with.
var errLineChanged = errors.New("a line changed since it was read")

// lineAt reads the line of e back (without its newline) and checks that it is the one indexed.
func (r *Reader) lineAt(f *os.File, e *entry) ([]byte, error) {
	if int64(e.size) > MaxLineBytes+1 {
		return nil, fmt.Errorf("the line at byte %d: %w", e.off, ErrLineTooLong)
	}
	buf := make([]byte, e.size)
	if _, err := f.ReadAt(buf, e.off); err != nil {
		if errors.Is(err, io.EOF) {
			err = errLineChanged
		}
		return nil, err
	}
	text := buf[:len(buf)-1]
	if buf[len(buf)-1] != '\n' || binary.BigEndian.Uint64(leafHash(text)) != e.fp {
		return nil, errLineChanged
	}
	return text, nil
}

// hashSize is the size of a leaf hash.
const hashSize = 32

// maxUncovered bounds the leaf hashes a Reader keeps after the last checkpoint it checked (8 MB): beyond it they
// are dropped, and the next checkpoint is checked by reading the log again.
const maxUncovered = 1 << 18

// coverage checks the verified lines against signed checkpoints. tree is the Merkle tree of the first tree.End()
// verified lines (up to the last checkpoint checked, or the target); leaves holds the leaf hashes of the verified
// lines after them, so that a later checkpoint of any size up to the lines verified is checked without reading them
// again.
type coverage struct {
	file     string
	tree     *compact.Range
	leaves   []byte // hashSize bytes a line
	lost     bool   // leaves were dropped: a checkpoint past tree.End() needs a new pass
	target   *Checkpoint
	msg      []byte      // target's signed note
	cp       *Checkpoint // the latest checkpoint the log matched
	cpMsg    []byte
	mismatch *Error // the log does not match a checkpoint
}

// aim makes cp the checkpoint to check, at once when the lines it covers are verified, else when they are; false
// when those lines must be read again (a checkpoint older than the last one checked, or leaves dropped).
func (c *coverage) aim(cp *Checkpoint, msg []byte) bool {
	if cp == nil || c.mismatch != nil {
		return true
	}
	n := c.tree.End()
	if cp.Size < n || c.lost && cp.Size > n {
		return false
	}
	c.target, c.msg = cp, msg
	k := min(cp.Size-n, uint64(len(c.leaves)/hashSize))
	for i := range k {
		_ = c.tree.Append(slices.Clone(c.leaves[i*hashSize:(i+1)*hashSize]), nil) // a range from 0 grows without error
	}
	c.leaves = append(c.leaves[:0], c.leaves[k*hashSize:]...)
	if c.tree.End() == cp.Size {
		c.check()
	}
	return true
}

// add takes the leaf hash of verified line seq.
func (c *coverage) add(seq uint64, leaf []byte) {
	switch {
	case c.target != nil && seq <= c.target.Size: // leaves is empty: aim moved them into the tree
		_ = c.tree.Append(leaf, nil)
		if seq == c.target.Size {
			c.check()
		}
	case c.lost:
	case len(c.leaves) >= maxUncovered*hashSize:
		c.leaves, c.lost = nil, true
	default:
		c.leaves = append(c.leaves, leaf...)
	}
}

// check compares the tree with the target, which it has reached.
func (c *coverage) check() {
	t := c.target
	c.target = nil
	if root := rootOf(c.tree); !sameRoot(root, t.Root) {
		c.mismatch = &Error{File: c.file, Seq: t.Size, Err: ErrRootMismatch, Detail: fmt.Sprintf(
			"the first %d records hash to %s, the checkpoint of %s says %s", t.Size,
			base64.StdEncoding.EncodeToString(root), t.Origin, base64.StdEncoding.EncodeToString(t.Root))}
		return
	}
	c.cp, c.cpMsg = t, c.msg
}

// Verified is what a Reader verified of its log at its last refresh.
type Verified struct {
	Lines   uint64 // complete lines read
	Records uint64 // lines 1 to Records verify: their chain, and each checkpoint up to them; also their last seq
	Head    string // the hash of line Records; Genesis when Records is 0
	// Broken is the first problem: one of VerifyFile's (at a line and seq), a log that does not match a signed
	// checkpoint (ErrRootMismatch, ErrShorterThanCheckpoint) or its anchor (ErrTruncated); nil when every line read
	// verifies. The lines after Records are still listed, unverified.
	Broken *Error
	// Checkpoint is the latest checkpoint signed with the Reader's verifier key that the log matched: its first
	// Checkpoint.Size records are covered by a signature; nil when there is none. Uncovered counts the verified
	// records after it.
	Checkpoint *Checkpoint
	Uncovered  uint64
	// CheckpointErr: the checkpoint file exists but was not read, or does not open with the verifier key (signed by
	// another key, or edited).
	CheckpointErr error
}

// Verified returns what the last refresh verified.
func (r *Reader) Verified() Verified {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.verified()
}

func (r *Reader) verified() Verified {
	v := Verified{Lines: uint64(len(r.ents)), Records: r.ver.sum.Records, Head: r.ver.prev.String(), Broken: r.broken,
		CheckpointErr: r.cpErr}
	if r.cov.mismatch != nil {
		v.Records, v.Head = 0, Genesis
		if cp := r.cov.cp; cp != nil {
			v.Records, v.Head = cp.Size, cp.Head
		}
	}
	if r.cov.cp != nil {
		cp := *r.cov.cp
		v.Checkpoint, v.Uncovered = &cp, v.Records-cp.Size
	}
	return v
}

// Query selects lines of the log. Empty fields match anything; a set field matches records only.
type Query struct {
	Caller, Server, Tool, Decision, Event, RequestID string // equal
	// Rule is a prefix: "agents[ai-lab/agent-worker]" selects every rule of that agent, a whole rule selects it.
	Rule string
	// Since <= time < Until; a zero time is unbounded.
	Since, Until time.Time
	// Before is the cursor: only lines before this line number (Page.Next); 0 starts from the newest line.
	Before uint64
	// Limit is the most lines a page holds: default DefaultLimit, at most MaxLimit.
	Limit int
}

// Page sizes of a Query.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// Entry is one line of the log in a page.
type Entry struct {
	Line     uint64 // the 1-based line number, the cursor; equal to Seq in a log that verifies
	Seq      uint64 // as the line says
	Verified bool   // Line <= Verified.Records
	Hash     string // the line's "hash" as written
	Record   Record // zero when the line is not a record
	Problem  string // why the line is not a record, when it is not
}

// Page is the answer to a query.
type Page struct {
	Entries  []Entry  // newest first (Request: in file order)
	Total    int      // lines that match the query, on all pages
	Next     uint64   // Query.Before for the next page; 0 on the last page
	Verified Verified // as of the refresh the query made
}

// Query refreshes the index and returns the lines that match q, newest first, reading only their lines back from
// the file; the other lines are matched in the index.
func (r *Reader) Query(q Query) (Page, error) {
	return r.locked(func(f *os.File, v Verified) (Page, error) { return r.query(f, v, q) })
}

// Request refreshes the index and returns the lines of one call, in file order: the records whose RequestID is id (the
// call's decision and result, its approval records), and the records that share an ApprovalID with them.
func (r *Reader) Request(id string) (Page, error) {
	return r.locked(func(f *os.File, v Verified) (Page, error) { return r.request(f, v, id) })
}

// locked refreshes and runs fn under the lock, and again after reading the log anew when fn found a line changed.
func (r *Reader) locked(fn func(*os.File, Verified) (Page, error)) (Page, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var p Page
	var err error
	for try := 0; try < 2; try++ {
		var f *os.File
		if f, err = r.refresh(); err != nil {
			return Page{}, err
		}
		p, err = fn(f, r.verified())
		f.Close()
		if !errors.Is(err, errLineChanged) {
			break
		}
		r.reset()
	}
	if err != nil {
		return Page{}, fmt.Errorf("querying audit log %s: %w", r.path, err)
	}
	return p, nil
}

func (r *Reader) query(f *os.File, v Verified, q Query) (Page, error) {
	p := Page{Verified: v}
	m, ok := r.matcher(q)
	if !ok {
		return p, nil
	}
	limit := min(cmpOrInt(q.Limit, DefaultLimit), MaxLimit)
	before := len(r.ents)
	if q.Before > 0 && q.Before-1 < uint64(before) {
		before = int(q.Before - 1)
	}
	for i := len(r.ents) - 1; i >= 0; i-- {
		if !m.match(&r.ents[i]) {
			continue
		}
		var ent Entry
		var err error
		if q.RequestID != "" { // the hash matched: check the value
			if ent, err = r.entryAt(f, i, v.Records); err != nil {
				return p, err
			} else if ent.Record.RequestID != q.RequestID {
				continue
			}
		}
		p.Total++
		switch {
		case i >= before:
		case len(p.Entries) == limit:
			p.Next = p.Entries[limit-1].Line
		default:
			if ent.Line == 0 {
				if ent, err = r.entryAt(f, i, v.Records); err != nil {
					return p, err
				}
			}
			p.Entries = append(p.Entries, ent)
		}
	}
	return p, nil
}

func cmpOrInt(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

func (r *Reader) request(f *os.File, v Verified, id string) (Page, error) {
	p := Page{Verified: v}
	if id == "" {
		return p, nil
	}
	approvals := map[string]bool{}
	take := func(i int, keep func(Record) bool) error {
		ent, err := r.entryAt(f, i, v.Records)
		if err == nil && keep(ent.Record) {
			p.Entries = append(p.Entries, ent)
		}
		return err
	}
	h := r.hash(id)
	for i := range r.ents {
		if r.ents[i].req != h {
			continue
		}
		if err := take(i, func(rec Record) bool {
			if rec.RequestID == id && rec.ApprovalID != "" {
				approvals[rec.ApprovalID] = true
			}
			return rec.RequestID == id
		}); err != nil {
			return p, err
		}
	}
	hashes := map[uint64]bool{}
	for a := range approvals {
		hashes[r.hash(a)] = true
	}
	for i := range r.ents {
		if e := &r.ents[i]; e.appr == 0 || !hashes[e.appr] || e.req == h {
			continue
		}
		if err := take(i, func(rec Record) bool { return approvals[rec.ApprovalID] && rec.RequestID != id }); err != nil {
			return p, err
		}
	}
	slices.SortFunc(p.Entries, func(a, b Entry) int { return cmp.Compare(a.Line, b.Line) })
	p.Total = len(p.Entries)
	return p, nil
}

// entryAt reads line i back; verified is the number of verified lines.
func (r *Reader) entryAt(f *os.File, i int, verified uint64) (Entry, error) {
	e := &r.ents[i]
	out := Entry{Line: uint64(i) + 1, Seq: e.seq}
	out.Verified = out.Line <= verified
	text, err := r.lineAt(f, e)
	if errors.Is(err, ErrLineTooLong) {
		out.Problem = err.Error()
		return out, nil
	} else if err != nil {
		return out, err
	}
	var l line
	if err := json.Unmarshal(text, &l); err != nil {
		out.Problem = fmt.Sprintf("not a record: %v: %v", ErrInvalidJSON, err)
		return out, nil
	}
	out.Record, out.Hash = l.Record, l.Hash
	return out, nil
}

// matcher is a Query against the index.
type matcher struct {
	want         [numFields]int64 // strtab ids; -1: any
	rules        []bool           // by strtab id; nil: any
	since, until int64
	req          uint64
	filtered     bool // a field or time is set: lines that are not records do not match
}

// matcher returns q's matcher; false when a value q asks for is in no record.
func (r *Reader) matcher(q Query) (matcher, bool) {
	m := matcher{since: math.MinInt64, until: math.MaxInt64, req: r.hash(q.RequestID)}
	for i, s := range [numFields]string{q.Event, q.Caller, q.Server, q.Tool, q.Decision, ""} {
		m.want[i] = -1
		if s == "" {
			continue
		}
		id, ok := r.strs.ids[s]
		if !ok {
			return m, false
		}
		m.want[i], m.filtered = int64(id), true
	}
	if q.Rule != "" {
		m.rules = make([]bool, len(r.strs.s))
		for id, s := range r.strs.s {
			m.rules[id] = strings.HasPrefix(s, q.Rule)
		}
	}
	m.setTimes(q.Since, q.Until)
	m.filtered = m.filtered || q.Rule != "" || q.RequestID != "" || !q.Since.IsZero() || !q.Until.IsZero()
	return m, true
}

func (m *matcher) setTimes(since, until time.Time) {
	if !since.IsZero() {
		m.since = since.UnixNano()
	}
	if !until.IsZero() {
		m.until = until.UnixNano()
	}
}

func (m *matcher) match(e *entry) bool {
	if !e.isRecord() {
		return !m.filtered
	}
	for i, w := range m.want {
		if w >= 0 && int64(e.f[i]) != w {
			return false
		}
	}
	return (m.rules == nil || m.rules[e.f[fRule]]) && e.time >= m.since && e.time < m.until &&
		(m.req == 0 || e.req == m.req)
}

// SeqRange returns the seqs of the first and the last verified record whose time is in [since, until) (a zero time
// is unbounded), among the lines read at the last refresh: the range to Export for a console's time filter. Times
// grow along the log except for small steps back between concurrent writers (SinceMargin), so the range may hold a
// few records just outside the times. ok is false when no verified record is in the range.
func (r *Reader) SeqRange(since, until time.Time) (from, to uint64, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := matcher{since: math.MinInt64, until: math.MaxInt64}
	m.setTimes(since, until)
	n := r.verified().Records
	for i := range n {
		if e := &r.ents[i]; e.time >= m.since && e.time < m.until {
			from = cmpOrUint(from, i+1)
			to = i + 1
		}
	}
	return from, to, from != 0
}

func cmpOrUint(a, b uint64) uint64 {
	if a == 0 {
		return b
	}
	return a
}

// Export writes records from to to (seqs, inclusive) of the log, with the proof that ties them to the latest
// checkpoint the log matched (Verified.Checkpoint): Export's format, which VerifyExport and `agops audit
// verify-export` check. It reads the whole log again against that checkpoint; to must not pass its size.
func (r *Reader) Export(w io.Writer, from, to uint64) error {
	r.mu.Lock()
	msg := r.cov.cpMsg
	r.mu.Unlock()
	if msg == nil {
		return fmt.Errorf("exporting %s: no checkpoint signed with the verifier key matches the log", r.path)
	}
	return Export(w, r.path, from, to, msg, r.v)
}
