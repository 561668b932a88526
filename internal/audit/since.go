package audit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"time"
)

// SinceMargin is how far before `since` RecordsSince starts its search. Records are appended in the order their
// Appends were accepted, and each carries the time its writer took, so times grow along the file except for small
// steps back between concurrent writers; a record more than SinceMargin older than one written before it (a clock
// stepped back further) can be missed.
const SinceMargin = 10 * time.Minute

// RecordsSince streams the records of the log at path whose time is at or after since, in file order, without
// reading the lines before them: it finds the first line at or after since - SinceMargin by a binary search over
// byte offsets (O(log n) lines read), then reads on to the last complete line the file had when it was called. A
// missing file has no records. The sequence yields at most one error (a line that is not a record, a read error),
// and stops after it. It does not verify the chain; Open does that.
func RecordsSince(path string, since time.Time) (iter.Seq2[Record, error], error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return func(func(Record, error) bool) {}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading audit records: %w", err)
	}
	end, err := completeEnd(f)
	var start int64
	if err == nil {
		start, err = firstAtOrAfter(f, end, since.Add(-SinceMargin))
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading audit records of %s: %w", path, err)
	}
	return func(yield func(Record, error) bool) {
		defer f.Close()
		streamRecords(f, path, start, end, since, yield)
	}, nil
}

// completeEnd returns the offset after the file's last newline.
func completeEnd(f *os.File) (int64, error) {
	size, err := fileSize(f)
	if err != nil || size == 0 {
		return 0, err
	}
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		from := max(0, end-int64(len(buf)))
		n, err := f.ReadAt(buf[:end-from], from)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		for i := n - 1; i >= 0; i-- {
			if buf[i] == '\n' {
				return from + int64(i) + 1, nil
			}
		}
		if end-from > MaxLineBytes+1 || from == 0 {
			break
		}
		end = from
	}
	return 0, nil
}

// firstAtOrAfter returns the offset of the first line (of those before end) whose time is at or after t, or end.
func firstAtOrAfter(f io.ReaderAt, end int64, t time.Time) (int64, error) {
	return searchLines(f, end, func(text []byte) (bool, error) {
		var rec struct {
			Time time.Time `json:"time"`
		}
		err := json.Unmarshal(text, &rec)
		return !rec.Time.Before(t), err
	})
}

// searchLines returns the offset of the first line before end for which atOrAfter is true, or end, by binary search
// over byte offsets: atOrAfter must be false, then true, along the file. It reads O(log end) lines.
func searchLines(f io.ReaderAt, end int64, atOrAfter func(line []byte) (bool, error)) (int64, error) {
	lo, hi := int64(0), end // the answer's line starts in [lo, hi] or is end
	for lo < hi {
		mid := lo + (hi-lo)/2
		start, text, err := lineAfter(f, mid, end)
		if err != nil {
			return 0, err
		}
		ok := true
		if start < end {
			if ok, err = atOrAfter(text); err != nil {
				return 0, fmt.Errorf("the line at byte %d: %w: %v", start, ErrInvalidJSON, err)
			}
		}
		if ok {
			hi = mid
		} else {
			lo = start + 1
		}
	}
	start, _, err := lineAfter(f, lo, end)
	return start, err
}

// lineAfter finds the first line that starts at or after off (and before end) and returns its start and text;
// start is end when there is none.
func lineAfter(f io.ReaderAt, off, end int64) (int64, []byte, error) {
	start := off
	r := bufio.NewReaderSize(io.NewSectionReader(f, max(off-1, 0), end-max(off-1, 0)), 4096)
	if off > 0 {
		skipped, err := r.ReadSlice('\n')
		for errors.Is(err, bufio.ErrBufferFull) {
			start += int64(len(skipped))
			skipped, err = r.ReadSlice('\n')
		}
		if err != nil {
			return end, nil, nil
		}
		start += int64(len(skipped)) - 1
	}
	if start >= end {
		return end, nil, nil
	}
	ln, err := newLineReader(r).next()
	if err != nil || !ln.terminated || ln.tooLong {
		return 0, nil, fmt.Errorf("reading the line at byte %d: not a complete line of at most %d bytes", start, MaxLineBytes)
	}
	return start, ln.text, nil
}

// streamRecords yields the records of the lines in [start, end) whose time is at or after since.
func streamRecords(f *os.File, path string, start, end int64, since time.Time, yield func(Record, error) bool) {
	lr := newLineReader(io.NewSectionReader(f, start, end-start))
	for off := start; ; {
		ln, err := lr.next()
		if ln.size == 0 {
			if err != nil && !errors.Is(err, io.EOF) {
				yield(Record{}, fmt.Errorf("reading %s at byte %d: %w", path, off, err))
			}
			return
		}
		var l line
		if ln.tooLong || json.Unmarshal(ln.text, &l) != nil {
			yield(Record{}, fmt.Errorf("%s: the line at byte %d: %w", path, off, ErrInvalidJSON))
			return
		}
		off += ln.size
		if !l.Time.Before(since) && !yield(l.Record, nil) {
			return
		}
	}
}
