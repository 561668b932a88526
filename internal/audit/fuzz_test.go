package audit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fuzzSeeds are logs to start from: valid, torn, edited, reordered.
func fuzzSeeds() [][]byte {
	var valid []byte
	var prev digest
	for i := 1; i <= 3; i++ {
		rec, _ := encodeRecord(testRecord(i))
		valid, prev = appendLine(valid, uint64(i), prev, rec)
	}
	ls := lines(valid)
	return [][]byte{
		nil,
		valid,
		valid[:len(valid)-7],
		bytes.Replace(valid, []byte("req-2"), []byte("req-3"), 1),
		join([][]byte{ls[0], ls[2], ls[1]}),
		[]byte("{}\n"),
		[]byte(`{"v":1,"seq":1,"prev":"` + Genesis + `","hash":"` + Genesis + `"}` + "\n"),
	}
}

// FuzzVerify: no input makes Verify panic, and what it reports agrees with the input's lines.
func FuzzVerify(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sum, err := Verify(bytes.NewReader(data))
		_ = sum.String()
		complete := int64(bytes.LastIndexByte(data, '\n') + 1)
		switch {
		case err == nil:
			if sum.Bytes != int64(len(data)) || sum.Records != uint64(bytes.Count(data, []byte("\n"))) || sum.TornBytes != 0 {
				t.Fatalf("valid log of %d bytes and %d lines: summary %+v", len(data), bytes.Count(data, []byte("\n")), sum)
			}
		case errors.Is(err, ErrTornTail):
			if sum.Bytes != complete || sum.TornBytes != int64(len(data))-complete {
				t.Fatalf("torn tail: summary %+v for %d bytes, %d complete", sum, len(data), complete)
			}
		default:
			var e *Error
			if !errors.As(err, &e) || e.Line < 1 || sum.Bytes >= complete {
				t.Fatalf("problem %v with summary %+v", err, sum)
			}
		}
	})
}

// FuzzOpen: Open either refuses a file and leaves it alone, or continues it into a log that verifies.
func FuzzOpen(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "audit.log")
		writeFile(t, path, data)
		l, err := Open(path)
		if err != nil {
			if got := readFile(t, path); !bytes.Equal(got, data) {
				t.Fatalf("a refused Open changed the file: %v", err)
			}
			return
		}
		seq, _ := l.Head()
		if err := l.Append(context.Background(), testRecord(1)); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if sum, err := VerifyFile(path); err != nil || sum.Records != seq+1 {
			t.Fatalf("after Open and Append: %d records, %v; want %d", sum.Records, err, seq+1)
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	})
}
