package audit

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// collect runs RecordsSince and returns the request IDs it yields.
func collect(t *testing.T, path string, since time.Time) ([]string, error) {
	t.Helper()
	seq, err := RecordsSince(path, since)
	if err != nil {
		return nil, err
	}
	var ids []string
	for r, err := range seq {
		if err != nil {
			return ids, err
		}
		ids = append(ids, r.RequestID)
	}
	return ids, nil
}

// timedLog writes records whose times are the given offsets from t0 (minutes), in that order.
func timedLog(t *testing.T, minutes []int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	l := mustOpen(t, path)
	for i, m := range minutes {
		r := testRecord(i + 1)
		r.Time = t0.Add(time.Duration(m) * time.Minute)
		if err := l.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRecordsSince compares RecordsSince with a filter over every record, on logs with records far apart (so the
// search must skip lines) and with small steps back in time between neighbours.
func TestRecordsSince(t *testing.T) {
	t.Parallel()
	var spread []int
	for i := range 500 {
		spread = append(spread, i*30) // a record every 30 minutes
	}
	skewed := []int{0, 60, 59, 120, 121, 119, 180, 240, 238, 300}
	for _, tc := range []struct {
		name    string
		minutes []int
		since   int
	}{
		{"before all", spread, -10},
		{"after all", spread, 500 * 30},
		{"exactly at a record", spread, 4500},
		{"between records", spread, 4501},
		{"at the last", spread, 499 * 30},
		{"skewed neighbours", skewed, 120},
		{"skewed, just before a step back", skewed, 239},
		{"one record", []int{5}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := timedLog(t, tc.minutes)
			var want []string
			for i, m := range tc.minutes {
				if m >= tc.since {
					want = append(want, testRecord(i+1).RequestID)
				}
			}
			got, err := collect(t, path, t0.Add(time.Duration(tc.since)*time.Minute))
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("got %v, %v\nwant %v", got, err, want)
			}
		})
	}
}

// TestRecordsSinceEdges: a missing or empty file has no records; a torn tail is not read; a line that is not a
// record ends the sequence with an error.
func TestRecordsSinceEdges(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if got, err := collect(t, filepath.Join(dir, "missing.log"), t0); err != nil || len(got) != 0 {
		t.Fatalf("missing file: %v, %v", got, err)
	}
	empty := filepath.Join(dir, "empty.log")
	writeFile(t, empty, nil)
	if got, err := collect(t, empty, t0); err != nil || len(got) != 0 {
		t.Fatalf("empty file: %v, %v", got, err)
	}
	path, data := newLogFile(t, 4)
	writeFile(t, path, append(data, `{"v":1,"seq":5,"time":"2030-01-01T00:00:00Z"`...))
	if got, err := collect(t, path, t0); err != nil || len(got) != 4 {
		t.Fatalf("torn tail: %v, %v", got, err)
	}
	ls := lines(data)
	writeFile(t, path, join([][]byte{ls[0], ls[1], []byte("not json\n"), ls[3]}))
	if _, err := collect(t, path, t0.Add(3*time.Second)); !errors.Is(err, ErrInvalidJSON) {
		t.Fatalf("a line that is not a record: %v", err)
	}
}
