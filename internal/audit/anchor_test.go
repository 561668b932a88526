package audit

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestAnchor(t *testing.T) {
	t.Parallel()
	path, data := newLogFile(t, 5, WithAnchor(true))
	ls := lines(data)
	head := string(hashOf(t, ls[4]))
	anchor, err := readAnchor(AnchorPath(path))
	if err != nil || anchor == nil || *anchor != (Anchor{Seq: 5, Hash: head}) {
		t.Fatalf("anchor %+v, %v; want seq 5 %s", anchor, err, head)
	}
	if fi, err := os.Stat(AnchorPath(path)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("anchor file: %v", err)
	}
	sum, err := VerifyFile(path)
	if err != nil || sum.Anchor == nil || !strings.Contains(sum.String(), "anchor: seq 5 "+head) {
		t.Fatalf("VerifyFile: %v\n%s", err, sum)
	}

	// Removing the last line cleanly goes unnoticed by the chain, not by the anchor; Open refuses too.
	writeFile(t, path, join(ls[:4]))
	if _, err := Verify(strings.NewReader(string(join(ls[:4])))); err != nil {
		t.Fatalf("the chain alone: %v", err)
	}
	_, err = VerifyFile(path)
	wantProblem(t, err, ErrTruncated, 0)
	if !strings.Contains(err.Error(), "ends at seq 4") {
		t.Fatalf("error %q does not say where the log ends", err)
	}
	if _, err := Open(path); !errors.Is(err, ErrTruncated) {
		t.Fatalf("Open of a truncated log: %v", err)
	}
	// A torn tail after the anchored line is fine; the anchored line being torn is truncation.
	writeFile(t, path, append(join(ls[:4]), ls[4][:30]...))
	if _, err := VerifyFile(path); !errors.Is(err, ErrTruncated) {
		t.Fatalf("anchored line torn: %v", err)
	}
	writeFile(t, path, append(join(ls), `{"v":1`...))
	if _, err := VerifyFile(path); !errors.Is(err, ErrTornTail) {
		t.Fatalf("torn tail after the anchored line: %v", err)
	}
	// Another log under the same name does not match the anchor.
	var other []byte
	var prev digest
	for i := 1; i <= 6; i++ {
		rec, _ := encodeRecord(Record{Time: t0, Event: "decision", RequestID: "other"})
		other, prev = appendLine(other, uint64(i), prev, rec)
	}
	writeFile(t, path, other)
	_, err = VerifyFile(path)
	wantProblem(t, err, ErrAnchorMismatch, 5)
	if _, err := Open(path); !errors.Is(err, ErrAnchorMismatch) {
		t.Fatalf("Open of a log that does not match its anchor: %v", err)
	}
}

// TestAnchorFollowsAppends: a Log without WithAnchor leaves an existing anchor behind, which stays valid as the log
// grows; with it, each group commit moves the anchor.
func TestAnchorFollowsAppends(t *testing.T) {
	t.Parallel()
	path, _ := newLogFile(t, 2, WithAnchor(true))
	l := mustOpen(t, path) // no anchor updates: the anchor stays at 2
	if err := l.Append(context.Background(), testRecord(3)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if a, _ := readAnchor(AnchorPath(path)); a == nil || a.Seq != 2 {
		t.Fatalf("anchor %+v, want seq 2", a)
	}
	if _, err := VerifyFile(path); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, path, WithAnchor(true))
	if err := l.Append(context.Background(), testRecord(4)); err != nil {
		t.Fatal(err)
	}
	if a, _ := readAnchor(AnchorPath(path)); a == nil || a.Seq != 4 {
		t.Fatalf("anchor %+v, want seq 4", a)
	}
}

func TestInvalidAnchor(t *testing.T) {
	t.Parallel()
	for name, content := range map[string]string{
		"invalid-json":    "{",
		"invalid-version": `{"v":2,"seq":1,"hash":"` + Genesis + `"}`,
		"invalid-seq":     `{"v":1,"seq":0,"hash":"` + Genesis + `"}`,
		"invalid-hash":    `{"v":1,"seq":1,"hash":"sha256:00"}`,
		"invalid-field":   `{"v":1,"seq":1,"hash":"` + Genesis + `","x":1}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path, _ := newLogFile(t, 1)
			writeFile(t, AnchorPath(path), []byte(content))
			if _, err := VerifyFile(path); err == nil || !strings.Contains(err.Error(), AnchorPath(path)) {
				t.Fatalf("VerifyFile: %v, want an error naming the anchor", err)
			}
			if _, err := Open(path); err == nil {
				t.Fatal("Open accepted an invalid anchor")
			}
		})
	}
}
