package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// queryRecord is the i-th record of a query test log: testRecord with five callers and two tools.
func queryRecord(i int) Record {
	r := testRecord(i)
	r.Caller = fmt.Sprintf("team/agent-%d", i%5)
	r.Rule = fmt.Sprintf("agents[%s].grants[%d]", r.Caller, i%4)
	if i%2 == 0 {
		r.Tool = "list_issues"
	}
	return r
}

// newQueryLog writes n query records and returns the log's path and the records; the Log stays open (closed by
// the test's cleanup) when keep is set, and is returned then.
func newQueryLog(t *testing.T, n int, keep bool, opts ...Option) (string, []Record, *Log) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	l := mustOpen(t, path, opts...)
	recs := appendRecords(t, l, 1, n)
	if !keep {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = nil
	}
	return path, recs, l
}

// appendRecords appends query records from to to.
func appendRecords(t *testing.T, l *Log, from, to int) []Record {
	t.Helper()
	var recs []Record
	for i := from; i <= to; i++ {
		r := queryRecord(i)
		if err := l.Append(context.Background(), r); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		recs = append(recs, r)
	}
	return recs
}

func mustReader(t *testing.T, path string, c *checkpointedLog) *Reader {
	t.Helper()
	var r *Reader
	var err error
	if c != nil {
		r, err = OpenReader(path, c.key.Verifier, WithCheckpointFile(c.cpPath))
	} else {
		r, err = OpenReader(path, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustQuery(t *testing.T, r *Reader, q Query) Page {
	t.Helper()
	p, err := r.Query(q)
	if err != nil {
		t.Fatalf("query %+v: %v", q, err)
	}
	return p
}

// linesOf returns the line numbers of a page's entries.
func linesOf(p Page) []uint64 {
	var out []uint64
	for _, e := range p.Entries {
		out = append(out, e.Line)
	}
	return out
}

// TestReaderQueryFilters: each filter selects what a plain loop over the records selects, newest first, and every
// entry carries its record as written.
func TestReaderQueryFilters(t *testing.T) {
	t.Parallel()
	path, recs, _ := newQueryLog(t, 40, false)
	r := mustReader(t, path, nil)
	for _, tc := range []struct {
		name string
		q    Query
		keep func(Record) bool
	}{
		{"valid-all", Query{Limit: MaxLimit}, func(Record) bool { return true }},
		{"valid-caller", Query{Caller: "team/agent-3"}, func(r Record) bool { return r.Caller == "team/agent-3" }},
		{"valid-tool-and-decision", Query{Tool: "list_issues", Decision: "deny"},
			func(r Record) bool { return r.Tool == "list_issues" && r.Decision == "deny" }},
		{"valid-event", Query{Event: "result"}, func(r Record) bool { return r.Event == "result" }},
		{"valid-server", Query{Server: "github"}, func(r Record) bool { return true }},
		{"valid-rule-prefix", Query{Rule: "agents[team/agent-1]"}, func(r Record) bool { return r.Caller == "team/agent-1" }},
		{"valid-rule-whole", Query{Rule: "agents[team/agent-2].grants[3]"},
			func(r Record) bool { return r.Rule == "agents[team/agent-2].grants[3]" }},
		{"valid-request", Query{RequestID: "req-17"}, func(r Record) bool { return r.RequestID == "req-17" }},
		{"valid-time-range", Query{Since: t0.Add(10 * time.Second), Until: t0.Add(20 * time.Second)},
			func(r Record) bool {
				return !r.Time.Before(t0.Add(10*time.Second)) && r.Time.Before(t0.Add(20*time.Second))
			}},
		{"valid-combined", Query{Caller: "team/agent-0", Event: "decision", Since: t0.Add(15 * time.Second)},
			func(r Record) bool {
				return r.Caller == "team/agent-0" && r.Event == "decision" && !r.Time.Before(t0.Add(15*time.Second))
			}},
		{"invalid-unknown-caller", Query{Caller: "nobody"}, func(Record) bool { return false }},
		{"invalid-unknown-request", Query{RequestID: "req-999"}, func(Record) bool { return false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := mustQuery(t, r, tc.q)
			var want []uint64
			for i := len(recs) - 1; i >= 0; i-- {
				if tc.keep(recs[i]) {
					want = append(want, uint64(i+1))
				}
			}
			if got := linesOf(p); !slices.Equal(got, want) || p.Total != len(want) || p.Next != 0 {
				t.Fatalf("lines %v (total %d, next %d), want %v", got, p.Total, p.Next, want)
			}
			for _, e := range p.Entries {
				if !e.Verified || e.Seq != e.Line || !e.Record.Time.Equal(recs[e.Line-1].Time) ||
					e.Record.RequestID != recs[e.Line-1].RequestID || !strings.HasPrefix(e.Hash, "sha256:") {
					t.Fatalf("entry %+v, want record %+v", e, recs[e.Line-1])
				}
			}
		})
	}
}

// TestReaderPagination: following Next visits every matching line once, newest first, with the same total on every
// page.
func TestReaderPagination(t *testing.T) {
	t.Parallel()
	path, recs, _ := newQueryLog(t, 53, false)
	r := mustReader(t, path, nil)
	for _, tc := range []struct {
		name  string
		q     Query
		total int
	}{
		{"valid-unfiltered-by-10", Query{Limit: 10}, 53},
		{"valid-caller-by-3", Query{Caller: "team/agent-2", Limit: 3}, 11},
		{"valid-one-page", Query{Caller: "team/agent-2"}, 11},
		{"valid-by-1", Query{Event: "result", Limit: 1}, 18},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []uint64
			q := tc.q
			for pages := 0; ; pages++ {
				p := mustQuery(t, r, q)
				if p.Total != tc.total || len(p.Entries) > q.Limit && q.Limit > 0 || pages > len(recs) {
					t.Fatalf("page %d: %d entries of %d, want a total of %d", pages, len(p.Entries), p.Total, tc.total)
				}
				got = append(got, linesOf(p)...)
				if p.Next == 0 {
					break
				}
				q.Before = p.Next
			}
			if len(got) != tc.total || !slices.IsSortedFunc(got, func(a, b uint64) int { return int(b) - int(a) }) {
				t.Fatalf("visited %v, want %d lines newest first", got, tc.total)
			}
		})
	}
}

// TestReaderFollowsAppends: lines appended between queries are read, verified and found, without reading the old
// ones again (the index only grows).
func TestReaderFollowsAppends(t *testing.T) {
	t.Parallel()
	path, _, l := newQueryLog(t, 10, true)
	r := mustReader(t, path, nil)
	for _, n := range []int{10, 11, 25, 25, 100} {
		if got := r.Verified().Lines; int(got) < n {
			appendRecords(t, l, int(got)+1, n)
		}
		p := mustQuery(t, r, Query{Limit: 1})
		v := p.Verified
		if p.Total != n || v.Lines != uint64(n) || v.Records != uint64(n) || v.Broken != nil || p.Entries[0].Line != uint64(n) {
			t.Fatalf("after %d records: total %d, %+v, newest %+v", n, p.Total, v, p.Entries[0])
		}
		if seq, head := l.Head(); v.Head != head || seq != v.Records {
			t.Fatalf("head %s, the Log's %d %s", v.Head, seq, head)
		}
	}
	// A batch in mid-write (bytes after the last newline) is not read until it is complete.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(`{"v":1,"seq":101,`); err != nil {
		t.Fatal(err)
	}
	if p := mustQuery(t, r, Query{}); p.Total != 100 || p.Verified.Broken != nil {
		t.Fatalf("with a torn tail: total %d, %+v", p.Total, p.Verified)
	}
}

// TestReaderFindsEveryEditedByte: whichever byte of a line is changed before the Reader opens the log, it reports
// the problem VerifyFile reports, at the same line, and still lists every line, those after it unverified.
func TestReaderFindsEveryEditedByte(t *testing.T) {
	t.Parallel()
	_, data := newLogFile(t, 6)
	ls := lines(data)
	start := len(join(ls[:3]))
	for i := start; i < start+len(ls[3])-1; i++ { // every byte of line 4 but its newline
		edited := bytes.Clone(data)
		edited[i] ^= 0x01
		p := filepath.Join(t.TempDir(), "audit.log")
		writeFile(t, p, edited)
		_, want := VerifyFile(p)
		var we *Error
		if !errors.As(want, &we) {
			t.Fatalf("byte %d: VerifyFile: %v", i, want)
		}
		r := mustReader(t, p, nil)
		pg := mustQuery(t, r, Query{})
		b := pg.Verified.Broken
		if b == nil || !errors.Is(b, we.Err) || b.Line != we.Line || pg.Verified.Records != uint64(we.Line-1) {
			t.Fatalf("byte %d: broken %v, records %d; VerifyFile: %v", i, b, pg.Verified.Records, want)
		}
		if pg.Total != 6 || pg.Entries[0].Verified || !pg.Entries[len(pg.Entries)-1].Verified {
			t.Fatalf("byte %d: %d lines listed, newest verified %v", i, pg.Total, pg.Entries[0].Verified)
		}
	}
}

// TestReaderBrokenLines: lines deleted, duplicated or not JSON are reported at the right line and still listed.
func TestReaderBrokenLines(t *testing.T) {
	t.Parallel()
	_, data := newLogFile(t, 8)
	ls := lines(data)
	for _, tc := range []struct {
		name    string
		data    []byte
		want    error
		line    int
		total   int
		problem bool // a line that is not a record is listed
	}{
		{"invalid-line-deleted", join(slices.Delete(slices.Clone(ls), 4, 5)), ErrSeqGap, 5, 7, false},
		{"invalid-line-duplicated", join(slices.Insert(slices.Clone(ls), 3, ls[2])), ErrOutOfOrder, 4, 9, false},
		{"invalid-not-json", join(slices.Insert(slices.Clone(ls), 6, []byte("not json\n"))), ErrInvalidJSON, 7, 9, true},
		{"invalid-too-long", join(append(slices.Clone(ls), append(bytes.Repeat([]byte("x"), MaxLineBytes+1), '\n'))),
			ErrLineTooLong, 9, 9, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "audit.log")
			writeFile(t, path, tc.data)
			r := mustReader(t, path, nil)
			p := mustQuery(t, r, Query{})
			if b := p.Verified.Broken; b == nil || !errors.Is(b, tc.want) || b.Line != tc.line || p.Total != tc.total {
				t.Fatalf("broken %v, %d lines; want %q at line %d, %d lines", b, p.Total, tc.want, tc.line, tc.total)
			}
			problem := slices.ContainsFunc(p.Entries, func(e Entry) bool { return e.Problem != "" })
			if problem != tc.problem {
				t.Fatalf("entries %+v: a line that is not a record listed: %v, want %v", p.Entries, problem, tc.problem)
			}
			if f := mustQuery(t, r, Query{Event: "decision"}); slices.ContainsFunc(f.Entries, func(e Entry) bool { return e.Problem != "" }) {
				t.Fatal("a filtered query listed a line that is not a record")
			}
		})
	}
}

// TestReaderNoticesRewrite: a log changed after the Reader read it, other than by appending, is read and verified
// again at the next query.
func TestReaderNoticesRewrite(t *testing.T) {
	t.Parallel()
	_, data := newLogFile(t, 12)
	ls := lines(data)
	edit := func(i int) []byte { // line i+1 edited in place: same length
		out := slices.Clone(ls)
		out[i] = bytes.Replace(ls[i], []byte("create_issue"), []byte("create_issuf"), 1)
		return join(out)
	}
	for _, tc := range []struct {
		name    string
		rewrite func(t *testing.T, path string)
		want    error
		line    int
	}{
		{"invalid-last-line-edited", func(t *testing.T, p string) { writeFile(t, p, edit(11)) }, ErrHashMismatch, 12},
		{"invalid-middle-line-edited", func(t *testing.T, p string) { writeFile(t, p, edit(4)) }, ErrHashMismatch, 5},
		{"invalid-cut-and-appended", func(t *testing.T, p string) {
			writeFile(t, p, join(append(slices.Clone(ls[:5]), ls[6:]...)))
		}, ErrSeqGap, 6},
		{"invalid-replaced-by-rename", func(t *testing.T, p string) {
			tmp := p + ".new"
			writeFile(t, tmp, edit(2))
			if err := os.Rename(tmp, p); err != nil {
				t.Fatal(err)
			}
		}, ErrHashMismatch, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "audit.log")
			writeFile(t, path, data)
			r := mustReader(t, path, nil)
			if v := mustQuery(t, r, Query{}).Verified; v.Broken != nil || v.Records != 12 {
				t.Fatalf("before: %+v", v)
			}
			tc.rewrite(t, path)
			p := mustQuery(t, r, Query{Limit: 1})
			if b := p.Verified.Broken; b == nil || !errors.Is(b, tc.want) || b.Line != tc.line {
				t.Fatalf("after the rewrite: broken %v, want %q at line %d", b, tc.want, tc.line)
			}
		})
	}
}

// TestReaderCheckpoint: the Reader reports the latest checkpoint the log matches, follows new ones as the log
// grows, and shows as broken a log that no longer matches its checkpoint, whatever hashes were recomputed.
func TestReaderCheckpoint(t *testing.T) {
	t.Parallel()
	c := newCheckpointedLog(t, 30)
	ls := lines(c.data)
	middle := bytes.Replace(ls[14], []byte(`"decision":"`), []byte(`"decision":"x`), 1)
	edited := append(append(append([][]byte{}, ls[:14]...), middle), ls[15:]...)
	other := testKey(t, "other")
	for _, tc := range []struct {
		name      string
		data      []byte
		other     bool // open with another key
		want      error
		records   uint64
		covered   uint64 // 0: no checkpoint matched
		cpProblem error
	}{
		{"valid", c.data, false, nil, 30, 30, nil},
		{"valid-forged-append-uncovered", append(bytes.Clone(c.data), forgeNext(ls)...), false, nil, 31, 30, nil},
		{"invalid-another-key", c.data, true, nil, 30, 0, ErrCheckpointSignature},
		{"invalid-truncated", join(ls[:27]), false, ErrShorterThanCheckpoint, 27, 0, nil},
		{"invalid-middle-rewritten", join(rechain(edited, 14)), false, ErrRootMismatch, 0, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "audit.log")
			writeFile(t, path, tc.data)
			v := c.key.Verifier
			if tc.other {
				v = other.Verifier
			}
			r, err := OpenReader(path, v, WithCheckpointFile(c.cpPath))
			if err != nil {
				t.Fatal(err)
			}
			got := r.Verified()
			if !errors.Is(got.CheckpointErr, tc.cpProblem) || (tc.cpProblem == nil) != (got.CheckpointErr == nil) {
				t.Fatalf("checkpoint problem %v, want %v", got.CheckpointErr, tc.cpProblem)
			}
			if tc.want == nil && got.Broken != nil || tc.want != nil && !errors.Is(got.Broken, tc.want) || got.Records != tc.records {
				t.Fatalf("broken %v, records %d; want %v, %d", got.Broken, got.Records, tc.want, tc.records)
			}
			if covered := got.Checkpoint != nil; covered != (tc.covered > 0) || covered && (got.Checkpoint.Size != tc.covered ||
				got.Uncovered != tc.records-tc.covered) {
				t.Fatalf("checkpoint %+v, uncovered %d; want size %d", got.Checkpoint, got.Uncovered, tc.covered)
			}
		})
	}
}

// TestReaderFollowsCheckpoints: on a live log the Reader checks each newer checkpoint from the leaves it kept, and
// notices a rewrite with every hash recomputed after it read the lines.
func TestReaderFollowsCheckpoints(t *testing.T) {
	t.Parallel()
	key := testKey(t, "live")
	path, cpPath := filepath.Join(t.TempDir(), "audit.log"), filepath.Join(t.TempDir(), "audit.checkpoint")
	l := mustOpen(t, path, WithCheckpoints(Checkpoints{Path: cpPath, Signer: key.Signer, Verifier: key.Verifier}))
	waitCheckpoint := func(n uint64) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if cp, _ := l.LastCheckpoint(); cp.Size == n {
				return
			} else if time.Now().After(deadline) {
				t.Fatalf("no checkpoint of %d records, the last is of %d", n, cp.Size)
			}
		}
	}
	appendRecords(t, l, 1, 5)
	waitCheckpoint(5)
	r, err := OpenReader(path, key.Verifier, WithCheckpointFile(cpPath))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{12, 20} {
		appendRecords(t, l, int(r.Verified().Lines)+1, n)
		waitCheckpoint(uint64(n))
		v := mustQuery(t, r, Query{}).Verified
		if v.Broken != nil || v.Checkpoint == nil || v.Checkpoint.Size != uint64(n) || v.Records != uint64(n) {
			t.Fatalf("after %d records: %+v", n, v)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	ls := lines(readFile(t, path))
	ls[2] = bytes.Replace(ls[2], []byte("req-3"), []byte("req-9"), 1)
	writeFile(t, path, join(rechain(ls, 2)))
	v := mustQuery(t, r, Query{}).Verified
	if !errors.Is(v.Broken, ErrRootMismatch) || v.Records != 0 || v.Checkpoint != nil {
		t.Fatalf("after a rewrite with recomputed hashes: %+v", v)
	}
}

// TestReaderRequest: a call's records come together in file order, with the approval records that share its
// ApprovalID.
func TestReaderRequest(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	l := mustOpen(t, path)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	for i, rec := range []Record{
		{Time: at(1), Event: "decision", RequestID: "r1", Decision: "approval", Rule: "approval:pending", ApprovalID: "ap1"},
		{Time: at(2), Event: "decision", RequestID: "r2", Decision: "allow"},
		{Time: at(3), Event: "approval", ApprovalID: "ap1", Decision: "approved"},
		{Time: at(4), Event: "decision", RequestID: "r1", Decision: "allow", ApprovalID: "ap1"},
		{Time: at(5), Event: "result", RequestID: "r2", Status: "ok"},
		{Time: at(6), Event: "result", RequestID: "r1", Status: "ok"},
		{Time: at(7), Event: "approval", ApprovalID: "ap2", Decision: "expired"},
	} {
		if err := l.Append(context.Background(), rec); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	r := mustReader(t, path, nil)
	for _, tc := range []struct {
		id   string
		want []uint64
	}{
		{"r1", []uint64{1, 3, 4, 6}},
		{"r2", []uint64{2, 5}},
		{"r3", nil},
		{"", nil},
	} {
		p, err := r.Request(tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if got := linesOf(p); !slices.Equal(got, tc.want) || p.Total != len(tc.want) {
			t.Fatalf("request %q: lines %v, want %v", tc.id, got, tc.want)
		}
	}
}

// TestReaderExport: the seq range of a time filter exports into a file that VerifyExport accepts, holding exactly
// those records.
func TestReaderExport(t *testing.T) {
	t.Parallel()
	c := newCheckpointedLog(t, 20)
	r := mustReader(t, c.path, &c)
	for _, tc := range []struct {
		name         string
		since, until time.Time
		from, to     uint64
		ok           bool
	}{
		{"valid-middle", t0.Add(5 * time.Second), t0.Add(10 * time.Second), 5, 9, true},
		{"valid-from-start", time.Time{}, t0.Add(3 * time.Second), 1, 2, true},
		{"valid-to-end", t0.Add(18 * time.Second), time.Time{}, 18, 20, true},
		{"invalid-empty", t0.Add(time.Hour), time.Time{}, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			from, to, ok := r.SeqRange(tc.since, tc.until)
			if from != tc.from || to != tc.to || ok != tc.ok {
				t.Fatalf("SeqRange: %d to %d (%v), want %d to %d", from, to, ok, tc.from, tc.to)
			}
			if !ok {
				return
			}
			var buf bytes.Buffer
			if err := r.Export(&buf, from, to); err != nil {
				t.Fatal(err)
			}
			got, err := VerifyExport(bytes.NewReader(buf.Bytes()), c.key.Verifier)
			if err != nil || got.From != from || got.To != to || got.Summary.Records != to {
				t.Fatalf("VerifyExport: %+v, %v", got, err)
			}
		})
	}
	if err := mustReader(t, c.path, nil).Export(&bytes.Buffer{}, 1, 2); err == nil {
		t.Fatal("exported without a checkpoint")
	}
}
