package audit

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// TestVerifyDetectsEveryEditedByte changes each byte of a valid log, several ways, and wants the change reported at
// its own line. Changing the last newline shows as a torn tail, which Verify reports too.
func TestVerifyDetectsEveryEditedByte(t *testing.T) {
	t.Parallel()
	_, data := newLogFile(t, 5)
	if _, err := Verify(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	lineOf, n := make([]int, len(data)), 1
	for i, c := range data {
		lineOf[i] = n
		if c == '\n' {
			n++
		}
	}
	edited := bytes.Clone(data)
	for i, c := range data {
		for _, repl := range []byte{c ^ 0x01, c ^ 0x20, '0', 'a', '"', '\n', ' '} {
			if repl == c {
				continue
			}
			edited[i] = repl
			_, err := Verify(bytes.NewReader(edited))
			var e *Error
			if !errors.As(err, &e) || e.Line != lineOf[i] {
				t.Fatalf("byte %d (line %d) %q→%q: %v", i, lineOf[i], c, repl, err)
			}
			if errors.Is(err, ErrTornTail) != (i == len(data)-1) {
				t.Fatalf("byte %d %q→%q reported as %v", i, c, repl, err)
			}
		}
		edited[i] = c
	}
}

// TestVerifyDetectsMovedLines: deleted, swapped, duplicated and forged lines are reported at the first wrong line.
func TestVerifyDetectsMovedLines(t *testing.T) {
	t.Parallel()
	_, data := newLogFile(t, 6)
	ls := lines(data)
	pick := func(idx ...int) []byte {
		var out [][]byte
		for _, i := range idx {
			out = append(out, ls[i])
		}
		return join(out)
	}
	// forged replaces line 3 by a line with another RequestID that hashes right on its own.
	forged := rehash(bytes.Replace(ls[2], []byte(`"req-3"`), []byte(`"req-X"`), 1))
	// forgedPrev renumbers line 3 as 2, as if line 2 never was, but its prev still names the deleted line.
	forgedPrev := rehash(bytes.Replace(ls[2], []byte(`"seq":3`), []byte(`"seq":2`), 1))
	for _, tc := range []struct {
		name string
		data []byte
		want error
		line int
	}{
		{"invalid-first-deleted", pick(1, 2, 3, 4, 5), ErrSeqGap, 1},
		{"invalid-middle-deleted", pick(0, 1, 3, 4, 5), ErrSeqGap, 3},
		{"invalid-adjacent-swapped", pick(0, 2, 1, 3, 4, 5), ErrSeqGap, 2},
		{"invalid-distant-swapped", pick(0, 5, 2, 3, 4, 1), ErrSeqGap, 2},
		{"invalid-duplicated", pick(0, 1, 2, 2, 3, 4, 5), ErrOutOfOrder, 4},
		{"invalid-last-duplicated", pick(0, 1, 2, 3, 4, 5, 5), ErrOutOfOrder, 7},
		{"invalid-forged-line", join([][]byte{ls[0], ls[1], forged, ls[3]}), ErrChainBroken, 4},
		{"invalid-forged-prev", join([][]byte{ls[0], forgedPrev}), ErrChainBroken, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Verify(bytes.NewReader(tc.data))
			wantProblem(t, err, tc.want, tc.line)
		})
	}
	// Every single deletion but the last line's, every pair swapped, every line duplicated in place.
	for i := range ls {
		without := join(append(append([][]byte{}, ls[:i]...), ls[i+1:]...))
		if _, err := Verify(bytes.NewReader(without)); (err == nil) != (i == len(ls)-1) {
			t.Errorf("deleting line %d: %v", i+1, err)
		}
		for j := i + 1; j < len(ls); j++ {
			swapped := append([][]byte{}, ls...)
			swapped[i], swapped[j] = swapped[j], swapped[i]
			_, err := Verify(bytes.NewReader(join(swapped)))
			wantProblem(t, err, ErrSeqGap, i+1)
		}
		dup := join(append(append(append([][]byte{}, ls[:i+1]...), ls[i]), ls[i+1:]...))
		_, err := Verify(bytes.NewReader(dup))
		wantProblem(t, err, ErrOutOfOrder, i+2)
	}
}

// TestVerifyCannotSeeCleanTailDeletion documents the chain's limit: lines removed from the end leave a valid, shorter
// chain; only a head kept elsewhere (Summary.Head, the anchor) shows it.
func TestVerifyCannotSeeCleanTailDeletion(t *testing.T) {
	t.Parallel()
	_, data := newLogFile(t, 4)
	full, err := Verify(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	ls := lines(data)
	short, err := Verify(bytes.NewReader(join(ls[:3])))
	if err != nil || short.Records != 3 || short.Head == full.Head {
		t.Fatalf("3 of 4 lines: %d records head %s, %v", short.Records, short.Head, err)
	}
}

func hashOf(t *testing.T, ln []byte) []byte {
	t.Helper()
	i := bytes.LastIndex(ln, []byte(`"hash":"`))
	if i < 0 {
		t.Fatalf("no hash in %s", ln)
	}
	return ln[i+len(`"hash":"`) : len(ln)-3]
}

func TestVerifyReportsProblems(t *testing.T) {
	t.Parallel()
	_, data := newLogFile(t, 2)
	ls := lines(data)
	v2 := rehash(bytes.Replace(ls[0], []byte(`{"v":1,`), []byte(`{"v":2,`), 1))
	hashFirst := []byte(`{"hash":"` + Genesis + `","v":1,"seq":1,"prev":"` + Genesis + `","time":"2026-01-01T00:00:00Z"}` + "\n")
	upper := bytes.Replace(ls[0], hashOf(t, ls[0]), bytes.ToUpper(hashOf(t, ls[0])), 1)
	for _, tc := range []struct {
		name string
		data []byte
		want error // nil: valid
		line int
	}{
		{"valid-empty", nil, nil, 0},
		{"valid-two-lines", data, nil, 0},
		{"invalid-empty-line", append(bytes.Clone(ls[0]), '\n'), ErrInvalidJSON, 2},
		{"invalid-not-json", []byte("not json\n"), ErrInvalidJSON, 1},
		{"invalid-json-array", []byte("[1,2]\n"), ErrInvalidJSON, 1},
		{"invalid-trailing-garbage", append(bytes.TrimSuffix(ls[0], []byte("\n")), " x\n"...), ErrInvalidJSON, 1},
		{"invalid-crlf", append(bytes.TrimSuffix(ls[0], []byte("\n")), "\r\n"...), ErrMalformed, 1},
		{"invalid-version-2", v2, ErrUnknownVersion, 1},
		{"invalid-no-version", []byte(`{"seq":1}` + "\n"), ErrUnknownVersion, 1},
		{"invalid-hash-not-last", hashFirst, ErrMalformed, 1},
		{"invalid-uppercase-hash", upper, ErrMalformed, 1},
		{"invalid-too-long", append(bytes.Repeat([]byte("x"), MaxLineBytes+10), '\n'), ErrLineTooLong, 1},
		{"invalid-torn", append(bytes.Clone(ls[0]), `{"v":1,"seq":2`...), ErrTornTail, 2},
		{"invalid-torn-too-long", bytes.Repeat([]byte("x"), MaxLineBytes+10), ErrTornTail, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sum, err := Verify(bytes.NewReader(tc.data))
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantProblem(t, err, tc.want, tc.line)
			if sum.Records != uint64(tc.line-1) {
				t.Fatalf("summary has %d records before line %d", sum.Records, tc.line)
			}
		})
	}
}

func TestVerifyReadError(t *testing.T) {
	t.Parallel()
	_, data := newLogFile(t, 2)
	r := iotest.TimeoutReader(bytes.NewReader(data)) // fails the second read
	if _, err := Verify(iotest.OneByteReader(r)); !errors.Is(err, iotest.ErrTimeout) {
		t.Fatalf("Verify of a failing reader: %v", err)
	}
}

func TestVerifyFileNamesFileAndLine(t *testing.T) {
	t.Parallel()
	path, data := newLogFile(t, 3)
	writeFile(t, path, bytes.Replace(data, []byte("req-2"), []byte("req-7"), 1))
	_, err := VerifyFile(path)
	if want := path + ":2: seq 2: hash mismatch: the line was edited: stored sha256:"; err == nil ||
		!strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %q, want it to start with %q", err, want)
	}
	if _, err := VerifyFile(filepath.Join(t.TempDir(), "missing.log")); err == nil ||
		!strings.Contains(err.Error(), "missing.log") {
		t.Fatalf("VerifyFile of a missing file: %v", err)
	}
}

func TestSummary(t *testing.T) {
	t.Parallel()
	path, data := newLogFile(t, 5)
	sum, err := VerifyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ls := lines(data)
	want := path + `: 5 records, 2026-11-27T10:00:01Z to 2026-11-27T10:00:05Z
head: seq 5 ` + string(hashOf(t, ls[4])) + `
events: decision=3 result=2
decisions: allow=1 approval=2
root: ` + base64.StdEncoding.EncodeToString(refRoot(ls))
	if got := sum.String(); got != want {
		t.Fatalf("summary\n%s\nwant\n%s", got, want)
	}
	if sum.Bytes != int64(len(data)) {
		t.Fatalf("Bytes %d, want %d", sum.Bytes, len(data))
	}
	sum, _ = Verify(bytes.NewReader(append(bytes.Clone(data), "{"...)))
	if !strings.HasSuffix(sum.String(), "\ntorn tail: 1 bytes after the last newline (a crash mid-write; the next Open removes them)") {
		t.Fatalf("summary with a torn tail:\n%s", sum)
	}
	if empty, err := Verify(strings.NewReader("")); err != nil || empty.String() != "audit log: 0 records\nhead: seq 0 "+Genesis {
		t.Fatalf("empty log: %q, %v", empty, err)
	}
}

// TestSummaryCountsAreBounded: a log with many distinct events keeps at most maxKinds of them, plus "(other)".
func TestSummaryCountsAreBounded(t *testing.T) {
	t.Parallel()
	var buf []byte
	var prev digest
	for i := 1; i <= 100; i++ {
		rec, err := encodeRecord(Record{Time: t0, Event: fmt.Sprintf("e%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		buf, prev = appendLine(buf, uint64(i), prev, rec)
	}
	sum, err := Verify(bytes.NewReader(buf))
	if err != nil || len(sum.Events) != maxKinds+1 || sum.Events["(other)"] != 100-maxKinds {
		t.Fatalf("%d event kinds, %d other, %v", len(sum.Events), sum.Events["(other)"], err)
	}
}
